import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { inTransaction } from '../src/store/transaction.js';
import { Pipelined } from '../src/store/pipelined.js';
import pg from 'pg';
import { testConfig } from './support/config.js';
import { testPool, waitFor } from './support/helpers.js';

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
