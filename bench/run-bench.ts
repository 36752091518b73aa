/**
 * `npm run bench`: three workloads of the RSM runtime, each beside a raw-pg baseline measured in
 * the same run doing the same SQL work per step (dedupe insert, lock and update the state row,
 * insert the outgoing row, commit), so the ratio means something on a noisy machine.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { RsmRuntime } from '#rsm';
import { benchConfig as config } from './config.js';
import { Account, Ledger, LEDGER_ENTRIES, ledgerEntries, Ping, Pong, hops } from './machines.js';
import { soak, type SoakResult } from './soak.js';

interface Figures {
  steps_per_s: number;
  p50_ms: number;
  p99_ms: number;
  baseline_steps_per_s: number;
  baseline_p50_ms: number;
  baseline_p99_ms: number;
  ratio: number;
  [extra: string]: number;
}

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

/** One key for the runtimes of this process, which sign and check each other's Redis items. */
const signingKey = randomBytes(32).toString('hex');

function runtime(service: string, schema: string, machines: Parameters<typeof RsmRuntime.prototype.register>[0][], routes: Record<string, string> = {}) {
  return new RsmRuntime(
    { service, postgres: { url: config.DATABASE_URL, schema, poolSize: 12 }, redis: { url: config.REDIS_URL, prefix: "rsm-bench", signingKeys: [signingKey] }, routes },
    { machines, logger: silent },
  );
}

async function resetSchema(pool: pg.Pool, schema: string) {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** The baseline's tables: a state row per machine, a dedupe key table and an outgoing table. */
async function baselineTables(pool: pg.Pool, machines: number) {
  await pool.query('DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw');
  await pool.query('CREATE TABLE bench_raw.state (id text PRIMARY KEY, data jsonb NOT NULL, version bigint NOT NULL DEFAULT 0)');
  await pool.query('CREATE TABLE bench_raw.dedupe (key text PRIMARY KEY)');
  await pool.query('CREATE TABLE bench_raw.outgoing (id bigserial PRIMARY KEY, target text NOT NULL, payload jsonb NOT NULL)');
  await pool.query(`INSERT INTO bench_raw.state (id, data) SELECT 'm' || i, '{"total":0}' FROM generate_series(1, ${machines}) i`);
}

/** One raw step: the SQL a durable step needs, nothing else. */
async function rawStep(client: pg.PoolClient, id: string, target: string): Promise<void> {
  await client.query('BEGIN');
  await client.query('INSERT INTO bench_raw.dedupe (key) VALUES ($1) ON CONFLICT DO NOTHING', [randomUUID()]);
  const row = await client.query<{ data: { total: number } }>('SELECT data FROM bench_raw.state WHERE id = $1 FOR UPDATE', [id]);
  const total = (row.rows[0]?.data.total ?? 0) + 1;
  await client.query('UPDATE bench_raw.state SET data = $2, version = version + 1 WHERE id = $1', [id, JSON.stringify({ total })]);
  await client.query('INSERT INTO bench_raw.outgoing (target, payload) VALUES ($1, $2)', [target, JSON.stringify({ type: 'Reply', total })]);
  await client.query('COMMIT');
}

/** `clients` closed loops for `seconds`, each awaiting `op` before the next; latencies in ms. */
async function closedLoop(clients: number, seconds: number, op: (client: number) => Promise<void>) {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1_000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(c);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length };
}

/** `clients` closed loops on a connection each, running `step` (the keyed workloads' raw step by default). */
async function rawBaseline(pool: pg.Pool, clients: number, seconds: number, step: (client: pg.PoolClient) => Promise<void> = (client) => rawStep(client, `m${1 + Math.floor(Math.random() * config.BENCH_MACHINES)}`, 'client')) {
  const connections = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  try {
    return await closedLoop(clients, seconds, (c) => step(connections[c] as pg.PoolClient));
  } finally {
    for (const connection of connections) connection.release();
  }
}

