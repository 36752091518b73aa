import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pool, PoolClient } from 'pg';
import { tableNames } from '../src/store/table-names.js';
import { BatchExecutor } from '../src/runtime/batch-executor.js';
import { insertNewMachines } from '../src/store/step-store.js';
import type { RsmEvent } from '../src/definition/types.js';
import type { IntakeItem } from '../src/planning/intake.js';
import { MachineRegistry, newMachineRow } from '../src/planning/machine-registry.js';
import { parseRsmOptions } from '../src/core/rsm-options.js';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema } from './support/helpers.js';

/**
 * A pool whose connections run `race` (once) just before the `occurrence`th statement whose text
 * contains `marker`: a deterministic way to commit another transaction's work between two statements of a
 * batch, where a real race would need luck.
 */
function racingPool(pool: Pool, marker: string, race: () => Promise<void>, occurrence = 1): { pool: Pool; raced: () => boolean } {
  let raced = false;
  let seen = 0;
  const wrap = (client: PoolClient): PoolClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return async (...args: Parameters<PoolClient['query']>) => {
            const first: unknown = args[0];
            const text = typeof first === 'string' ? first : (first as { text: string }).text;
            if (!raced && text.includes(marker) && ++seen === occurrence) {
              raced = true;
              await race();
            }
            return (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const proxy = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => wrap(await target.connect());
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { pool: proxy, raced: () => raced };
}

describe('a step batch racing a receiver that creates the machine', () => {
  const schema = uniqueSchema('race');
  const pool = testPool();
  const tables = tableNames(schema);

  before(async () => {
    // The runtime's own migrations make the tables; the test then drives the executor by hand.
    const runtime = await startRuntime({ service: 'race', schema, prefix: uniquePrefix('race'), machines: [Counter] });
    await runtime.stop();
  });
  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  it('does not dead-letter a creation committed between its existence check and its orphan read', async () => {
    const registry = new MachineRegistry('race', {});
    registry.register(Counter);
    const options = parseRsmOptions({ service: 'race', postgres: { url: testConfig.DATABASE_URL, schema }, redis: { url: testConfig.REDIS_URL, signingKeys: TEST_SIGNING_KEYS } });
    // What a receiver does for a creation from another service: the machine row and its first
    // event, in one committed transaction.
    const receiverCommits = async () => {
      const row = newMachineRow(Counter, { type: 'Counter', id: 'c1' });
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${tables.machines} (type, id, state, data, definition_version) VALUES ($1, $2, $3, $4, $5)`, [row.type, row.id, row.state, JSON.stringify(row.data), row.definition_version]);
        await client.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event, event_id) VALUES ('Counter', 'c1', $1, 'other:1')`, [JSON.stringify({ type: 'Open' })]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    // The batch finds Counter/c1 missing; the receiver commits right before the batch reads the
    // missing machine's inbox (the first inbox read of a batch that locked nothing).
    const racing = racingPool(pool, 'CROSS JOIN LATERAL', receiverCommits);
    const executor = new BatchExecutor(racing.pool, tables, registry, options, undefined);
    const result = await executor.run(['Counter/c1'], new Map(), true);

    assert.ok(racing.raced(), 'the receiver committed between the two statements');
    assert.equal(result.deadLetters, 0, 'the creation event is not taken for an orphan');
    assert.ok(result.more.has('Counter/c1'), 'the machine that appeared is stepped again');
    const left = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${tables.inbox} WHERE machine_id = 'c1'`);
    assert.equal(left.rows[0]?.n, '1', 'its event waits in the inbox');
    const letters = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${tables.deadLetters}`);
    assert.equal(letters.rows[0]?.n, '0');

    // And the next batch handles it.
    const next = await new BatchExecutor(pool, tables, registry, options, undefined).run(['Counter/c1'], new Map(), true);
    assert.deepEqual(next.steps.map((s) => [s.event, s.outcome]), [['Open', 'ok']]);
  });

  it('a create whose caller gives up after its machine was inserted still commits the machine with its event', async () => {
    const registry = new MachineRegistry('race', {});
    registry.register(Counter);
    const options = parseRsmOptions({ service: 'race', postgres: { url: testConfig.DATABASE_URL, schema }, redis: { url: testConfig.REDIS_URL, signingKeys: TEST_SIGNING_KEYS } });
    const item: IntakeItem = {
      kind: 'create', ref: { type: 'Counter', id: 'late' }, event: { type: 'Add', n: 7 } as RsmEvent, key: undefined, eventId: 'caller:late', enqueuedAt: Date.now(), cancelled: false,
      resolve: () => undefined, reject: (error) => assert.fail(error),
    };
    // The caller's deadline passes after the machine row was inserted, before the machines are locked.
    const racing = racingPool(pool, 'WITH locked AS MATERIALIZED', () => {
      item.cancelled = true;
      return Promise.resolve();
    });
    const executor = new BatchExecutor(racing.pool, tables, registry, options, undefined);
    await executor.run(['Counter/late'], new Map([['Counter/late', [item]]]), true);

    assert.ok(racing.raced(), 'the caller gave up between the insert and the lock');
    const stored = await pool.query<{ state: string; data: { total: number }; version: string }>(`SELECT state, data, version FROM ${tables.machines} WHERE id = 'late'`);
    // Before the fix: the machine row committed in its initial state, at version 0, with no event
    // anywhere, and a retrying caller was told it existed.
    assert.deepEqual(stored.rows, [{ state: 'Open', data: { total: 7 }, version: '1' }], 'the machine committed with its first event handled');
  });

  it('creating a machine that exists does not wait for a transaction stepping it', async () => {
    const row = newMachineRow(Counter, { type: 'Counter', id: 'busy' });
    await pool.query(`INSERT INTO ${tables.machines} (type, id, state, data, definition_version) VALUES ($1, $2, $3, $4, $5)`, [row.type, row.id, row.state, JSON.stringify(row.data), row.definition_version]);
    const stepping = await pool.connect();
    const creating = await pool.connect();
    try {
      // A step holds the machine: its UPDATE made a row version the unique index points at.
      await stepping.query('BEGIN');
      await stepping.query(`UPDATE ${tables.machines} SET data = data, version = version + 1 WHERE type = 'Counter' AND id = 'busy'`);
      // Another transaction creates it "if missing" (as ctx.create does for a per-owner machine).
      await creating.query('BEGIN');
      await creating.query(`SET LOCAL statement_timeout = '5s'`);
      const started = Date.now();
      const created = await insertNewMachines(creating, tables, [row]);
      assert.deepEqual([...created], [], 'it exists: nothing created');
      assert.ok(Date.now() - started < 5_000, 'answered without waiting for the step');
      await creating.query('COMMIT');
    } finally {
      await stepping.query('ROLLBACK');
      stepping.release();
      creating.release();
    }
  });
  it('two batches dead-letter an orphan once, and its request fails instead of waiting for ever', async () => {
    const registry = new MachineRegistry('race', {});
    registry.register(Counter);
    const options = parseRsmOptions({ service: 'race', postgres: { url: testConfig.DATABASE_URL, schema }, redis: { url: testConfig.REDIS_URL, signingKeys: TEST_SIGNING_KEYS } });
    // A request persisted for a machine that does not exist (or was deleted since), its caller
    // waiting by key.
    await pool.query(`INSERT INTO ${tables.requests} (key, machine_type, machine_id, status) VALUES ('req:orphan', 'Counter', 'gone', 'pending')`);
    await pool.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event, event_id, request_key) VALUES ('Counter', 'gone', $1, 'req:orphan', 'req:orphan')`, [JSON.stringify({ type: 'Add', n: 1 })]);
    // Batch B runs whole between batch A's read of the orphans and A's commit (as two workers
    // draining the same machine do).
    let second: Awaited<ReturnType<BatchExecutor['run']>> | undefined;
    // The second existence check of A's batch: the one right after its orphan read.
    const racing = racingPool(pool, `SELECT m.type, m.id FROM ${tables.machines} m`, async () => {
      second = await new BatchExecutor(pool, tables, registry, options, undefined).run(['Counter/gone'], new Map(), true);
    }, 2);
    const first = await new BatchExecutor(racing.pool, tables, registry, options, undefined).run(['Counter/gone'], new Map(), true);
    assert.ok(racing.raced(), 'the second batch ran inside the first');
    assert.equal(first.deadLetters + (second?.deadLetters ?? 0), 1, 'one batch dead-lettered it');
    const letters = await pool.query<{ machine_id: string; request_key: string }>(`SELECT machine_id, request_key FROM ${tables.deadLetters} WHERE machine_id = 'gone'`);
    assert.deepEqual(letters.rows, [{ machine_id: 'gone', request_key: 'req:orphan' }], 'one dead letter, not one per batch');
    const request = await pool.query<{ status: string; error: string }>(`SELECT status, error FROM ${tables.requests} WHERE key = 'req:orphan'`);
    assert.deepEqual(request.rows, [{ status: 'failed', error: 'failed: no machine Counter/gone' }]);

    // A request whose step the database keeps refusing is set aside the same way: failed, not pending.
    const row = newMachineRow(Counter, { type: 'Counter', id: 'poisoned' });
    await pool.query(`INSERT INTO ${tables.machines} (type, id, state, data, definition_version) VALUES ($1, $2, $3, $4, $5)`, [row.type, row.id, row.state, JSON.stringify(row.data), row.definition_version]);
    await pool.query(`INSERT INTO ${tables.requests} (key, machine_type, machine_id, status) VALUES ('req:poison', 'Counter', 'poisoned', 'pending')`);
    await pool.query(`INSERT INTO ${tables.inbox} (machine_type, machine_id, event, event_id, request_key, attempts) VALUES ('Counter', 'poisoned', $1, 'req:poison', 'req:poison', 1000)`, [JSON.stringify({ type: 'Add', n: 1 })]);
    await new BatchExecutor(pool, tables, registry, options, undefined).recordPoison('Counter/poisoned', 'the database refused the step');
    const poisoned = await pool.query<{ status: string; error: string }>(`SELECT status, error FROM ${tables.requests} WHERE key = 'req:poison'`);
    assert.deepEqual(poisoned.rows, [{ status: 'failed', error: 'failed: step could not be committed: the database refused the step' }]);
  });
});
