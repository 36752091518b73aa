import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrashPoint, RsmRuntime } from '#rsm';
import { Counter, Receiver, Sender, senderProblems, senderSettled, type SenderData } from '../fixtures/machines.js';
import { testConfig } from './config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './helpers.js';
import { sigkill, spawnNode, type Child } from './process-pool.js';

const WORKER = join(import.meta.dirname, '..', 'fixtures', 'crash-worker.js');
const POINTS: Record<'svc-a' | 'svc-b', CrashPoint[]> = {
  'svc-a': ['whileTimerFires', 'whileActivityRuns', 'afterCommitBeforePublish', 'beforeCommit', 'whileDraining'],
  'svc-b': ['afterPublishBeforeAck', 'whileDraining', 'beforeCommit'],
};

/** What an adversary gets to work with once the workers run: the shared Redis prefix and the two API runtimes. */
export interface ScenarioContext {
  readonly prefix: string;
  readonly apiA: RsmRuntime;
  readonly apiB: RsmRuntime;
}

export interface Scenario {
  readonly senders: number;
  readonly pings: number;
  /** SIGKILL a random worker this often while pings flow (0: never). */
  readonly killEveryMs: number;
  /** Arm crash points in workers. */
  readonly crashPoints: boolean;
  /** Things done to the infrastructure mid-run, at the given ms after start. */
  readonly disruptions: { atMs: number; name: string; run: () => Promise<void> }[];
  /** Requests (`Counter` `Add 1`, keyed) svc-b's API makes while the pings flow; each answer must be the real one. */
  readonly requests?: number;
  /** Runs beside the load from the start until the pings are counted (a hostile process with Redis access, say). */
  readonly adversary?: { start(ctx: ScenarioContext): void; stop(): Promise<void> };
  /** Where workers write their counts of items refused from Redis (`rsm_transport_refused_total`), by slot. */
  readonly refusalsDir?: string;
}

export interface Outcome {
  readonly crashLog: string[];
  readonly kills: number;
  readonly restarts: number;
  readonly seconds: number;
  /** The answers of the requests, in the order they were made. */
  readonly answers: unknown[];
}

/**
 * Senders in svc-a ping receivers in svc-b, two worker processes each (restarted when they die, as
 * pods are), while the scenario disrupts them; then checks every guarantee by counting: each ping
 * received exactly once and in order per pair, one writer at a time, every timer and activity
 * outcome once, no dead letter, and every request answered with its own reply.
 */
