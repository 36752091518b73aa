import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { inTransaction } from '../src/store/transaction.js';
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