/** A workload's figures beside its baseline's. */
function figures(stepsPerS: number, loop: { p50: number; p99: number }, base: { perSecond: number; p50: number; p99: number }, extra: Record<string, number>): Figures {
  return {
    steps_per_s: round(stepsPerS, 0),
    p50_ms: round(loop.p50),
    p99_ms: round(loop.p99),
    baseline_steps_per_s: round(base.perSecond, 0),
    baseline_p50_ms: round(base.p50),
    baseline_p99_ms: round(base.p99),
    ratio: round(stepsPerS / base.perSecond),
    ...extra,
  };
}

async function keyed(pool: pg.Pool, mode: 'request' | 'oneway'): Promise<Figures> {
  const schema = `bench_${mode === 'request' ? 'kreq' : 'kone'}`;
  await resetSchema(pool, schema);
  const rsm = runtime('bench-keyed', schema, [Account]);
  await rsm.start();
  try {
    await rsm.dataSource.query(
      `INSERT INTO "${schema}".rsm_machines (type, id, state, data, definition_version)
       SELECT 'Account', 'm' || i, 'Open', '{"total":0}', 1 FROM generate_series(1, ${config.BENCH_MACHINES}) i`,
    );
    const ref = () => Account.ref(`m${1 + Math.floor(Math.random() * config.BENCH_MACHINES)}`);
    // Warm up the connection pool and the JIT.
    await closedLoop(config.BENCH_CLIENTS, 1, async () => void (await rsm.request(ref(), { type: 'Add', n: 0 }, { key: randomUUID() })));
    const before = await totals(rsm.dataSource, schema);
    peakRss = 0;
    const started = performance.now();
    const loop =
      mode === 'request'
        ? await closedLoop(config.BENCH_CLIENTS, config.BENCH_SECONDS, async () => void (await rsm.request(ref(), { type: 'Add', n: 1 }, { key: randomUUID() })))
        : await closedLoop(config.BENCH_CLIENTS, config.BENCH_SECONDS, async () => void (await rsm.send(ref(), { type: 'Add', n: 1 }, { key: randomUUID() })));
    await rsm.idle();
    const elapsed = (performance.now() - started) / 1_000;
    const handled = (await totals(rsm.dataSource, schema)) - before;
    if (handled !== loop.count) throw new Error(`${mode}: ${loop.count} events accepted but ${handled} handled`);
    const rss = peakRss;
    await baselineTables(pool, config.BENCH_MACHINES);
    const base = await rawBaseline(pool, config.BENCH_CLIENTS, config.BENCH_SECONDS);
    return figures(handled / elapsed, loop, base, { peak_rss_mb: round(rss / 2 ** 20, 0) });
  } finally {
    await rsm.stop();
  }
}

/**
 * One machine that every client writes to, its data about 17 KB: the runtime steps it alone once
 * it is hot (batch.hotEvents), many events a transaction, on one parsed copy of its data. The
 * baseline does what a hand-written handler would: lock the row, read, change and write the
 * document, commit, one event a transaction.
 */
async function hotMachine(pool: pg.Pool): Promise<Figures> {
  const schema = 'bench_hot';
  await resetSchema(pool, schema);
  const rsm = runtime('bench-hot', schema, [Ledger]);
  await rsm.start();
  try {
    await rsm.create(Ledger.ref('hot'), { type: 'Open' });
    let key = 0;
    const note = async () => void (await rsm.send(Ledger.ref('hot'), { type: 'Note', key: (key += 1) }));
    await closedLoop(config.BENCH_CLIENTS, 1, note);
    const total = async () => ((await rsm.get(Ledger.ref('hot')))?.data.total ?? 0);
    const before = await total();
    const started = performance.now();
    const loop = await closedLoop(config.BENCH_CLIENTS, config.BENCH_SECONDS, note);
    await rsm.idle();
    const elapsed = (performance.now() - started) / 1_000;
    const handled = (await total()) - before;
    if (handled !== loop.count) throw new Error(`hot-machine: ${loop.count} events accepted but ${handled} handled`);
    const hotTransactions = (await rsm.metrics.hotTransactions.get()).values.reduce((sum, v) => sum + v.value, 0);
    await pool.query('DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw');
    await pool.query('CREATE TABLE bench_raw.state (id text PRIMARY KEY, data jsonb NOT NULL, version bigint NOT NULL DEFAULT 0)');
    await pool.query('INSERT INTO bench_raw.state (id, data) VALUES ($1, $2)', ['hot', JSON.stringify({ entries: ledgerEntries(), total: 0 })]);
    let baseKey = 0;
    const base = await rawBaseline(pool, config.BENCH_CLIENTS, config.BENCH_SECONDS, async (client) => {
      await client.query('BEGIN');
      const row = await client.query<{ data: { entries: Record<string, string>; total: number } }>('SELECT data FROM bench_raw.state WHERE id = $1 FOR UPDATE', ['hot']);
      const data = row.rows[0]?.data ?? { entries: {}, total: 0 };
      baseKey += 1;
      data.entries[`delivery-0123456789-${baseKey % LEDGER_ENTRIES}`] = `drone-${baseKey}`;
      data.total += 1;
      await client.query('UPDATE bench_raw.state SET data = $2, version = version + 1 WHERE id = $1', ['hot', JSON.stringify(data)]);
      await client.query('COMMIT');
    });
    return figures(handled / elapsed, loop, base, { events_per_transaction: round(handled / Math.max(1, hotTransactions), 1) });
  } finally {
    await rsm.stop();
  }
}

