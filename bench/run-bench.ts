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
import { Account, Ping, Pong, Sink, Source, hops } from './machines.js';
import { loadavg } from 'node:os';

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

type Tuning = Omit<ConstructorParameters<typeof RsmRuntime>[0], 'service' | 'postgres' | 'redis' | 'routes'>;

function runtime(service: string, schema: string, machines: Parameters<typeof RsmRuntime.prototype.register>[0][], routes: Record<string, string> = {}, tuning: Tuning = {}) {
  return new RsmRuntime(
    { ...tuning, service, postgres: { url: config.DATABASE_URL, schema, poolSize: 12 }, redis: { url: config.REDIS_URL, prefix: "rsm-bench", signingKeys: [signingKey] }, routes },
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

async function rawBaseline(pool: pg.Pool, clients: number, seconds: number) {
  const connections = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  try {
    return await closedLoop(clients, seconds, (c) => rawStep(connections[c] as pg.PoolClient, `m${1 + Math.floor(Math.random() * config.BENCH_MACHINES)}`, 'client'));
  } finally {
    for (const connection of connections) connection.release();
  }
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
    const stepsPerS = handled / elapsed;
    return {
      steps_per_s: round(stepsPerS, 0),
      p50_ms: round(loop.p50),
      p99_ms: round(loop.p99),
      baseline_steps_per_s: round(base.perSecond, 0),
      baseline_p50_ms: round(base.p50),
      baseline_p99_ms: round(base.p99),
      ratio: round(stepsPerS / base.perSecond),
      peak_rss_mb: round(rss / 2 ** 20, 0),
    };
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
    return {
      steps_per_s: round(hopsPerS, 0),
      p50_ms: round(percentile(gaps, 50)),
      p99_ms: round(percentile(gaps, 99)),
      baseline_steps_per_s: round(basePerS, 0),
      baseline_p50_ms: round(percentile(baseLatencies, 50)),
      baseline_p99_ms: round(percentile(baseLatencies, 99)),
      ratio: round(hopsPerS / basePerS),
    };
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


/** Retention of the soak run: short, so that the janitor deletes throughout the run. */
const SOAK_RETENTION = {
  cleanupIntervalMs: 5_000,
  stepHistoryMs: 30_000,
  requests: { retentionMs: 30_000 },
  delivery: { maxMessageAgeMs: 10_000 },
  retention: { quietPairsMs: 20_000 },
} as const;

interface SoakSample {
  at_s: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  tables: Record<string, number>;
}

/** Exact row counts of every rsm_* table of the soak's two schemas (a benchmark may count). */
async function rsmTableCounts(pool: pg.Pool, schemas: string[]): Promise<Record<string, number>> {
  const tables = await pool.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
     WHERE table_schema = ANY($1) AND table_name LIKE 'rsm\\_%' AND table_name <> 'rsm_migrations' ORDER BY 2, 1`,
    [schemas],
  );
  const counts: Record<string, number> = {};
  for (const { schema, name } of tables.rows) {
    const row = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"."${name}"`);
    counts[name] = (counts[name] ?? 0) + Number(row.rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * Soak: `BENCH_SOAK_CLIENTS` closed loops send Emit to random Sources of one service, each forwarding a
 * Tick to a Sink of another that changes every 30 s (so pairs keep starting, going quiet and
 * retiring while events cross the outbox, Redis and the inbox), for `BENCH_SOAK_SECONDS`, with the janitor on short retention. Every sample window
 * gives step latency (send to commit), events/s and the row count of every rsm_* table.
 */
async function soak(pool: pg.Pool) {
  const schemas = ['bench_soak_a', 'bench_soak_b'];
  for (const schema of schemas) await resetSchema(pool, schema);
  const a = runtime('bench-soak-a', 'bench_soak_a', [Source], { Sink: 'bench-soak-b' }, SOAK_RETENTION);
  const b = runtime('bench-soak-b', 'bench_soak_b', [Sink], { Source: 'bench-soak-a' }, SOAK_RETENTION);
  await a.start();
  await b.start();
  await pool.query(`INSERT INTO bench_soak_a.rsm_machines (type, id, state, data, definition_version)
    SELECT 'Source', 's' || i, 'Open', '{"sent":0}', 1 FROM generate_series(1, ${config.BENCH_SOAK_SOURCES}) i`);
  await pool.query(`INSERT INTO bench_soak_b.rsm_machines (type, id, state, data, definition_version)
    SELECT 'Sink', 'k' || i, 'Open', '{"total":0}', 1 FROM generate_series(1, ${config.BENCH_SOAK_SINKS}) i`);
  const samples: SoakSample[] = [];
  try {
    const pick = (n: number) => 1 + Math.floor(Math.random() * n);
    let window: number[] = [];
    let total = 0;
    const started = performance.now();
    const deadline = started + config.BENCH_SOAK_SECONDS * 1_000;
    let lastSample = started;
    const sampler = (async () => {
      while (performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(config.BENCH_SOAK_SAMPLE_SECONDS * 1_000, Math.max(0, deadline - performance.now()))));
        const now = performance.now();
        const lat = window.sort((x, y) => x - y);
        window = [];
        const sample = { at_s: round((now - started) / 1_000, 0), events_per_s: round(lat.length / ((now - lastSample) / 1_000), 0), p50_ms: round(percentile(lat, 50)), p99_ms: round(percentile(lat, 99)), tables: await rsmTableCounts(pool, schemas) };
        lastSample = now;
        samples.push(sample);
        console.log(`soak ${String(sample.at_s).padStart(4)} s  ${String(sample.events_per_s).padStart(5)} ev/s  p50 ${sample.p50_ms} ms  p99 ${sample.p99_ms} ms  ${Object.entries(sample.tables).filter(([, n]) => n > 0).map(([t, n]) => `${t.replace('rsm_', '')}=${n}`).join(' ')}`);
      }
    })();
    // Back-pressure: the loops feed the sending service only, so they pause while the receiving
    // one is behind (more than BENCH_SOAK_MAX_OUTBOX rows unacknowledged); the soak measures the
    // load both services sustain, not a backlog growing at the rate one outruns the other.
    let behind = false;
    const watch = setInterval(() => {
      pool.query<{ n: string }>(`SELECT count(*) AS n FROM (SELECT 1 FROM bench_soak_a.rsm_outbox LIMIT ${config.BENCH_SOAK_MAX_OUTBOX + 1}) x`)
        .then((r) => void (behind = Number(r.rows[0]?.n ?? 0) > config.BENCH_SOAK_MAX_OUTBOX), () => undefined);
    }, 250);
    await Promise.all(
      Array.from({ length: config.BENCH_SOAK_CLIENTS }, async () => {
        while (performance.now() < deadline) {
          if (behind) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            continue;
          }
          const t = performance.now();
          // Each Source talks to one Sink per 30 s generation, then moves on: the old pairs go quiet and retire.
          const source = pick(config.BENCH_SOAK_SOURCES);
          const generation = Math.floor((performance.now() - started) / 30_000);
          const sink = 1 + ((source * 7 + generation * 13) % config.BENCH_SOAK_SINKS);
          await a.send(Source.ref(`s${source}`), { type: 'Emit', to: `k${sink}` });
          window.push(performance.now() - t);
          total += 1;
        }
      }),
    );
    clearInterval(watch);
    await sampler;
    const elapsed = (performance.now() - started) / 1_000;
    // Every event reached its Sink exactly once.
    const waitUntil = Date.now() + 300_000;
    let delivered = 0;
    while (Date.now() < waitUntil) {
      const rows = await pool.query<{ n: string }>(`SELECT coalesce(sum((data->>'total')::bigint), 0) AS n FROM bench_soak_b.rsm_machines`);
      delivered = Number(rows.rows[0]?.n ?? 0);
      if (delivered >= total) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (delivered !== total) throw new Error(`soak: ${total} events sent, ${delivered} delivered`);
    return { samples, total, elapsed };
  } finally {
    await a.stop();
    await b.stop();
  }
}

/**
 * Flat means: the last third's median p50 and p99 within 1.5x of the first third's (warm-up
 * sample excluded), and every table's largest count in the last third at most 1.25x its largest in
 * the middle third (plus 200 rows of slack) and within the bound of its retention.
 */
function soakVerdict(samples: SoakSample[], peakRate: number) {
  const body = samples.slice(1);
  const third = Math.max(1, Math.floor(body.length / 3));
  const first = body.slice(0, third);
  const middle = body.slice(third, body.length - third);
  const last = body.slice(body.length - third);
  const median = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 50);
  const p50Ratio = median(last.map((s) => s.p50_ms)) / median(first.map((s) => s.p50_ms));
  const p99Ratio = median(last.map((s) => s.p99_ms)) / median(first.map((s) => s.p99_ms));
  const r = SOAK_RETENTION;
  // Rows a table can hold at most: what arrives (<= peak events/s) during its retention plus two janitor rounds and a sample.
  const slack = 2 * r.cleanupIntervalMs + config.BENCH_SOAK_SAMPLE_SECONDS * 1_000;
  const bounds: Record<string, number> = {
    rsm_steps: (peakRate * 2 * (r.stepHistoryMs + slack)) / 1_000,
    rsm_send_seq: (peakRate * (r.retention.quietPairsMs + slack)) / 1_000,
    rsm_recv_seq: (peakRate * (r.retention.quietPairsMs + 3 * r.delivery.maxMessageAgeMs + 2 * slack)) / 1_000,
    rsm_machines: config.BENCH_SOAK_SOURCES + config.BENCH_SOAK_SINKS,
  };
  const tables = Object.keys(samples[0]?.tables ?? {}).map((table) => {
    const max = (xs: SoakSample[]) => Math.max(0, ...xs.map((s) => s.tables[table] ?? 0));
    const flat = max(last) <= 1.25 * max(middle.length > 0 ? middle : first) + 200;
    const bound = bounds[table];
    const bounded = bound === undefined || max(body) <= bound;
    return { table, middle_max: max(middle), last_max: max(last), bound: bound === undefined ? null : Math.round(bound), ok: flat && bounded };
  });
  const ok = p50Ratio <= 1.5 && p99Ratio <= 1.5 && tables.every((t) => t.ok);
  return { ok, p50_ratio: round(p50Ratio), p99_ratio: round(p99Ratio), tables };
}

const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: config.BENCH_CLIENTS + 2 });
const settings = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
// Cases from the command line (`npm run bench -- soak`) or BENCH_ONLY; the long soak runs only when named.
const args = process.argv.slice(2).filter((w) => !w.startsWith('-'));
const only = (args.length > 0 ? args : config.BENCH_ONLY.split(',')).filter((w) => w !== '');
const want = (name: string) => (only.length === 0 && name !== 'soak') || only.includes(name);
let soakResult: Record<string, unknown> | undefined;
const workloads: Record<string, Figures> = {};
try {
  console.log(`rsm bench: ${config.BENCH_CLIENTS} clients, ${config.BENCH_MACHINES} machines, ${config.BENCH_SECONDS} s per keyed run, synchronous_commit=${settings.rows[0]?.synchronous_commit}`);
  if (want('pingpong')) workloads.pingpong = await pingpong(pool);
  if (want('keyed-request')) workloads['keyed-request'] = await keyed(pool, 'request');
  if (want('keyed-oneway')) workloads['keyed-oneway'] = await keyed(pool, 'oneway');
  const memory = want('idle-machines') ? await idleMachines(pool) : undefined;
  if (want('soak')) {
    const load = loadavg().map((x) => round(x));
    console.log(`soak: ${config.BENCH_SOAK_SECONDS} s, ${config.BENCH_SOAK_CLIENTS} clients, ${config.BENCH_SOAK_SOURCES} sources -> ${config.BENCH_SOAK_SINKS} sinks, retention ${JSON.stringify(SOAK_RETENTION)}, load average ${load.join(' ')}`);
    const run = await soak(pool);
    const peak = Math.max(...run.samples.map((x) => x.events_per_s));
    const verdict = soakVerdict(run.samples, peak);
    await baselineTables(pool, config.BENCH_MACHINES);
    const base = await rawBaseline(pool, config.BENCH_CLIENTS, 20);
    const loadAfter = loadavg().map((x) => round(x));
    console.log(`soak: ${run.total} events in ${round(run.elapsed, 0)} s (${round(run.total / run.elapsed, 0)} events/s, 2 steps each) | raw pg ${round(base.perSecond, 0)} steps/s  p50 ${round(base.p50)} ms  p99 ${round(base.p99)} ms | load average after ${loadAfter.join(' ')}`);
    for (const t of verdict.tables) console.log(`  ${t.table.padEnd(18)} middle-third max ${String(t.middle_max).padStart(7)}  last-third max ${String(t.last_max).padStart(7)}  bound ${t.bound ?? '-'}  ${t.ok ? 'ok' : 'GROWING'}`);
    console.log(`soak verdict: ${verdict.ok ? 'FLAT' : 'NOT FLAT'} (last/first third median p50 x${verdict.p50_ratio}, p99 x${verdict.p99_ratio}; limit x1.5; tables within 1.25x of the middle third and their retention bound)`);
    soakResult = { events: run.total, seconds: round(run.elapsed, 0), load_before: load, load_after: loadAfter, baseline_steps_per_s: round(base.perSecond, 0), baseline_p50_ms: round(base.p50), baseline_p99_ms: round(base.p99), verdict, samples: run.samples };
  }
  for (const [name, f] of Object.entries(workloads)) {
    console.log(
      `${name.padEnd(14)} ${String(f.steps_per_s).padStart(7)} steps/s  p50 ${f.p50_ms} ms  p99 ${f.p99_ms} ms | raw pg ${f.baseline_steps_per_s} steps/s  p50 ${f.baseline_p50_ms} ms  p99 ${f.baseline_p99_ms} ms | ratio ${f.ratio}${f.peak_rss_mb !== undefined ? ` | peak rss ${f.peak_rss_mb} MB` : ''}`,
    );
  }
  if (memory !== undefined) console.log(`idle machines  ${memory.idle_machines} in Postgres: rss ${memory.rss_before_mb} MB before, ${memory.rss_after_mb} MB after`);
  const out = join(import.meta.dirname, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = only.length === 1 && only[0] === 'soak' ? 'soak.json' : 'latest.json';
  writeFileSync(join(out, file), `${JSON.stringify({ at: new Date().toISOString(), synchronous_commit: settings.rows[0]?.synchronous_commit, workloads, memory, soak: soakResult }, null, 2)}\n`);
  console.log(`written to bench/results/${file}`);
} finally {
  clearInterval(rssTimer);
  for (const schema of ['bench_raw', 'bench_kreq', 'bench_kone', 'bench_ping', 'bench_pong', 'bench_idle', 'bench_soak_a', 'bench_soak_b']) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
}
