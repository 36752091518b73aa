import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { CRASH_POINTS, type CrashPoint } from '../src/core/crash-points.js';
import { Receiver, Sender } from './fixtures/machines.js';
import { testConfig } from './support/config.js';
import { dropSchemas, startRuntime, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { pingProblems, pingsSettled } from './support/ping-checks.js';
import { sigkill, spawnNode, type Child } from './support/process-pool.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'crash-worker.js');
const POINTS: Record<'svc-a' | 'svc-b', CrashPoint[]> = {
  'svc-a': ['whileTimerFires', 'whileActivityRuns', 'afterCommitBeforePublish', 'beforeCommit', 'whileDraining'],
  'svc-b': ['afterPublishBeforeAck', 'whileDraining', 'beforeCommit'],
};

interface Scenario {
  readonly senders: number;
  readonly pings: number;
  /** SIGKILL a random worker this often while pings flow (0: never). */
  readonly killEveryMs: number;
  /** Arm crash points in workers. */
  readonly crashPoints: boolean;
  /** Things done to the infrastructure mid-run, at the given ms after start. */
  readonly disruptions: { atMs: number; name: string; run: () => Promise<void> }[];
}

interface Outcome {
  readonly crashLog: string[];
  readonly kills: number;
  readonly restarts: number;
  /** Transactions that stepped one hot machine alone, as the workers last reported them. */
  readonly hot: number;
  /** Rounds of senders it took to die at every crash point. */
  readonly rounds: number;
  readonly seconds: number;
}

/** Runs senders in svc-a against receivers in svc-b, two worker processes each, while disrupting them; checks every guarantee by counting. */
async function runScenario(scenario: Scenario): Promise<Outcome> {
  const schemaA = uniqueSchema('ca');
  const schemaB = uniqueSchema('cb');
  const prefix = uniquePrefix('crash');
  const dir = mkdtempSync(join(tmpdir(), 'rsm-crash-'));
  const crashLog = join(dir, 'crashes.log');
  writeFileSync(crashLog, '');
  const hit = () => readFileSync(crashLog, 'utf8').split('\n').filter((l) => l !== '');
  const workers = new Map<string, Child>();
  let finished = false;
  let kills = 0;
  let restarts = 0;
  const metricFiles: string[] = [];

  const launch = (slot: string, service: 'svc-a' | 'svc-b', schema: string) => {
    const done = new Set(hit());
    const pending = POINTS[service].filter((p) => !done.has(p));
    const armed = scenario.crashPoints ? pending.slice(0, 2) : [];
    const metricsFile = join(dir, `${slot}-${metricFiles.length}.json`);
    metricFiles.push(metricsFile);
    const child = spawnNode(slot, WORKER, {
      SERVICE: service,
      SCHEMA: schema,
      PREFIX: prefix,
      DATABASE_URL: testConfig.DATABASE_URL,
      REDIS_URL: testConfig.REDIS_URL,
      CRASH_AT: armed.join(','),
      CRASH_SKIP: String(Math.floor(Math.random() * 15)),
      CRASH_LOG: crashLog,
      METRICS_FILE: metricsFile,
      // One receiver worker makes a machine hot from two events in a transaction, so the receivers
      // (bursts of pings) are stepped alone there while workers die, however quickly receipts keep
      // up; the other keeps the default (8), and steps them in its receipts.
      ...(slot === 'b1' ? { HOT_EVENTS: '2' } : {}),
    });
    workers.set(slot, child);
    // A dead worker is restarted, as Kubernetes restarts a pod.
    void child.exited.then(() => {
      if (finished) return;
      restarts += 1;
      launch(slot, service, schema);
    });
    return child;
  };

  // Drivers in this process are API-only: they accept events and leave every step to the workers.
  const apiA = await startRuntime({ service: 'svc-a', schema: schemaA, prefix, machines: [Sender], routes: { Receiver: 'svc-b' }, overrides: { worker: false } });
  const apiB = await startRuntime({ service: 'svc-b', schema: schemaB, prefix, machines: [Receiver], overrides: { worker: false } });
  const started = Date.now();
  const timers: NodeJS.Timeout[] = [];
  try {
    await Promise.all([launch('a1', 'svc-a', schemaA), launch('a2', 'svc-a', schemaA), launch('b1', 'svc-b', schemaB), launch('b2', 'svc-b', schemaB)].map((c) => c.ready));
    const receivers = ['r1', 'r2', 'r3'];
    for (const id of receivers) await apiB.create(Receiver.ref(id), { type: 'Hello' });
    const senders: string[] = [];
    const round = async () => {
      const ids = Array.from({ length: scenario.senders }, (_, i) => `s${senders.length + i + 1}`);
      senders.push(...ids);
      for (const id of ids) await apiA.create(Sender.ref(id), { type: 'Start', receivers, count: scenario.pings, receiverType: 'Receiver' });
    };
    await round();

    if (scenario.killEveryMs > 0) {
      const killer = setInterval(() => {
        const alive = [...workers.values()];
        const victim = alive[Math.floor(Math.random() * alive.length)];
        if (victim !== undefined) {
          kills += 1;
          void sigkill(victim);
        }
      }, scenario.killEveryMs);
      timers.push(killer);
    }
    for (const disruption of scenario.disruptions) {
      timers.push(setTimeout(() => void disruption.run().catch((error: unknown) => console.error(`disruption ${disruption.name} failed`, error)), disruption.atMs));
    }

    // A round can settle before the workers have died at every crash point (the runtime got
    // faster, the dice skip hits): more rounds follow, for at most 2 minutes, until each was hit.
    const unexercised = () => (scenario.crashPoints ? CRASH_POINTS.filter((point) => !hit().includes(point)) : []);
    for (;;) {
      const expected = senders.length * scenario.pings;
      await waitFor(`${expected} pings received and every sender settled`, () => pingsSettled(apiA, apiB, senders, receivers, expected), 240_000);
      if (unexercised().length === 0 || Date.now() - started > 120_000) break;
      await round();
    }
    const expected = senders.length * scenario.pings;
    for (const t of timers) clearInterval(t);

    // Quiet now: let late duplicates or stray timers surface before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const problems = await pingProblems(apiA, apiB, senders, receivers, expected, [schemaA, schemaB]);
    assert.deepEqual(problems, [], 'every guarantee holds');
    // What each worker last reported (every 50 ms) of its hot-machine transactions.
    const hot = metricFiles.filter((file) => existsSync(file)).reduce((sum, file) => sum + ((JSON.parse(readFileSync(file, 'utf8')) as { hot?: number }).hot ?? 0), 0);
    return { crashLog: hit(), kills, restarts, hot, rounds: senders.length / scenario.senders, seconds: (Date.now() - started) / 1_000 };
  } finally {
    finished = true;
    for (const t of timers) clearInterval(t);
    await Promise.all([...workers.values()].map((w) => sigkill(w)));
    await apiA.stop();
    await apiB.stop();
    await dropSchemas(schemaA, schemaB);
  }
}

function restartPostgres(): void {
  const version = readdirSync('/etc/postgresql')[0];
  if (version === undefined) throw new Error('no Postgres cluster under /etc/postgresql');
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart', '-m', 'fast'], { stdio: 'ignore' });
}

describe('crash tests: guarantees under SIGKILL', { concurrency: false }, () => {
  it('holds while workers are SIGKILLed at random instants and at every named crash point', async () => {
    const outcome = await runScenario({ senders: 6, pings: 60, killEveryMs: 600, crashPoints: true, disruptions: [] });
    const exercised = new Set(outcome.crashLog);
    // Three receivers take 360 pings in bursts: they are hot, and were stepped alone while workers died.
    assert.ok(outcome.hot > 0, 'hot machines were stepped in transactions of their own');
    for (const point of CRASH_POINTS) assert.ok(exercised.has(point), `crash point ${point} was exercised (hit: ${[...exercised].join(', ')})`);
    console.log(`# random kills: ${outcome.kills}, crash-point deaths: ${outcome.crashLog.length}, restarts: ${outcome.restarts}, hot-machine transactions: ${outcome.hot}, rounds: ${outcome.rounds}, ${outcome.seconds.toFixed(1)} s`);
  });

  it('holds through a Redis FLUSHALL and a Postgres restart mid-run', async () => {
    const redis = new Redis(testConfig.REDIS_URL);
    try {
      const outcome = await runScenario({
        senders: 4,
        pings: 60,
        killEveryMs: 0,
        crashPoints: false,
        disruptions: [
          { atMs: 300, name: 'redis flushall', run: async () => void (await redis.flushall()) },
          { atMs: 1_200, name: 'postgres restart', run: async () => restartPostgres() },
        ],
      });
      console.log(`# redis flushed and postgres restarted; settled in ${outcome.seconds.toFixed(1)} s`);
    } finally {
      redis.disconnect();
    }
  });
});
