/**
 * `npm run chaos`: brings the suite up (or uses a running one), drives deliveries at a constant
 * rate, kills pods on a schedule, waits until the suite is quiet, checks the seven invariants, and
 * writes a report (report.json; report.html charts deliveries per second and end-to-end latency,
 * the disruptions marked).
 * A no-chaos run of the same length and rate comes first, for the chaos / no-chaos ratio.
 * Exits 1 if any invariant fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command, Option } from 'commander';
import { SERVICES } from '#contracts';
import { runChaos, type ChaosRun, type KillOrder } from './chaos-experiment.js';
import { loadOrCreateCredentials } from '../../../scripts/suite/credentials.js';
import { inheritedEnv } from './config.js';
import { composeKiller, flushRedis, kubernetesKiller, localKiller, restartPostgres, type PodKiller } from './pod-killer.js';
import { writeReport } from './report.js';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

const program = new Command('chaos')
  .addOption(new Option('--backend <backend>', 'what kills pods').choices(['local', 'compose', 'k8s']).default('local'))
  .addOption(new Option('--rate <n>', 'deliveries per second').default('10'))
  .addOption(new Option('--duration <s>', 'seconds of load per run').default('60'))
  .addOption(new Option('--kill-every <s>', 'seconds between kills').default('10'))
  .addOption(new Option('--apps <list>', 'apps to kill, comma separated').default(SERVICES.join(',')))
  .addOption(new Option('--kill-order <order>', 'random: draw each kill from --apps; in-turn: take them in the order given').choices(['random', 'in-turn']).default('random'))
  .addOption(new Option('--redis-flush-at <s>', 'local backend: flush Redis at this second'))
  .addOption(new Option('--pg-restart-at <s>', 'local backend: restart Postgres at this second'))
  .addOption(new Option('--no-baseline', 'skip the no-chaos run'))
  .addOption(new Option('--run-dir <dir>', 'local backend: where npm start keeps its state').default(join(ROOT, '.run')))
  .addOption(new Option('--namespace <ns>', 'k8s backend: namespace').default('tailspin'))
  .addOption(new Option('--base-url <url>', 'compose/k8s: where the apps answer (ports 3000-3004)').default('http://127.0.0.1'))
  .addOption(new Option('--redis-url <url>').default('redis://127.0.0.1:6379'))
  .addOption(new Option('--hostile <share>', 'hostile requests beside the load, as a share of its rate (e.g. 0.1)').default('0'))
  .addOption(new Option('--customer-key <key>', 'compose/k8s: a customer API key acting for owner chaos (local: the stack\'s own)').env('TAILSPIN_CUSTOMER_KEY'))
  .addOption(new Option('--other-customer-key <key>', 'compose/k8s with --hostile: a customer key of another owner').env('TAILSPIN_OTHER_CUSTOMER_KEY'))
  .addOption(new Option('--service-key <key>', 'compose/k8s with --hostile: a service key').env('TAILSPIN_SERVICE_KEY'))
  .addOption(new Option('--operator-key <key>', 'compose/k8s: an operator API key, for the verifier (local: the stack\'s own)').env('TAILSPIN_OPERATOR_KEY'))
  .addOption(new Option('--report <dir>', 'where to write the report').default(join(ROOT, 'chaos-report')));
program.parse();
const o = program.opts<{ backend: string; rate: string; duration: string; killEvery: string; apps: string; killOrder: KillOrder; redisFlushAt?: string; pgRestartAt?: string; baseline: boolean; runDir: string; namespace: string; baseUrl: string; redisUrl: string; hostile: string; customerKey?: string; otherCustomerKey?: string; serviceKey?: string; operatorKey?: string; report: string }>();

let startedHere = false;
const stateFile = join(o.runDir, 'suite.json');
if (o.backend === 'local' && !existsSync(stateFile)) {
  console.log('[chaos] no running suite: starting one with npm start');
  await exec(process.execPath, [join(ROOT, 'dist', 'scripts', 'suite', 'start.js')], { env: { ...inheritedEnv, RUN_DIR: o.runDir } });
  startedHere = true;
}
const appUrl = (service: string, port: number) =>
  o.backend === 'local' ? ((JSON.parse(readFileSync(stateFile, 'utf8')) as { apps: { service: string; url: string }[] }).apps.find((a) => a.service === service)?.url ?? '') : `${o.baseUrl}:${port}`;
const urls = { ingestion: appUrl('ingestion', 3000), workflow: appUrl('workflow', 3001), package: appUrl('package', 3002), 'drone-scheduler': appUrl('drone-scheduler', 3003), delivery: appUrl('delivery', 3004) };
const killer: PodKiller =
  o.backend === 'local' ? localKiller(o.runDir, join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2')) : o.backend === 'compose' ? composeKiller(ROOT) : kubernetesKiller(o.namespace);
const disruptions = [
  ...(o.redisFlushAt !== undefined ? [{ atS: Number(o.redisFlushAt), name: 'redis', run: () => flushRedis(o.redisUrl) }] : []),
  ...(o.pgRestartAt !== undefined ? [{ atS: Number(o.pgRestartAt), name: 'postgres', run: restartPostgres }] : []),
];
const local = o.backend === 'local' ? loadOrCreateCredentials(o.runDir) : undefined;
const customerKey = o.customerKey ?? local?.customerKey;
const operatorKey = o.operatorKey ?? local?.operatorKey;
if (customerKey === undefined || operatorKey === undefined) {
  console.error('[chaos] --customer-key and --operator-key (or TAILSPIN_CUSTOMER_KEY and TAILSPIN_OPERATOR_KEY) are needed for this backend');
  process.exit(2);
}
const hostileShare = Number(o.hostile);
const otherKey = o.otherCustomerKey ?? local?.otherCustomerKey;
const serviceKey = o.serviceKey ?? local?.serviceKey;
if (!(hostileShare >= 0 && hostileShare <= 10)) {
  console.error('[chaos] --hostile is a share of the load rate, 0 to 10');
  process.exit(2);
}
if (hostileShare > 0 && (otherKey === undefined || serviceKey === undefined)) {
  console.error('[chaos] --hostile needs --other-customer-key and --service-key (or TAILSPIN_OTHER_CUSTOMER_KEY and TAILSPIN_SERVICE_KEY) for this backend');
  process.exit(2);
}
const hostile = hostileShare > 0 ? { rate: Number(o.rate) * hostileShare, keys: { customer: customerKey, other: otherKey ?? '', service: serviceKey ?? '' } } : undefined;
const load = (prefix: string) => ({ ingestionUrl: urls.ingestion, rate: Number(o.rate), durationS: Number(o.duration), duplicateShare: 0.1, cancelShare: 0.05, prefix, customerKey });
const stamp = Date.now().toString(36);

const runs: ChaosRun[] = [];
try {
  if (o.baseline) {
    console.log(`[chaos] no-chaos run: ${o.rate}/s for ${o.duration} s`);
    runs.push(await runChaos('no chaos', { urls, load: load(`base-${stamp}`), apps: [], killEveryS: 0, quietTimeoutMs: 180_000, operatorKey, ...(hostile ? { hostile } : {}) }));
  }
  console.log(`[chaos] chaos run: ${o.rate}/s for ${o.duration} s, a ${o.backend} kill every ${o.killEvery} s`);
  runs.push(await runChaos('chaos', { urls, load: load(`chaos-${stamp}`), killer, apps: o.apps.split(','), killOrder: o.killOrder, killEveryS: Number(o.killEvery), disruptions, quietTimeoutMs: 180_000, operatorKey, ...(hostile ? { hostile } : {}) }));
} finally {
  if (startedHere) await exec(process.execPath, [join(ROOT, 'dist', 'scripts', 'suite', 'stop.js')], { env: { ...inheritedEnv, RUN_DIR: o.runDir } });
}
const { html, ratio } = writeReport(o.report, runs);
for (const run of runs) {
  console.log(`[chaos] ${run.label}: accepted ${run.load.accepted}, completed ${run.completedRate.toFixed(2)}/s, acceptance p99 ${run.acceptanceP99Ms.toFixed(0)} ms, ${run.events.length} disruptions`);
  for (const r of run.results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'} ${r.id}. ${r.name} ${JSON.stringify(r.counts)}${r.problems.map((p) => `\n     - ${p}`).join('')}`);
  if (run.hostile !== undefined) {
    const h = run.hostile;
    console.log(`  ${h.serverErrors === 0 && h.accepted === 0 ? 'PASS' : 'FAIL'} hostile: ${h.sent} sent, ${h.serverErrors} answered 5xx, ${h.accepted} accepted`);
    for (const [route, tally] of Object.entries(h.byRoute).sort()) console.log(`     ${route.padEnd(58)} ${Object.entries(tally).map(([status, n]) => `${status}x${n}`).join(' ')}`);
    for (const example of h.examples) console.log(`     - ${example}`);
  }
}
if (ratio !== undefined) console.log(`[chaos] completed per second, chaos / no chaos: ${ratio.toFixed(2)}`);
console.log(`[chaos] report: ${html}`);
process.exitCode = runs.every((run) => run.quiet && run.results.every((r) => r.ok) && (run.hostile === undefined || (run.hostile.serverErrors === 0 && run.hostile.accepted === 0))) ? 0 : 1;