async function totals(dataSource: RsmRuntime['dataSource'], schema: string): Promise<number> {
  const rows = await dataSource.query<{ sum: string }[]>(`SELECT coalesce(sum((data->>'total')::bigint), 0) AS sum FROM "${schema}".rsm_machines`);
  return Number(rows[0]?.sum ?? 0);
}

async function pingpong(pool: pg.Pool): Promise<Figures> {
  await resetSchema(pool, 'bench_ping');
  await resetSchema(pool, 'bench_pong');
  const ping = runtime('bench-ping', 'bench_ping', [Ping], { Pong: 'bench-pong' });
  const pong = runtime('bench-pong', 'bench_pong', [Pong], { Ping: 'bench-ping' });
  await ping.start();
  await pong.start();
  try {
    await pong.create(Pong.ref('ball'), { type: 'Serve', hops: 0 });
    await ping.create(Ping.ref('ball'), { type: 'Serve', hops: 20 });
    const waitHops = async (n: number) => {
      const deadline = Date.now() + 120_000;
      while (hops.length < n) {
        if (Date.now() > deadline) throw new Error(`pingpong: ${hops.length} of ${n} hops`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await waitHops(21); // warm-up rally
    hops.length = 0;
    await ping.send(Ping.ref('ball'), { type: 'Serve', hops: config.BENCH_HOPS });
    await waitHops(config.BENCH_HOPS + 1);
    const gaps = hops.slice(1).map((t, i) => t - (hops[i] as number)).sort((a, b) => a - b);
    const total = (hops.at(-1) as number) - (hops[0] as number);
    await baselineTables(pool, 2);
    const client = await pool.connect();
    const baseLatencies: number[] = [];
    const baseStart = performance.now();
    try {
      for (let i = 0; i < config.BENCH_HOPS; i += 1) {
        const t = performance.now();
        await rawStep(client, i % 2 === 0 ? 'm1' : 'm2', i % 2 === 0 ? 'm2' : 'm1');
        baseLatencies.push(performance.now() - t);
      }
    } finally {
      client.release();
    }
    const baseTotal = (performance.now() - baseStart) / 1_000;
    baseLatencies.sort((a, b) => a - b);
    const hopsPerS = gaps.length / (total / 1_000);
    const basePerS = config.BENCH_HOPS / baseTotal;
    return figures(hopsPerS, { p50: percentile(gaps, 50), p99: percentile(gaps, 99) }, { perSecond: basePerS, p50: percentile(baseLatencies, 50), p99: percentile(baseLatencies, 99) }, {});
  } finally {
    await ping.stop();
    await pong.stop();
  }
}

/** Memory of idle machines: they live in Postgres only, so 100k of them cost the process nothing. */
async function idleMachines(pool: pg.Pool): Promise<Record<string, number>> {
  const schema = 'bench_idle';
  await resetSchema(pool, schema);
  const rsm = runtime('bench-idle', schema, [Account]);
  await rsm.start();
  try {
    await rsm.request(Account.ref('probe'), { type: 'Add', n: 0 }).catch(() => undefined);
    global.gc?.();
    const before = process.memoryUsage().rss;
    await rsm.dataSource.query(
      `INSERT INTO "${schema}".rsm_machines (type, id, state, data, definition_version)
       SELECT 'Account', 'idle' || i, 'Open', '{"total":0}', 1 FROM generate_series(1, ${config.BENCH_IDLE_MACHINES}) i`,
    );
    for (let i = 0; i < 1_000; i += 1) await rsm.request(Account.ref(`idle${1 + Math.floor(Math.random() * config.BENCH_IDLE_MACHINES)}`), { type: 'Add', n: 1 });
    global.gc?.();
    const after = process.memoryUsage().rss;
    return { idle_machines: config.BENCH_IDLE_MACHINES, rss_before_mb: round(before / 2 ** 20, 0), rss_after_mb: round(after / 2 ** 20, 0) };
  } finally {
    await rsm.stop();
  }
}

const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: config.BENCH_CLIENTS + 2 });
const settings = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
const only = config.BENCH_ONLY.split(',').filter((w) => w !== '');
const want = (name: string) => only.length === 0 || only.includes(name);
const workloads: Record<string, Figures> = {};
try {
  console.log(`rsm bench: ${config.BENCH_CLIENTS} clients, ${config.BENCH_MACHINES} machines, ${config.BENCH_SECONDS} s per keyed run, synchronous_commit=${settings.rows[0]?.synchronous_commit}`);
  if (want('pingpong')) workloads.pingpong = await pingpong(pool);
  if (want('keyed-request')) workloads['keyed-request'] = await keyed(pool, 'request');
  if (want('keyed-oneway')) workloads['keyed-oneway'] = await keyed(pool, 'oneway');
  if (want('hot-machine')) workloads['hot-machine'] = await hotMachine(pool);
  const memory = want('idle-machines') ? await idleMachines(pool) : undefined;
  let soaked: SoakResult | undefined;
  if (want('soak')) {
    console.log(`soak: ${config.BENCH_SOAK_SECONDS} s, ${config.BENCH_SOAK_RATE} requests/s offered, at most ${config.BENCH_SOAK_CLIENTS} in flight, ${config.BENCH_SOAK_RELAYS} relays, retention 20 s`);
    soaked = await soak(pool, { databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL, seconds: config.BENCH_SOAK_SECONDS, clients: config.BENCH_SOAK_CLIENTS, rate: config.BENCH_SOAK_RATE, relays: config.BENCH_SOAK_RELAYS, sinks: 500, sampleSeconds: 20 });
  }
  for (const [name, f] of Object.entries(workloads)) {
    console.log(
      `${name.padEnd(14)} ${String(f.steps_per_s).padStart(7)} steps/s  p50 ${f.p50_ms} ms  p99 ${f.p99_ms} ms | raw pg ${f.baseline_steps_per_s} steps/s  p50 ${f.baseline_p50_ms} ms  p99 ${f.baseline_p99_ms} ms | ratio ${f.ratio}${f.peak_rss_mb !== undefined ? ` | peak rss ${f.peak_rss_mb} MB` : ''}${f.events_per_transaction !== undefined ? ` | ${f.events_per_transaction} events per hot transaction` : ''}`,
    );
  }
  if (memory !== undefined) console.log(`idle machines  ${memory.idle_machines} in Postgres: rss ${memory.rss_before_mb} MB before, ${memory.rss_after_mb} MB after`);
  if (soaked !== undefined) console.log(`soak           ${soaked.requests} requests, ${soaked.steps} steps in ${soaked.seconds} s: ${soaked.verdict}`);
  if (soaked !== undefined && !soaked.flat) process.exitCode = 1;
  const out = join(import.meta.dirname, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ at: new Date().toISOString(), synchronous_commit: settings.rows[0]?.synchronous_commit, workloads, memory, soak: soaked }, null, 2)}\n`);
  console.log(`written to bench/results/latest.json`);
} finally {
  clearInterval(rssTimer);
  for (const schema of ['bench_raw', 'bench_kreq', 'bench_kone', 'bench_ping', 'bench_pong', 'bench_idle', 'bench_hot']) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
}
