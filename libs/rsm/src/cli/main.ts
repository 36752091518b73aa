#!/usr/bin/env node
/**
 * The `rsm` command line (package.json `bin`): operates one service's Reliable State Machines
 * through its admin API. `rsm --help` lists the commands; the README has an example session.
 */
import { createInterface } from 'node:readline/promises';
import { cliEnvironment } from './config.js';
import { runCli } from './program.js';

/** A yes/no question on the terminal; anything but y or yes is no. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^(y|yes)$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

// Output piped into a reader that stopped (`rsm machines --json | head`): the rest has nowhere to
// go, and that is no error to report with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), cliEnvironment(), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  ...(process.stdin.isTTY ? { confirm } : {}),
});
