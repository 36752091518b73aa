import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inTransaction } from '../src/store/transaction.js';
import { Pipelined } from '../src/store/pipelined.js';
import { outboxInsertSql, StepStore } from '../src/store/step-store.js';
import { tableNames } from '../src/store/table-names.js';
import { BatchWrites, emptyBatchResult } from '../src/planning/step-planner.js';
import pg from 'pg';
import { testConfig } from './support/config.js';
import { Counter } from './fixtures/machines.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/**
 * Records every write `client`'s socket makes from now on in `writes` (one entry a system call:
 * 1 for a write, the number of chunks for a writev).
 */
function countWrites(client: pg.PoolClient, writes: number[]): void {
  const socket = (client as unknown as { connection: { stream: { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } } }).connection.stream;
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...a: unknown[]) => (writes.push(1), write(...a));
  socket._writev = (...a: unknown[]) => (writes.push((a[0] as unknown[]).length), writev(...a));
}

describe('transactions when Postgres drops the connection', () => {
  const pool = testPool();
  const admin = testPool();
  after(async () => {
    await pool.end();
    await admin.end();
  });

  it('fails the transaction, not the process, when the server ends a checked-out connection', async () => {
    let serverClosed = false;
    const outcome = inTransaction(pool, async (client) => {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      client.once('error', () => (serverClosed = true));
      // As during a Postgres restart: the connection dies between two queries of the transaction.
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor('the server to close the connection', () => serverClosed);
      await client.query('SELECT 1');
    });
    await assert.rejects(outcome);
    // The broken connection was discarded: the pool still serves queries.
    assert.equal((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n, 1);
  });
});

describe('transactions on a pipelined connection (BEGIN sent with the first statement)', () => {
  const pool = new pg.Pool({ connectionString: testConfig.DATABASE_URL, max: 2, pipeline: true });
  const table = `rsm_pipelined_${process.pid}`;
  after(async () => {
    await pool.end();
  });

  it('runs every statement inside the one transaction, and commits it', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    const seen = await inTransaction(pool, async (client) => {
      // Outside a transaction each statement has its own transaction id and start time.
      const first = (await client.query<{ xid: string; at: Date }>('SELECT txid_current()::text AS xid, now() AS at')).rows[0];
      await client.query(`INSERT INTO ${table} VALUES (1), (2)`);
      const second = (await client.query<{ xid: string; at: Date }>('SELECT txid_current()::text AS xid, now() AS at')).rows[0];
      return { first, second };
    });
    assert.equal(seen.first?.xid, seen.second?.xid, 'one transaction id');
    assert.equal(seen.first?.at.getTime(), seen.second?.at.getTime(), 'one transaction start');
    assert.equal((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]?.n, '2');
  });

  it('rolls back every statement when a later one fails', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    await assert.rejects(
      inTransaction(pool, async (client) => {
        await client.query(`INSERT INTO ${table} VALUES (1)`);
        await client.query('SELECT 1/0');
      }),
      /division by zero/,
    );
    assert.equal((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]?.n, '0', 'nothing committed');
    // The connection is usable again, outside any transaction.
    assert.equal((await pool.query<{ s: string }>('SELECT current_setting(\'transaction_isolation\') AS s')).rows.length, 1);
    await pool.query(`DROP TABLE ${table}`);
  });

  it('sends statements together, runs them in order, and answers one that what follows needs', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    const seen = await inTransaction(pool, async (client) => {
      const sent = new Pipelined(client);
      // Each statement sees the effects of those sent before it, as if each had been awaited.
      sent.add(() => client.query(`INSERT INTO ${table} VALUES (1)`));
      sent.add(() => client.query(`UPDATE ${table} SET n = n + 10`));
      const counted = await sent.answer(() => client.query<{ n: string }>(`SELECT sum(n)::text AS n FROM ${table}`));
      sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [Number(counted.rows[0]?.n)]));
      await sent.settled();
      return counted.rows[0]?.n;
    });
    assert.equal(seen, '11');
    assert.deepEqual((await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)).rows.map((r) => r.n), [11, 11]);
  });

  it('sends BEGIN and the statements sent with it in one write to the socket', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    const writes: number[] = [];
    const sum = await inTransaction(pool, async (client) => {
      countWrites(client, writes);
      const sent = new Pipelined(client);
      sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [1]));
      sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [2]));
      const total = await sent.answer(() => client.query<{ n: string }>(`SELECT sum(n)::text AS n FROM ${table}`));
      sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [3]));
      sent.add(() => client.query(`UPDATE ${table} SET n = n * 10`));
      await sent.settled();
      return total.rows[0]?.n;
    });
    assert.equal(sum, '3');
    // BEGIN and the three statements sent with it leave in one write (it was held until the work's
    // first await), the two sent after the answer in another, then COMMIT: three writes, not seven.
    assert.deepEqual(writes.length, 3, `writes: ${JSON.stringify(writes)}`);
    assert.deepEqual((await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)).rows.map((r) => r.n), [10, 20, 30]);
  });

  it('sends COMMIT with the last statements when asked, and commits only if every statement succeeded', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    const writes: number[] = [];
    let hooked = 0;
    await inTransaction(
      pool,
      async (client, tx) => {
        const sent = new Pipelined(client);
        const count = await sent.answer(() => client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`));
        countWrites(client, writes);
        sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [Number(count.rows[0]?.n) + 1]));
        sent.add(() => client.query(`INSERT INTO ${table} VALUES ($1::int)`, [2]));
        tx.commitWith(sent);
        assert.equal(hooked, 1, 'the hook before COMMIT ran before COMMIT was sent');
        await sent.settled();
      },
      () => (hooked += 1),
    );
    assert.equal(hooked, 1, 'the hook ran once');
    // The two inserts and COMMIT left in one write; nothing was sent after them.
    assert.equal(writes.length, 1, `writes: ${JSON.stringify(writes)}`);
    assert.deepEqual((await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)).rows.map((r) => r.n), [1, 2]);

    // A statement sent with COMMIT fails: the server answers COMMIT with ROLLBACK, the caller hears
    // of the statement's error, and nothing of the transaction is kept.
    await assert.rejects(
      inTransaction(pool, async (client, tx) => {
        const sent = new Pipelined(client);
        sent.add(() => client.query(`INSERT INTO ${table} VALUES (3)`));
        sent.add(() => client.query('SELECT 1/0'));
        tx.commitWith(sent);
        await sent.settled();
      }),
      (error: unknown) => (error as { code?: string }).code === '22012',
    );
    assert.deepEqual((await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)).rows.map((r) => r.n), [1, 2], 'nothing committed');
    // The connection it ran on went back to the pool usable, outside any transaction.
    for (let i = 0; i < 2; i += 1) {
      await inTransaction(pool, async (client) => {
        await client.query(`INSERT INTO ${table} VALUES (4)`);
      });
    }
    assert.equal((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE n = 4`)).rows[0]?.n, '2');
  });

  it('reports the statement that failed, not the refusals behind it, and commits nothing', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    let later: unknown;
    await assert.rejects(
      inTransaction(pool, async (client) => {
        const sent = new Pipelined(client);
        sent.add(() => client.query(`INSERT INTO ${table} VALUES (1)`));
        sent.add(() => client.query('SELECT 1/0'));
        sent.send(() => client.query(`INSERT INTO ${table} VALUES (2)`)).catch((error: unknown) => (later = error));
        // The third statement is refused by the server ("current transaction is aborted", 25P02);
        // the caller hears of the division by zero (22012), which says what went wrong.
        await sent.settled();
      }),
      (error: unknown) => (error as { code?: string }).code === '22012',
    );
    assert.equal((later as { code?: string } | undefined)?.code, '25P02', 'the statement behind the failure was refused');
    assert.equal((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]?.n, '0', 'nothing committed');
    await assert.rejects(
      inTransaction(pool, async (client) => {
        const sent = new Pipelined(client);
        sent.add(() => client.query('SELECT 1/0'));
        // A statement whose answer is needed reports the earlier failure too, not its own refusal.
        await sent.answer(() => client.query('SELECT 1 AS one'));
      }),
      (error: unknown) => (error as { code?: string }).code === '22012',
    );
    await pool.query(`DROP TABLE ${table}`);
  });
});

