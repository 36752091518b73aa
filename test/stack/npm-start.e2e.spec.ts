import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { inheritedEnv } from '../support/config.js';
import { freePortBase } from '../support/ports.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '..', '..');
const START = join(DIST, 'scripts', 'suite', 'start.js');
const STOP = join(DIST, 'scripts', 'suite', 'stop.js');
const PM2 = join(DIST, '..', 'node_modules', 'pm2', 'bin', 'pm2');

interface Pm2Process { name: string; pid: number; pm2_env: { restart_time: number; status: string } }

async function stackEnv(extra: Record<string, string> = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'tailspin-run-'));
  const portBase = await freePortBase(23_000, 300);
  return { runDir, portBase, env: { ...inheritedEnv, RUN_DIR: runDir, PORT_BASE: String(portBase), STACK: `st${Math.random().toString(36).slice(2, 8)}`, LOG_LEVEL: 'warn', LEG_MS_MAX: '200', ...extra } };
}

/**
 * The README's walkthrough block (after `<!-- readme-walkthrough -->`), with its ports moved to the
 * stack under test: the commands a newcomer pastes, so the README cannot rot.
 */
function readmeWalkthrough(portBase: number, runDir: string): string {
  const readme = readFileSync(join(DIST, '..', 'README.md'), 'utf8');
  const block = /<!-- readme-walkthrough -->\n```sh\n([\s\S]*?)\n```/.exec(readme)?.[1];
  assert.ok(block, 'the README has its walkthrough block');
  return block.replace(/localhost:300(\d)/g, (_m, i: string) => `127.0.0.1:${portBase + Number(i)}`).replaceAll('.run/', `${runDir}/`);
}

async function pm2List(runDir: string): Promise<Pm2Process[]> {
  const { stdout } = await exec(process.execPath, [PM2, 'jlist'], { env: { ...inheritedEnv, PM2_HOME: join(runDir, 'pm2') } });
  return JSON.parse(stdout.slice(stdout.indexOf('['))) as Pm2Process[];
}

