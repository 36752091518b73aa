/**
 * The soak workload of `npm run bench`: hundreds of thousands of events over many machines and
 * pairs for minutes, with the janitor on short retention, sampling step latency and the size of
 * every runtime table as it goes. Passes when both stay flat: nothing grows with time or history.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type pg from 'pg';
import { RsmRuntime } from '#rsm';
import { inheritedEnv } from './config.js';
import { Job, Relay } from './machines.js';
import { SOAK_RETENTION_MS as RETENTION_MS, soakRuntimeOptions } from './soak-options.js';

export interface SoakOptions {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly seconds: number;
  readonly clients: number;
  /** Requests a second offered (open loop, at most `clients` in flight): a rate the services keep up with, as a soak should. */
  readonly rate: number;
  readonly relays: number;
  readonly sinks: number;
  readonly sampleSeconds: number;
}

export interface SoakSample {
  readonly atS: number;
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Row counts by table (both services summed). */
  readonly rows: Record<string, number>;
}

export interface SoakResult {
  readonly seconds: number;
  readonly requests: number;
  /** Steps committed in both services (requests, pings and jobs). */
  readonly steps: number;
  readonly samples: SoakSample[];
  readonly verdict: string;
  readonly flat: boolean;
}

const TABLES = ['rsm_machines', 'rsm_inbox', 'rsm_requests', 'rsm_outbox', 'rsm_reorder', 'rsm_steps', 'rsm_dead_letters', 'rsm_send_seq', 'rsm_recv_seq', 'rsm_timers', 'rsm_activities'];
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);


