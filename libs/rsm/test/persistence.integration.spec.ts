import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { newMachineRow } from '../src/planning/machine-registry.js';
import { ActivityStore } from '../src/store/activity-store.js';
import { AdminStore } from '../src/store/admin-store.js';
import { CombinedWrite } from '../src/store/combined-write.js';
import { BullmqTransport } from '../src/delivery/bullmq-transport.js';
import { OutboxRelay } from '../src/delivery/outbox-relay.js';
import { recordset } from '../src/store/recordset.js';
import { MaintenanceStore } from '../src/store/maintenance-store.js';
import { insertNewMachines, insertNewMachinesSql } from '../src/store/step-store.js';
import { tableNames } from '../src/store/table-names.js';
import { TimerPoller } from '../src/timers/timer-poller.js';
import { inTransaction } from '../src/store/transaction.js';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

const schema = `rsm_sql_${process.pid}`;

describe('SQL building blocks of the runtime', () => {
  const pool = testPool();
  before(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
    // A pair-counter table of the size a suite reaches after a few thousand deliveries.
    await pool.query(`CREATE TABLE ${schema}.pairs (sender text, receiver text, last_seq bigint NOT NULL, PRIMARY KEY (sender, receiver))`);
    await pool.query(`INSERT INTO ${schema}.pairs SELECT 'S/' || g, 'R/' || g, g FROM generate_series(1, 20000) g`);
    await pool.query(`CREATE TABLE ${schema}.log (n int)`);
    await pool.query(`ANALYZE ${schema}.pairs`);
  });
  after(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  const plan = async (sql: string, param: string) =>
    (await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [param])).rows.map((row) => row['QUERY PLAN']).join('\n');

  it('recordset: a join of a few keys probes the index where plain jsonb_to_recordset scans the table', async () => {
    const keys = [{ sender: 'S/7', receiver: 'R/7' }, { sender: 'S/9', receiver: 'R/9' }];
    const json = JSON.stringify(keys);
    const plain = await plan(`SELECT c.* FROM ${schema}.pairs c JOIN jsonb_to_recordset($1::jsonb) AS p(sender text, receiver text) ON c.sender = p.sender AND c.receiver = p.receiver`, json);
    const sized = await plan(`SELECT c.* FROM ${schema}.pairs c JOIN ${recordset('$1', 'sender text, receiver text', keys)} p ON c.sender = p.sender AND c.receiver = p.receiver`, json);
    // The baseline shows what the helper is for: if Postgres ever sizes jsonb_to_recordset right, this documents it.
    assert.match(plain, /Seq Scan on pairs/);
    assert.match(sized, /Index Scan using pairs_pkey/);
    assert.doesNotMatch(sized, /Seq Scan on pairs/);
    const rows = await pool.query<{ last_seq: string }>(
      `SELECT c.last_seq FROM ${schema}.pairs c JOIN ${recordset('$1', 'sender text, receiver text', keys)} p ON c.sender = p.sender AND c.receiver = p.receiver ORDER BY c.last_seq`,
      [json],
    );
    assert.deepEqual(rows.rows.map((r) => r.last_seq), ['7', '9'], 'the LIMIT drops no row');
  });

  it('CombinedWrite: independent writes run as one statement, all or nothing', async () => {
    const write = new CombinedWrite();
    write.add(`UPDATE ${schema}.pairs SET last_seq = last_seq + 1 WHERE sender = ${write.param('S/1')}`);
    write.add(`INSERT INTO ${schema}.log (n) SELECT unnest(${write.param([1, 2, 3])}::int[])`);
    write.add(`DELETE FROM ${schema}.pairs WHERE sender = ${write.param('S/2')}`);
    assert.equal(write.size, 3);
    await inTransaction(pool, (client) => write.run(client));
    const state = await pool.query<{ s1: string; s2: string; logged: string }>(
      `SELECT (SELECT last_seq FROM ${schema}.pairs WHERE sender = 'S/1') AS s1, (SELECT count(*) FROM ${schema}.pairs WHERE sender = 'S/2') AS s2, (SELECT count(*) FROM ${schema}.log) AS logged`,
    );
    assert.deepEqual(state.rows[0], { s1: '2', s2: '0', logged: '3' });

    // One failing part fails the whole statement: nothing of the others is left behind.
    const failing = new CombinedWrite();
    failing.add(`INSERT INTO ${schema}.log (n) VALUES (${failing.param(4)})`);
    failing.add(`INSERT INTO ${schema}.pairs (sender, receiver, last_seq) VALUES ('S/3', 'R/3', 0)`);
    await assert.rejects(inTransaction(pool, (client) => failing.run(client)), /duplicate key/);
    assert.equal((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.log`)).rows[0]?.n, '3');

    await inTransaction(pool, (client) => new CombinedWrite().run(client));
  });
});

describe('statements on tables the size of a long run', () => {
  const schema = uniqueSchema('sized');
  const pool = testPool();
  const tables = tableNames(schema);
  before(async () => {
    // The runtime's own migrations make the tables; then the machines table gets what some
    // minutes of a suite leave in it (halted machines are kept for 30 days by default).
    const runtime = await startRuntime({ service: 'sized', schema, prefix: uniquePrefix('sized'), machines: [Counter] });
    await runtime.stop();
    await pool.query(
      `INSERT INTO ${tables.machines} (type, id, state, data, definition_version, status)
       SELECT 'Counter', 'c-' || g, 'Done', '{"count": 1, "note": "some data of a delivery"}', 1, 'halted' FROM generate_series(1, 10000) g`,
    );
    await pool.query(`ANALYZE ${tables.machines}`);
  });
  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  it('creating machines probes the key index, in custom and generic plans, and creates only the missing ones', async () => {
    const rows = [newMachineRow(Counter, { type: 'Counter', id: 'c-17' }), newMachineRow(Counter, { type: 'Counter', id: 'fresh-1' })];
    const sql = insertNewMachinesSql(tables, rows);
    const json = JSON.stringify(rows);
    const custom = await explain(pool, sql, json);
    assert.doesNotMatch(custom, /Seq Scan on rsm_machines/, custom);
    assert.match(custom, /rsm_machines_pkey/, custom);
    const client = await pool.connect();
    try {
      await client.query(`SET plan_cache_mode = force_generic_plan; PREPARE sized_insert(jsonb) AS ${sql}`);
      const generic = (await client.query<{ 'QUERY PLAN': string }>('EXPLAIN EXECUTE sized_insert($$[]$$)')).rows.map((row) => row['QUERY PLAN']).join('\n');
      assert.doesNotMatch(generic, /Seq Scan on rsm_machines/, generic);
      assert.match(generic, /rsm_machines_pkey/, generic);
    } finally {
      await client.query('DEALLOCATE ALL; RESET plan_cache_mode');
      client.release();
    }

    const created = await inTransaction(pool, (c) => insertNewMachines(c, tables, rows));
    assert.deepEqual([...created], ['Counter/fresh-1']);
    const stored = await pool.query<{ id: string; state: string }>(`SELECT id, state FROM ${tables.machines} WHERE id IN ('c-17', 'fresh-1') ORDER BY id`);
    assert.deepEqual(stored.rows, [{ id: 'c-17', state: 'Done' }, { id: 'fresh-1', state: 'Open' }], 'an existing machine is left as it is');
  });

  it('claims only calls of activities this process runs, leaving a newer release\'s with their attempts', async () => {
    const store = new ActivityStore(pool, tables);
    await pool.query(
      `INSERT INTO ${tables.activities} (machine_type, machine_id, activity, call_id, idempotency_key, input, next_attempt_at)
       VALUES ('Counter', 'a-1', 'known', 'known#1', 'k-known', '{}', now() - interval '1 second'),
              ('Counter', 'a-1', 'newer', 'newer#1', 'k-newer', '{}', now() - interval '2 seconds')`,
    );
    assert.deepEqual(await store.claimDue(10, 60_000, null, []), [], 'a process running no activity claims nothing');
    const claimed = await store.claimDue(10, 60_000, null, ['known']);
    assert.deepEqual(claimed.map((c) => [c.activity, c.attempts]), [['known', 1]]);
    const left = await pool.query<{ attempts: number; due: boolean }>(`SELECT attempts, next_attempt_at <= now() AS due FROM ${tables.activities} WHERE activity = 'newer'`);
    assert.deepEqual(left.rows, [{ attempts: 0, due: true }], 'the other call is untouched, due for a process that runs it');
    await pool.query(`DELETE FROM ${tables.activities}`);
  });

  it('listing a type in several states pages by id and lists each machine once', async () => {
    const admin = new AdminStore(pool, tables);
    await pool.query(
      `INSERT INTO ${tables.machines} (type, id, state, data, definition_version)
       VALUES ('Listed', 'l-1', 'Open', '{"count": 0}', 1), ('Listed', 'l-2', 'Counting', '{"count": 1}', 1), ('Listed', 'l-3', 'Open', '{"count": 0}', 1)`,
    );
    const first = await admin.listOfType('Listed', { state: ['Open', 'Counting'], limit: 2 });
    assert.deepEqual(first.map((m) => [m.id, m.state]), [['l-1', 'Open'], ['l-2', 'Counting']]);
    // l-1 moves to a state listed later, as a drone changes leg between two pages: not listed twice.
    await pool.query(`UPDATE ${tables.machines} SET state = 'Counting' WHERE id = 'l-1'`);
    const second = await admin.listOfType('Listed', { state: ['Open', 'Counting'], limit: 2, afterId: 'l-2' });
    assert.deepEqual(second.map((m) => [m.id, m.state]), [['l-3', 'Open']]);
    assert.deepEqual((await admin.listOfType('Listed', { state: 'Counting', limit: 10 })).map((m) => m.id), ['l-1', 'l-2'], 'one state as before');
    assert.deepEqual(await admin.listOfType('Listed', { state: [], limit: 10 }), [], 'no state: nothing');
    await pool.query(`DELETE FROM ${tables.machines} WHERE type = 'Listed'`);
  });

  it('inbox recovery finds each machine with old events once, past a faulted machine and a long backlog', async () => {
    const maintenance = new MaintenanceStore(pool, tables, {} as never);
    await pool.query(`DELETE FROM ${tables.inbox}`);
    await pool.query(
      `INSERT INTO ${tables.machines} (type, id, state, data, definition_version, status)
       VALUES ('Counter', 'r-faulted', 'Open', '{"count": 0}', 1, 'faulted'), ('Counter', 'r-busy', 'Open', '{"count": 0}', 1, 'active'),
              ('Counter', 'r-lost', 'Open', '{"count": 0}', 1, 'active')`,
    );
    // Oldest first: 600 events behind a fault, 600 of a machine that has a backlog, then one whose
    // doorbell Redis lost. Only what is older than the grace counts, and not a retry's wait.
    await pool.query(
      `INSERT INTO ${tables.inbox} (machine_type, machine_id, event, created_at)
       SELECT 'Counter', id, '{"type": "Add", "n": 1}', now() - interval '1 hour' + make_interval(secs => g)
       FROM (VALUES ('r-faulted', 0), ('r-busy', 1000), ('r-lost', 2000)) AS m(id, base), generate_series(1, 600) g
       WHERE g <= CASE WHEN id = 'r-lost' THEN 1 ELSE 600 END`,
    );
    await pool.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event) VALUES ('Counter', 'r-fresh', '{"type": "Add", "n": 1}')`);
    await pool.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event, created_at, not_before) VALUES ('Counter', 'r-waits', '{"type": "Add", "n": 1}', now() - interval '2 hours', now() + interval '1 minute')`);
    // A type this process does not run (a newer release's, rolling out): left to the processes that run it.
    await pool.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event, created_at) VALUES ('Future', 'r-newer', '{"type": "Go"}', now() - interval '2 hours')`);
    const found = await maintenance.unattendedInbox(2_000, [{ type: 'Counter', oldest: 1, current: 1 }]);
    assert.deepEqual(found, ['Counter/r-busy', 'Counter/r-lost']);
    await pool.query(`DELETE FROM ${tables.inbox}; DELETE FROM ${tables.machines} WHERE id LIKE 'r-%'`);
  });

  it('the outbox sweep publishes to each destination that takes it, and backs off one whose queue refuses every write', async () => {
    await pool.query(`DELETE FROM ${tables.outbox}`);
    const message = (to: string) => JSON.stringify({ kind: 'event', sender: { type: 'Counter', id: 'c-1' }, to: { type: 'Remote', id: to }, seq: 1, epoch: 1, event: { type: 'E' } });
    await pool.query(
      `INSERT INTO ${tables.outbox} (destination, message, next_attempt_at) VALUES ('broken', $1, now() - interval '1 minute'), ('fine', $2, now() - interval '1 minute')`,
      [message('b'), message('f')],
    );
    const published: string[] = [];
    const transport = {
      publish: async (destination: string) => {
        await Promise.resolve();
        if (destination === 'broken') throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
        published.push(destination);
      },
    };
    const warnings: string[] = [];
    const logger = { ...quietLogger, warn: (_o: unknown, message?: string) => void warnings.push(message ?? '') };
    const relay = new OutboxRelay(pool, tables, transport as never, 'sized', 200, 1_000, 100, logger, undefined, () => undefined);
    assert.equal(await relay.sweep(), 2);
    assert.deepEqual(published, ['fine']);
    assert.match(warnings.join('\n'), /publishing to some destinations failed/);
    const rows = await pool.query<{ destination: string; attempts: number; later: boolean }>(`SELECT destination, attempts, next_attempt_at > now() AS later FROM ${tables.outbox} ORDER BY destination`);
    assert.deepEqual(rows.rows, [{ destination: 'broken', attempts: 1, later: true }, { destination: 'fine', attempts: 1, later: true }], 'both wait for their next attempt');
    // Every destination failing (Redis down): the sweep fails and nothing is pushed back.
    await pool.query(`UPDATE ${tables.outbox} SET next_attempt_at = now() - interval '1 minute' WHERE destination = 'broken'`);
    await assert.rejects(relay.sweep(), /WRONGTYPE/);
    assert.equal((await pool.query<{ attempts: number }>(`SELECT attempts FROM ${tables.outbox} WHERE destination = 'broken'`)).rows[0]?.attempts, 1);
    await pool.query(`DELETE FROM ${tables.outbox}`);
  });

  it('the outbox sweep publishes no more copies to a service whose queue already holds many jobs, and counts them', async () => {
    await pool.query(`DELETE FROM ${tables.outbox}`);
    const message = (to: string) => JSON.stringify({ kind: 'event', sender: { type: 'Counter', id: 'c-1' }, to: { type: 'Remote', id: to }, seq: 1, epoch: 1, event: { type: 'E' } });
    await pool.query(
      `INSERT INTO ${tables.outbox} (destination, message, next_attempt_at) VALUES ('away', $1, now() - interval '1 minute'), ('away', $2, now() - interval '1 minute'), ('fine', $3, now() - interval '1 minute')`,
      [message('a1'), message('a2'), message('f')],
    );
    const queued = new Map([['away', 5], ['fine', 4]]);
    const published: string[] = [];
    const transport = {
      queuedJobs: async (destination: string) => Promise.resolve(queued.get(destination) ?? 0),
      publish: async (destination: string) => void published.push(await Promise.resolve(destination)),
    };
    const heldBack: [string, number][] = [];
    const relay = new OutboxRelay(pool, tables, transport as never, 'sized', 200, 1_000, 100, quietLogger, undefined, () => undefined, 5, (destination, n) => void heldBack.push([destination, n]));
    assert.equal(await relay.sweep(), 3);
    assert.deepEqual(published, ['fine'], 'a queue under the bound gets its copies');
    assert.deepEqual(heldBack, [['away', 2]]);
    const rows = await pool.query<{ destination: string; later: boolean }>(`SELECT destination, next_attempt_at > now() AS later FROM ${tables.outbox} ORDER BY destination, id`);
    assert.deepEqual(rows.rows.map((r) => [r.destination, r.later]), [['away', true], ['away', true], ['fine', true]], 'held-back rows wait for their next attempt, still in the outbox');
    // Once the queue drained, the next sweep sends them.
    queued.set('away', 0);
    await pool.query(`UPDATE ${tables.outbox} SET next_attempt_at = now() - interval '1 minute'`);
    await relay.sweep();
    assert.deepEqual(published.sort(), ['away', 'fine', 'fine']);
    await pool.query(`DELETE FROM ${tables.outbox}`);

    // The same against a real queue in Redis, whose service takes nothing (it is away).
    const real = new BullmqTransport(
      { service: 'sized', redis: { url: testConfig.REDIS_URL }, prefix: uniquePrefix('held'), inboundConcurrency: 1, worker: false, jobLockMs: 2_000, stalledCheckMs: 1_000, signingKeys: TEST_SIGNING_KEYS, maxMessageAgeMs: 60_000, commandTimeoutMs: 5_000, onRefused: () => undefined },
      quietLogger,
    );
    await real.start({ inbound: async () => undefined, acks: () => undefined, drain: async () => undefined, reply: () => undefined });
    try {
      const realHeldBack: number[] = [];
      const realRelay = new OutboxRelay(pool, tables, real, 'sized', 200, 1_000, 100, quietLogger, undefined, () => undefined, 2, (_destination, n) => void realHeldBack.push(n));
      await pool.query(`INSERT INTO ${tables.outbox} (destination, message, next_attempt_at) VALUES ('away', $1, now() - interval '1 minute')`, [message('a')]);
      for (let sweep = 0; sweep < 5; sweep += 1) {
        await realRelay.sweep();
        await pool.query(`UPDATE ${tables.outbox} SET next_attempt_at = now() - interval '1 minute'`);
      }
      assert.equal(await real.queuedJobs('away'), 2, 'two copies published, then none while they wait');
      assert.deepEqual(realHeldBack, [1, 1, 1]);
    } finally {
      await real.stop();
      await pool.query(`DELETE FROM ${tables.outbox}`);
    }
  });

  it('a timer poll that finds nothing due is one read, not a transaction; a due timer fires once', async () => {
    const counted = { connects: 0, queries: 0 };
    // What the poller asks of the pool: `connect` for a transaction, `query` for a read on its own.
    const spy = new Proxy(pool, {
      get(target, key, receiver) {
        if (key === 'connect') counted.connects += 1;
        if (key === 'query') counted.queries += 1;
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const poller = new TimerPoller(spy, tables, undefined);
    await pool.query(`DELETE FROM ${tables.timers}`);
    assert.deepEqual(await poller.poll(), { woken: [], next: undefined, full: false });
    assert.deepEqual(counted, { connects: 0, queries: 1 }, 'no timers: one read');

    await pool.query(`INSERT INTO ${tables.timers} (machine_type, machine_id, name, fire_at) VALUES ('Counter', 'timer-1', 'later', now() + interval '1 hour')`);
    const later = (await pool.query<{ at: Date }>(`SELECT fire_at AS at FROM ${tables.timers}`)).rows[0]?.at.getTime();
    assert.deepEqual(await poller.poll(), { woken: [], next: later, full: false });
    assert.deepEqual(counted, { connects: 0, queries: 2 }, 'nothing due: one read, and the time to wake');

    // Due by the database's clock, as a timer another process started (no local wake-up).
    await pool.query(`INSERT INTO ${tables.timers} (machine_type, machine_id, name, fire_at) VALUES ('Counter', 'timer-2', 'now', now() - interval '1 second')`);
    await pool.query(`INSERT INTO ${tables.timers} (machine_type, machine_id, name, fire_at, payload) VALUES ('Counter', 'timer-3', 'nulls', now() - interval '1 second', '{"droneId": null, "leg": {"at": null}}')`);
    assert.deepEqual((await poller.poll()).woken.sort(), ['Counter/timer-2', 'Counter/timer-3']);
    assert.equal(counted.connects, 1, 'a due timer is fired in a transaction');
    const inbox = await pool.query<{ machine_id: string; event: unknown }>(`SELECT machine_id, event FROM ${tables.inbox} WHERE timer_name IS NOT NULL`);
    // A payload's null fields stay, as the in-memory runtimes keep them; no payload, no field.
    assert.deepEqual(inbox.rows.sort((a, b) => a.machine_id.localeCompare(b.machine_id)), [
      { machine_id: 'timer-2', event: { type: 'Timeout', name: 'now' } },
      { machine_id: 'timer-3', event: { type: 'Timeout', name: 'nulls', payload: { droneId: null, leg: { at: null } } } },
    ]);
    assert.deepEqual(await poller.poll(), { woken: [], next: later, full: false }, 'fired once');
    assert.equal(counted.connects, 1);

    // A periodic timer whose machine does not take its Timeouts (faulted, say): one waits in the
    // inbox however many periods pass, and the timer keeps its period; a one-shot timer fires as ever.
    await pool.query(`DELETE FROM ${tables.inbox}; DELETE FROM ${tables.timers}`);
    await pool.query(`INSERT INTO ${tables.timers} (machine_type, machine_id, name, fire_at, period_ms) VALUES ('Counter', 'timer-4', 'tick', now() - interval '1 second', 1000)`);
    for (let period = 0; period < 3; period += 1) {
      assert.deepEqual((await poller.poll()).woken, ['Counter/timer-4']);
      await pool.query(`UPDATE ${tables.timers} SET fire_at = now() - interval '1 second' WHERE name = 'tick'`);
    }
    await pool.query(`INSERT INTO ${tables.timers} (machine_type, machine_id, name, fire_at) VALUES ('Counter', 'timer-4', 'once', now() - interval '1 second')`);
    await poller.poll();
    const fired = await pool.query<{ name: string; n: number }>(`SELECT timer_name AS name, count(*)::int AS n FROM ${tables.inbox} GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(fired.rows, [{ name: 'once', n: 1 }, { name: 'tick', n: 1 }]);
    assert.equal((await pool.query(`SELECT 1 FROM ${tables.timers} WHERE name = 'tick' AND fire_at > now()`)).rowCount, 1, 'the periodic timer moved on');
    // Handled (its row gone), the next period fires again.
    await pool.query(`DELETE FROM ${tables.inbox} WHERE timer_name = 'tick'; UPDATE ${tables.timers} SET fire_at = now() - interval '1 second' WHERE name = 'tick'`);
    await poller.poll();
    assert.equal((await pool.query(`SELECT 1 FROM ${tables.inbox} WHERE timer_name = 'tick'`)).rowCount, 1);
    await pool.query(`DELETE FROM ${tables.inbox}; DELETE FROM ${tables.timers}`);
  });
});

async function explain(pool: pg.Pool, sql: string, param: string): Promise<string> {
  return (await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [param])).rows.map((row) => row['QUERY PLAN']).join('\n');
}

describe('machine rows', () => {
  const schema = uniqueSchema('hot');
  const pool = testPool();
  const tables = tableNames(schema);
  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  it('a step that keeps its machine in its state updates the row in place (HOT), not through every index', async () => {
    const rsm = await startRuntime({ service: 'hot', schema, prefix: uniquePrefix('hot'), machines: [Counter] });
    const steps = 40;
    try {
      await rsm.create(Counter.ref('c'), { type: 'Open' });
      for (let i = 1; i <= steps; i += 1) assert.equal(await rsm.request(Counter.ref('c'), { type: 'Add', n: 1 }), i);
    } finally {
      await rsm.stop();
    }
    // Table statistics reach the view once the runtime's connections report them (on idle or exit).
    const counts = await waitFor('the steps in the table statistics', async () => {
      const row = (await pool.query<{ updated: string; hot: string }>(
        `SELECT n_tup_upd AS updated, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relid = to_regclass($1)`,
        [tables.machines],
      )).rows[0];
      return row !== undefined && Number(row.updated) >= steps ? { updated: Number(row.updated), hot: Number(row.hot) } : undefined;
    }, 30_000);
    // Before the halted_at migration, `updated_at` (moved by every step) was an index key: none was
    // (1 of 41 with that index kept). All 41 versions of this one row fit on its page.
    assert.ok(counts.hot >= counts.updated * 0.75, `in place: ${counts.hot} of ${counts.updated} updates`);
  });
});