describe('npm start and npm stop', { concurrency: false }, () => {
  it('brings every app up supervised, restarts a killed one, and stops everything', async () => {
    const { runDir, portBase, env } = await stackEnv();
    try {
      const started = await exec(process.execPath, [START], { env });
      for (let i = 0; i < 6; i += 1) assert.match(started.stdout, new RegExp(`http://127\\.0\\.0\\.1:${portBase + i}`));
      assert.match(started.stdout, /up: OpenAPI/);
      assert.match(started.stdout, /customer \(owners o1, [^)]*\): [A-Za-z0-9_-]{24,}/, 'npm start prints the API keys');
      const state = JSON.parse(readFileSync(join(runDir, 'suite.json'), 'utf8')) as { apps: { service: string; name: string; url: string }[] };
      assert.equal(state.apps.length, 6);

      // The README's walkthrough, as printed: a delivery created with curl completes and verifies.
      const urls = Object.fromEntries(state.apps.map((a) => [`${a.service.toUpperCase().replaceAll('-', '_')}_URL`, a.url]));
      const walkthrough = await exec('bash', ['-e', '-o', 'pipefail', '-c', readmeWalkthrough(portBase, runDir)], { cwd: join(DIST, '..'), env: { ...env, ...urls }, maxBuffer: 4 << 20 });
      assert.match(walkthrough.stdout, /^HTTP\/1\.1 202 /m, 'the POST is accepted');
      assert.doesNotMatch(walkthrough.stdout, /FAIL/, 'every invariant passes');
      assert.match(walkthrough.stdout, /"state":"Completed"/, 'the saga completes');
      assert.match(walkthrough.stdout, /"stage":"Completed"/, 'the delivery completes');

      // A pod dies: the supervisor starts it again and it serves again.
      const workflow = state.apps.find((a) => a.service === 'workflow');
      assert.ok(workflow);
      const before = (await pm2List(runDir)).find((p) => p.name === workflow.name);
      assert.ok(before && before.pid > 0);
      process.kill(before.pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      for (;;) {
        const now = (await pm2List(runDir)).find((p) => p.name === workflow.name);
        const ready = await fetch(`${workflow.url}/health/ready`).then((r) => r.ok, () => false);
        if (now !== undefined && now.pid !== before.pid && now.pm2_env.restart_time > before.pm2_env.restart_time && ready) break;
        assert.ok(Date.now() < deadline, 'the killed app is restarted and ready');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await exec(process.execPath, [STOP], { env });
    }
    assert.equal(existsSync(join(runDir, 'suite.json')), false);
    const alive = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => fetch(`http://127.0.0.1:${portBase + i}/health/live`).then(() => true, () => false)));
    assert.deepEqual(alive, [false, false, false, false, false, false]);
  });

  it('with REPLICAS=2, runs two processes of an app behind one port and keeps serving when one is killed', async () => {
    const { runDir, env } = await stackEnv({ REPLICAS: '2' });
    try {
      await exec(process.execPath, [START], { env });
      const state = JSON.parse(readFileSync(join(runDir, 'suite.json'), 'utf8')) as { apps: { service: string; name: string; url: string }[] };
      const ingestion = state.apps.find((a) => a.service === 'ingestion');
      const sim = state.apps.find((a) => a.service === 'drone-sim');
      assert.ok(ingestion && sim);
      const list = await pm2List(runDir);
      const replicas = list.filter((p) => p.name === ingestion.name && p.pid > 0);
      assert.equal(replicas.length, 2, 'two ingestion processes');
      assert.equal(list.filter((p) => p.name === sim.name).length, 1, 'one simulator: its flights live in memory');

      const [victim, survivor] = replicas as [Pm2Process, Pm2Process];
      const killedAt = Date.now() / 1_000;
      process.kill(victim.pid, 'SIGKILL');
      // A client that retries with a timeout (a connection handed to the dying process can hang)
      // is answered by the process that was not killed: its start time is before the kill. With
      // one process per app every answer would come from the restarted one.
      const startTimes: number[] = [];
      for (let i = 0; i < 20 && !startTimes.some((t) => t < killedAt); i += 1) {
        const text = await fetch(`${ingestion.url}/metrics`, { signal: AbortSignal.timeout(1_000) }).then((r) => (r.ok ? r.text() : ''), () => '');
        const started = /^process_start_time_seconds (\d+)/m.exec(text)?.[1];
        if (started !== undefined) startTimes.push(Number(started));
      }
      assert.ok(startTimes.some((t) => t < killedAt), `answered by the surviving process (start times ${startTimes.join(', ')}, kill at ${killedAt})`);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const now = (await pm2List(runDir)).filter((p) => p.name === ingestion.name && p.pid > 0 && p.pm2_env.status === 'online');
        if (now.length === 2 && now.some((p) => p.pid === survivor.pid) && !now.some((p) => p.pid === victim.pid)) break;
        assert.ok(Date.now() < deadline, 'the killed replica is replaced');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await exec(process.execPath, [STOP], { env });
    }
  });

  it('starts a private PostgreSQL when none answers, and stops it again', async () => {
    const pgPort = 25_400 + Math.floor(Math.random() * 500);
    const { env } = await stackEnv({ DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/test` });
    try {
      const started = await exec(process.execPath, [START], { env });
      assert.match(started.stdout, new RegExp(`starting a private PostgreSQL on port ${pgPort}`));
      assert.match(started.stdout, /up: OpenAPI/);
    } finally {
      const stopped = await exec(process.execPath, [STOP], { env });
      assert.match(stopped.stdout, /stopped 6 apps, PostgreSQL/);
    }
  });

  it('fails within seconds, saying what is missing, when nothing can provide Redis', async () => {
    const { env } = await stackEnv({ REDIS_URL: 'redis://10.255.255.1:6379' });
    const started = Date.now();
    await assert.rejects(exec(process.execPath, [START], { env }), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr ?? '', /Redis at 10\.255\.255\.1:6379 does not answer/);
      return true;
    });
    assert.ok(Date.now() - started < 15_000);
  });
});
