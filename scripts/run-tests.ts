/**
 * Runs every compiled test file (`dist/**\/test/**\/*.spec.js`) with Node's test runner, one file at
 * a time (crash tests restart Postgres and flush Redis, so files must not overlap), streams the
 * report, and ends with the plain count line CI reads: `N passed, N failed`.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const dist = join(root, 'dist');

function findSpecs(dir: string, inTest: boolean, out: string[]): string[] {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findSpecs(path, inTest || entry === 'test', out);
    else if (inTest && entry.endsWith('.spec.js')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const specs = findSpecs(dist, false, []).filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)));
// Fast files first: a broken unit test should not wait behind the crash tests.
const weight = (file: string) => (file.includes('.unit.') ? 0 : file.includes('crash') ? 2 : 1);
specs.sort((a, b) => weight(a) - weight(b));
if (specs.length === 0) {
  console.error('no compiled test files found under dist/: run `npm run build` first');
  process.exit(1);
}
console.log(`running ${specs.length} test files:\n${specs.map((s) => `  ${relative(root, s)}`).join('\n')}`);

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...specs], { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0;
let failed = 0;
/** Tests cancelled because a hook failed (a suite that could not start): failures too, and counted as such. */
let cancelled = 0;
let buffer = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  buffer += chunk.toString();
  const lines = buffer.split('\n');
  buffer = lines.pop() ?? '';
  for (const line of lines) {
    const pass = /^# pass (\d+)$/.exec(line);
    const fail = /^# fail (\d+)$/.exec(line);
    const cancel = /^# cancelled (\d+)$/.exec(line);
    if (pass) passed = Number(pass[1]);
    if (fail) failed = Number(fail[1]);
    if (cancel) cancelled = Number(cancel[1]);
  }
});
child.on('exit', (code) => {
  console.log(`${passed} passed, ${failed + cancelled} failed${cancelled > 0 ? ` (${cancelled} cancelled by a failed hook)` : ''}`);
  process.exit(code === 0 && failed + cancelled === 0 && passed > 0 ? 0 : 1);
});
