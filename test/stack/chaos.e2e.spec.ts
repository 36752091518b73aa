import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { runChaos } from '../../load-tests/chaos/src/chaos-experiment.js';
import { flushRedis, localKiller, restartPostgres } from '../../load-tests/chaos/src/pod-killer.js';
import { loadOrCreateCredentials } from '../../scripts/suite/credentials.js';
import { writeReport } from '../../load-tests/chaos/src/report.js';
import { inheritedEnv, suiteTestConfig } from '../support/config.js';
import { freePortBase } from '../support/ports.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '..', '..');

describe('chaos, sized for CI', { concurrency: false }, () => {
  it('loses nothing while apps are SIGKILLed every few seconds, Redis loses its data and Postgres restarts', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'tailspin-chaos-'));
    const portBase = await freePortBase(24_000, 300);
    const env = { ...inheritedEnv, RUN_DIR: runDir, PORT_BASE: String(portBase), STACK: `ch${Math.random().toString(36).slice(2, 7)}`, LOG_LEVEL: 'warn', LEG_MS_MAX: '300' };
    await exec(process.execPath, [join(DIST, 'scripts', 'suite', 'start.js')], { env });
    try {
      const apps = (JSON.parse(readFileSync(join(runDir, 'suite.json'), 'utf8')) as { apps: { service: string; url: string }[] }).apps;
      const url = (service: string) => apps.find((a) => a.service === service)?.url ?? '';
      const keys = loadOrCreateCredentials(runDir);
      const run = await runChaos('chaos (CI)', {
        urls: { ingestion: url('ingestion'), workflow: url('workflow'), package: url('package'), 'drone-scheduler': url('drone-scheduler'), delivery: url('delivery') },
        load: { ingestionUrl: url('ingestion'), rate: 10, durationS: 30, duplicateShare: 0.1, cancelShare: 0.05, prefix: 'ci', customerKey: keys.customerKey },
        killer: localKiller(runDir, join(DIST, '..', 'node_modules', 'pm2', 'bin', 'pm2')),
        apps: apps.map((a) => a.service),
        killEveryS: 3,
        disruptions: [
          { atS: 9, name: 'redis', run: () => flushRedis(suiteTestConfig.REDIS_URL) },
          { atS: 18, name: 'postgres', run: restartPostgres },
        ],
        quietTimeoutMs: 180_000,
        operatorKey: keys.operatorKey,
        // Hostile requests beside the load, aimed at its deliveries, all through the kills.
        hostile: { rate: 2, keys: { customer: keys.customerKey, other: keys.otherCustomerKey, service: keys.serviceKey } },
      });
      const { html } = writeReport(join(runDir, 'report'), [run]);
      const kills = run.events.filter((e) => e.what.includes('SIGKILL')).length;
      console.log(`# chaos: ${run.load.accepted} accepted, ${kills} kills, ${run.events.length} disruptions, completed ${run.completedRate.toFixed(2)}/s, acceptance p99 ${run.acceptanceP99Ms.toFixed(0)} ms; report ${html}`);
      assert.ok(run.quiet, 'the suite became quiet');
      assert.ok(run.load.accepted >= 250, `${run.load.accepted} accepted`);
      assert.ok(kills >= 5, `${kills} kills`);
      assert.ok(run.events.some((e) => e.what === 'redis: FLUSHALL'), 'Redis lost its data');
      assert.ok(run.events.some((e) => e.what.includes('restarted')), 'Postgres restarted');
      assert.deepEqual(run.results.filter((r) => !r.ok), [], 'every invariant holds');
      const hostile = run.hostile;
      assert.ok(hostile !== undefined && hostile.sent >= 50, 'hostile requests were sent');
      console.log(`# hostile: ${hostile.sent} sent, ${hostile.serverErrors} 5xx, ${hostile.accepted} accepted; ${JSON.stringify(hostile.byRoute)}`);
      assert.equal(hostile.accepted, 0, `no hostile request accepted: ${hostile.examples.join(' | ')}`);
      assert.equal(hostile.serverErrors, 0, `no hostile request answered 5xx: ${hostile.examples.join(' | ')}`);
      assert.match(readFileSync(html, 'utf8'), /Hostile requests: \d+ sent, 0 answered 5xx, 0 accepted/);
      assert.match(readFileSync(html, 'utf8'), /"label":"completed"[\s\S]*new uPlot\(/);
    } finally {
      await exec(process.execPath, [join(DIST, 'scripts', 'suite', 'stop.js')], { env });
    }
  });
});