describe('pipelined statements on a connection without pipeline mode', () => {
  const pool = new pg.Pool({ connectionString: testConfig.DATABASE_URL, max: 2, pipeline: false });
  const table = `rsm_unpipelined_${process.pid}`;
  after(async () => {
    await pool.end();
  });

  it('sends each after the last one answered, none after a failure, and makes pg warn of nothing', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (n int)`);
    await pool.query(`DELETE FROM ${table}`);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const sum = await inTransaction(pool, async (client) => {
        const sent = new Pipelined(client);
        assert.equal(sent.pipelined, false);
        sent.add(() => client.query(`INSERT INTO ${table} VALUES (1)`));
        sent.add(() => client.query(`INSERT INTO ${table} VALUES (2)`));
        const counted = await sent.answer(() => client.query<{ n: string }>(`SELECT sum(n)::text AS n FROM ${table}`));
        await sent.settled();
        return counted.rows[0]?.n;
      });
      assert.equal(sum, '3');
      let later: unknown;
      await assert.rejects(
        inTransaction(pool, async (client) => {
          const sent = new Pipelined(client);
          sent.add(() => client.query('SELECT 1/0'));
          // Never sent: it fails with the error before it, not with the server's refusal (25P02).
          sent.send(() => client.query(`INSERT INTO ${table} VALUES (3)`)).catch((error: unknown) => (later = error));
          await sent.settled();
        }),
        (error: unknown) => (error as { code?: string }).code === '22012',
      );
      assert.equal((later as { code?: string } | undefined)?.code, '22012');
      // Let a warning emitted on this tick reach its listeners before looking.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, [], 'pg queued nothing behind a running query');
    } finally {
      process.off('warning', onWarning);
      await pool.query(`DROP TABLE ${table}`);
    }
  });
});

describe('a batch that sends to another service, on a pipelined connection', () => {
  const schema = uniqueSchema('outbox_commit');
  const t = tableNames(schema);
  const pool = new pg.Pool({ connectionString: testConfig.DATABASE_URL, max: 2, pipeline: true });
  const store = new StepStore(t, { stepHistoryMs: 0, activities: { concurrency: 1, leaseMs: 30_000, pollIntervalMs: 1_000 }, delivery: { ackTimeoutMs: 5_000 } } as never);
  const message = (sender: string, receiver: string, n: number) => ({ destination: 'other', sender: { type: 'Counter', id: sender }, to: { type: 'Remote', id: receiver }, kind: 'event' as const, event: { type: 'Ping', n } });

  before(async () => {
    // The runtime's migrations create the schema; the test then writes batches with the store alone.
    const runtime = await startRuntime({ service: 'outbox-commit', schema, prefix: uniquePrefix('outbox_commit'), machines: [Counter], routes: { Remote: 'other' } });
    await runtime.stop();
  });
  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  it('sends COMMIT with the outbox insert, in the one write, and publishes each message at its place', async () => {
    const w = new BatchWrites();
    w.remote.push(message('c1', 'r1', 1), message('c1', 'r1', 2), message('c1', 'r2', 3));
    const result = emptyBatchResult();
    const writes: number[] = [];
    await inTransaction(pool, async (client, tx) => {
      countWrites(client, writes);
      await store.write(client, w, result, tx);
    });
    // BEGIN, the outbox insert and COMMIT: one write, no round trip between the insert and COMMIT.
    assert.equal(writes.length, 1, `writes: ${JSON.stringify(writes)}`);
    const rows = await pool.query<{ id: string; seq: number; n: number }>(`SELECT id::text, (message->>'seq')::int AS seq, (message#>>'{event,n}')::int AS n FROM ${t.outbox} ORDER BY id`);
    assert.deepEqual(rows.rows.map((r) => [r.n, r.seq]), [[1, 1], [2, 2], [3, 1]], 'each pair numbered from 1, in order');
    assert.deepEqual(
      result.outbox.map((o) => [(o.message.event as unknown as { n: number }).n, o.message.seq, o.id]),
      rows.rows.map((r) => [r.n, r.seq, r.id]),
      'what this process publishes is what the table holds',
    );
  });

  it('fails, and commits nothing, when the insert would store fewer rows than messages, or two at one place', async () => {
    const outboxBefore = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.outbox}`);
    const counts = [{ sender: 'Counter/c9', receiver: 'Remote/r9', destination: 'other', n: 1 }];
    const ping = (ord: number, receiver: string, back: number) => ({ ord, destination: 'other', sender: 'Counter/c9', receiver, back, message: { kind: 'event', event: { type: 'Ping' } } });
    // The batch's outbox insert, as a step sends it, under the generic plan a prepared statement may run.
    const insert = (placed: ReturnType<typeof ping>[]) =>
      inTransaction(pool, async (client, tx) => {
        const sent = new Pipelined(client);
        sent.add(() => client.query('SET LOCAL plan_cache_mode = force_generic_plan'));
        sent.add(() => client.query(outboxInsertSql(t), [JSON.stringify(counts), JSON.stringify(placed), 5_000, placed.length]));
        tx.commitWith(sent);
        await sent.settled();
      });
    // A message of a pair the counters were not given: the statement cannot number it, so it would
    // store one row for two messages. It must fail rather than commit a step whose message is lost.
    await assert.rejects(insert([ping(0, 'Remote/r9', 0), ping(1, 'Remote/lost', 0)]), /rsm: the outbox insert stored 1 rows at 1 places for 2 messages/);
    // Two messages numbered at one place (a pair counted once for two messages): refused as well.
    await assert.rejects(insert([ping(0, 'Remote/r9', 0), ping(1, 'Remote/r9', 0)]), /rsm: the outbox insert stored 2 rows at 1 places for 2 messages/);
    assert.deepEqual((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.outbox}`)).rows, outboxBefore.rows, 'no outbox row kept');
    assert.equal((await pool.query(`SELECT 1 FROM ${t.sendSeq} WHERE sender = 'Counter/c9'`)).rowCount, 0, 'the pair counter did not move');
  });
});