export async function soak(pool: pg.Pool, o: SoakOptions): Promise<SoakResult> {
  const key = randomBytes(32).toString('hex');
  const schemas = { a: 'bench_soak_a', b: 'bench_soak_b' };
  for (const schema of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  const connection = { databaseUrl: o.databaseUrl, redisUrl: o.redisUrl, signingKey: key };
  const a = new RsmRuntime(soakRuntimeOptions('soak-a', schemas.a, { Sink: 'soak-b' }, connection), { machines: [Relay, Job], logger: silent });
  // The receiving service runs in a process of its own, as it would be deployed.
  const sink = spawn(process.execPath, [join(import.meta.dirname, 'soak-sink.js')], { env: { ...inheritedEnv, DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, BENCH_SOAK_SIGNING_KEY: key }, stdio: ['ignore', 'pipe', 'inherit'] });
  const sinkExited = new Promise<void>((resolve) => sink.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    sink.stdout.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') ? resolve() : undefined));
    sink.once('exit', (code) => reject(new Error(`the soak's sink process exited with ${String(code)}`)));
  });
  await a.start();
  await pool.query(`INSERT INTO "${schemas.a}".rsm_machines (type, id, state, data, definition_version) SELECT 'Relay', 'r' || i, 'Open', '{"n":0}', 1 FROM generate_series(0, ${o.relays - 1}) i`);
  await pool.query(`INSERT INTO "${schemas.b}".rsm_machines (type, id, state, data, definition_version) SELECT 'Sink', 'k' || i, 'Open', '{"pings":0}', 1 FROM generate_series(0, ${o.sinks - 1}) i`);
  const steps = async () => {
    let total = 0;
    for (const v of (await a.metrics.steps.get()).values) total += v.value;
    return total;
  };
  const rows = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const table of TABLES) {
      const counts = await Promise.all(Object.values(schemas).map(async (schema) => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0]?.n ?? 0)));
      out[table] = counts.reduce((x, y) => x + y, 0);
    }
    return out;
  };
  try {
    const samples: SoakSample[] = [];
    let window: number[] = [];
    let requests = 0;
    const started = performance.now();
    const deadline = started + o.seconds * 1_000;
    const stepsBefore = await steps();
    let lastSampleAt = started;
    let lastRequests = 0;
    const sampler = (async () => {
      while (performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, o.sampleSeconds * 1_000));
        const now = performance.now();
        const latencies = window.sort((x, y) => x - y);
        window = [];
        const sample = { atS: Math.round((now - started) / 1_000), requestsPerS: Math.round((requests - lastRequests) / ((now - lastSampleAt) / 1_000)), p50Ms: Math.round(percentile(latencies, 50) * 100) / 100, p99Ms: Math.round(percentile(latencies, 99) * 100) / 100, rows: await rows() };
        lastRequests = requests;
        lastSampleAt = now;
        samples.push(sample);
        console.log(`soak ${String(sample.atS).padStart(4)} s  ${String(sample.requestsPerS).padStart(5)} req/s  p50 ${sample.p50Ms} ms  p99 ${sample.p99Ms} ms  lag ${a.loadView().lagMs} ms (${a.loadView().source})  ${Object.entries(sample.rows).map(([t, n]) => `${t.replace('rsm_', '')}=${n}`).join(' ')}`);
      }
    })();
    let issued = 0;
    await Promise.all(
      Array.from({ length: o.clients }, async (_, client) => {
        for (let i = 0; ; i += 1) {
          const due = started + (issued * 1_000) / o.rate;
          if (due >= deadline) break;
          issued += 1;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const relay = Math.floor(Math.random() * o.relays);
          const t = performance.now();
          // Every 30 s each relay moves to another sink: the old pairs go quiet and retire.
          const generation = Math.floor((performance.now() - started) / 30_000);
          await a.request(Relay.ref(`r${relay}`), { type: 'Fwd', sink: `k${(relay + generation * 7) % o.sinks}` }, { key: randomUUID() });
          window.push(performance.now() - t);
          requests += 1;
          // One in ten requests also makes a machine that halts at once: churn for halted-machine retention.
          if (i % 10 === client % 10) await a.create(Job.ref(`j-${randomUUID()}`), { type: 'Run' });
        }
      }),
    );
    await sampler;
    // Every ping must arrive, exactly once: wait for the last ones (up to a minute), then count.
    const pingsNow = async () => Number((await pool.query<{ n: string }>(`SELECT coalesce(sum((data->>'pings')::bigint), 0) AS n FROM "${schemas.b}".rsm_machines`)).rows[0]?.n ?? 0);
    let pings = await pingsNow();
    for (const waitUntil = Date.now() + 60_000; pings < requests && Date.now() < waitUntil; pings = await pingsNow()) await new Promise((resolve) => setTimeout(resolve, 250));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    pings = await pingsNow();
    // Steps: the requests and jobs here, and one per ping in the sink's process.
    const stepsDone = (await steps()) - stepsBefore + pings;
    // Flat: after the first retention period, the last third of the run looks like the middle third.
    const settled = samples.filter((s) => s.atS * 1_000 > RETENTION_MS * 2);
    const third = Math.max(1, Math.floor(settled.length / 3));
    const middle = settled.slice(third, 2 * third);
    const last = settled.slice(-third);
    const problems: string[] = [];
    if (pings !== requests) problems.push(`${requests} requests but ${pings} pings arrived`);
    if (middle.length === 0 || last.length === 0) problems.push('too short to judge (raise BENCH_SOAK_SECONDS)');
    else {
      const p50Middle = median(middle.map((s) => s.p50Ms));
      const p50Last = median(last.map((s) => s.p50Ms));
      if (p50Last > p50Middle * 1.5 + 1) problems.push(`step latency grew: p50 ${p50Middle} ms -> ${p50Last} ms`);
      // Medians, so a passing burst (the janitor retiring a generation of pairs puts thousands of
      // retire messages in the outbox at once) is not read as growth; a trend moves the median.
      for (const table of TABLES) {
        const before = median(middle.map((s) => s.rows[table] ?? 0));
        const after = median(last.map((s) => s.rows[table] ?? 0));
        // Counters: one row per pair that talked lately (this generation's, the last one's retiring,
        // and receive rows waiting out their window): bounded by the pairs, not by time.
        const bound = table.endsWith('_seq') ? o.relays * 3 : before * 1.3 + 100;
        if (after > bound) problems.push(`${table} grew: ${before} -> ${after} rows`);
      }
    }
    return { seconds: Math.round((performance.now() - started) / 1_000), requests, steps: stepsDone, samples, verdict: problems.length === 0 ? 'flat' : problems.join('; '), flat: problems.length === 0 };
  } finally {
    await a.stop();
    sink.kill('SIGTERM');
    await sinkExited;
    for (const schema of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}