export async function runPingScenario(scenario: Scenario): Promise<Outcome> {
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

  const launch = (slot: string, service: 'svc-a' | 'svc-b', schema: string) => {
    const done = new Set(hit());
    const pending = POINTS[service].filter((p) => !done.has(p));
    const armed = scenario.crashPoints ? pending.slice(0, 2) : [];
    const child = spawnNode(slot, WORKER, {
      SERVICE: service,
      SCHEMA: schema,
      PREFIX: prefix,
      DATABASE_URL: testConfig.DATABASE_URL,
      REDIS_URL: testConfig.REDIS_URL,
      CRASH_AT: armed.join(','),
      CRASH_SKIP: String(Math.floor(Math.random() * 15)),
      CRASH_LOG: crashLog,
      ...(scenario.refusalsDir !== undefined ? { REFUSALS_FILE: join(scenario.refusalsDir, `${slot}-${restarts}.json`) } : {}),
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
  const apiB = await startRuntime({ service: 'svc-b', schema: schemaB, prefix, machines: [Receiver, Counter], overrides: { worker: false } });
  const started = Date.now();
  const timers: NodeJS.Timeout[] = [];
  const answers: unknown[] = [];
  try {
    await Promise.all([launch('a1', 'svc-a', schemaA), launch('a2', 'svc-a', schemaA), launch('b1', 'svc-b', schemaB), launch('b2', 'svc-b', schemaB)].map((c) => c.ready));
    scenario.adversary?.start({ prefix, apiA, apiB });
    const receivers = ['r1', 'r2', 'r3'];
    for (const id of receivers) await apiB.create(Receiver.ref(id), { type: 'Hello' });
    const senders = Array.from({ length: scenario.senders }, (_, i) => `s${i + 1}`);
    for (const id of senders) await apiA.create(Sender.ref(id), { type: 'Start', receivers, count: scenario.pings, receiverType: 'Receiver' });
    const requests = scenario.requests ?? 0;
    if (requests > 0) await apiB.create(Counter.ref('replies'), { type: 'Open' });

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
    // One request at a time, each retried with its key until answered: a retried key gets its first answer.
    for (let i = 1; i <= requests; i += 1) {
      answers.push(
        await waitFor(`the answer to request ${i}`, async () => apiB.request(Counter.ref('replies'), { type: 'Add', n: 1 }, { key: `add-${i}`, timeoutMs: 5_000 }), 60_000),
      );
    }

    const expected = scenario.senders * scenario.pings;
    await waitFor(`${expected} pings received and every sender settled`, async () => {
      const total = await receivedTotal(apiB, receivers);
      if (total !== expected) return false;
      for (const id of senders) if (!senderSettled((await apiA.get(Sender.ref(id))) as { state: string; data: unknown })) return false;
      return true;
    }, 120_000);
    for (const t of timers) clearInterval(t);
    await scenario.adversary?.stop();

    // Quiet now: let late duplicates or stray timers surface before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const problems: string[] = [];
    for (const id of senders) problems.push(...senderProblems(id, (await apiA.get(Sender.ref(id))) as { state: string; version: number; data: unknown }));
    let total = 0;
    for (const id of receivers) {
      const r = (await apiB.get(Receiver.ref(id))) as { version: number; data: { count: number; steps: number; violations: string[]; last: Record<string, number> } };
      total += r.data.count;
      problems.push(...r.data.violations.map((v) => `${id}: FIFO violation ${v}`));
      if (r.data.steps !== r.version) problems.push(`${id}: ${r.data.steps} steps in data, version ${r.version}: two writers`);
    }
    if (total !== expected) problems.push(`received ${total} pings, expected exactly ${expected}`);
    if (requests > 0) {
      const counter = await apiB.get(Counter.ref('replies'));
      if ((counter?.data as { total: number } | undefined)?.total !== requests) problems.push(`counter at ${JSON.stringify(counter?.data)}, expected ${requests}: a request was applied twice or lost`);
      const expectedAnswers = Array.from({ length: requests }, (_, i) => i + 1);
      if (JSON.stringify(answers) !== JSON.stringify(expectedAnswers)) problems.push(`answers ${JSON.stringify(answers)}, expected ${JSON.stringify(expectedAnswers)}: a forged or wrong reply answered a caller`);
    }
    const pool = testPool();
    try {
      for (const schema of [schemaA, schemaB]) {
        const letters = await pool.query<{ reason: string }>(`SELECT reason FROM "${schema}".rsm_dead_letters`);
        problems.push(...letters.rows.map((l) => `dead letter in ${schema}: ${l.reason}`));
      }
    } finally {
      await pool.end();
    }
    assert.deepEqual(problems, [], 'every guarantee holds');
    const sentTotal = await Promise.all(senders.map(async (id) => ((await apiA.get(Sender.ref(id)))?.data as SenderData).sent));
    assert.equal(sentTotal.reduce((x, y) => x + y, 0), expected);
    return { crashLog: hit(), kills, restarts, seconds: (Date.now() - started) / 1_000, answers };
  } finally {
    finished = true;
    for (const t of timers) clearInterval(t);
    await scenario.adversary?.stop();
    await Promise.all([...workers.values()].map((w) => sigkill(w)));
    await apiA.stop();
    await apiB.stop();
    await dropSchemas(schemaA, schemaB);
  }
}

async function receivedTotal(runtime: RsmRuntime, receivers: string[]): Promise<number> {
  let total = 0;
  for (const id of receivers) total += ((await runtime.get(Receiver.ref(id)))?.data as { count: number } | undefined)?.count ?? 0;
  return total;
}
