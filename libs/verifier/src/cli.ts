/**
 * `npm run verify`: waits until the suite is quiet, reads it through its APIs, and prints each of
 * the seven invariants of tailspin.md with pass/fail and counts. Exits 1 if any fails.
 */
import { Command, Option } from 'commander';
import { checkInvariants, formatResults } from './invariants.js';
import { waitUntilQuiet } from './quiet.js';
import { defaultUrls } from './suite-snapshot.js';

const defaults = defaultUrls();
const program = new Command('verify')
  .description('check the TailSpin invariants against a running suite')
  .addOption(new Option('--ingestion <url>').env('INGESTION_URL').default(defaults.ingestion))
  .addOption(new Option('--workflow <url>').env('WORKFLOW_URL').default(defaults.workflow))
  .addOption(new Option('--package <url>').env('PACKAGE_URL').default(defaults.package))
  .addOption(new Option('--drone-scheduler <url>').env('DRONE_SCHEDULER_URL').default(defaults['drone-scheduler']))
  .addOption(new Option('--delivery <url>').env('DELIVERY_URL').default(defaults.delivery))
  .addOption(new Option('--operator-key <key>', 'an operator API key (the lists and /rsm/* need one)').env('TAILSPIN_OPERATOR_KEY'))
  .addOption(new Option('--quiet-timeout <ms>', 'how long to wait for the suite to be quiet').default('120000'))
  .addOption(new Option('--json', 'print the results as JSON'));
program.parse();
const o = program.opts<{ ingestion: string; workflow: string; package: string; droneScheduler: string; delivery: string; operatorKey?: string; quietTimeout: string; json?: boolean }>();

const urls = { ingestion: o.ingestion, workflow: o.workflow, package: o.package, 'drone-scheduler': o.droneScheduler, delivery: o.delivery };
const { snapshot, quiet } = await waitUntilQuiet(urls, Number(o.quietTimeout), { operatorKey: o.operatorKey });
if (!quiet) console.error(`the suite was not quiet after ${o.quietTimeout} ms; verifying what is there`);
const results = checkInvariants(snapshot);
console.log(o.json === true ? JSON.stringify(results, null, 2) : formatResults(results));
// A suite that never got quiet fails too: something is stuck, even if every invariant holds so far.
process.exitCode = quiet && results.every((r) => r.ok) ? 0 : 1;
