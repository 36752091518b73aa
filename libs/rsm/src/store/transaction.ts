import type { Pool, PoolClient, QueryResult } from 'pg';
import { holdSocketWritesThisTick, type CorkableSocket } from '../core/socket-writes.js';

/** What the work of {@link inTransaction} may do with its transaction besides sending statements. */
export interface Transaction {
  /**
   * Sends COMMIT behind the statements `sent` went out with, without waiting for their answers:
   * the transaction's last writes and its commit share one round trip. Only for the last
   * statements of the transaction, and the work must then await `sent.settled()`: a statement
   * that failed makes the server answer COMMIT with ROLLBACK, and `settled` rejects with that
   * statement's error, so nothing that did not commit is reported as done. Nothing may be sent on
   * the connection after it, and nothing may throw after it but those statements: a check of an
   * answer made in this process belongs before it. One outcome stays unknown, as for any COMMIT
   * whose answer is lost: `pg`'s client-side `query_timeout` (`postgres.queryTimeoutMs`, longer
   * than the server's `statementTimeoutMs`, which fails a statement cleanly) firing while the
   * server still runs the batch. Without pipeline mode it does nothing (COMMIT follows the work).
   */
  commitWith(sent: { readonly pipelined: boolean; send<R>(statement: () => Promise<R>): Promise<R> }): void;
}

/**
 * Runs `work` in one transaction on a pooled connection: COMMIT if it returns, ROLLBACK if it throws.
 * A connection that fails to roll back is discarded rather than returned to the pool.
 *
 * @example
 * const n = await inTransaction(pool, async (c) => (await c.query('SELECT 1 AS n')).rows[0].n);
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient, tx: Transaction) => Promise<T>, beforeCommit?: () => void): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A connection the server closes while checked out (Postgres restarting) emits 'error' between
  // queries; unheard, that would crash the process. The next query fails and the batch is retried.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    let begun: Promise<unknown> | undefined;
    if (isPipelined(client)) {
      // BEGIN goes out with the first statement of `work`, not a round trip before it, and in the
      // same write as the statements `work` sends before its first await. Its answer is awaited
      // before this function reports a commit: a connection that failed under BEGIN fails the
      // statements behind it too (answers come in order, so when `work` has its answers, BEGIN's is in).
      holdWritesThisTick(client);
      begun = client.query('BEGIN');
      begun.catch(() => undefined);
    } else {
      await client.query('BEGIN');
    }
    let committing: Promise<QueryResult> | undefined;
    const tx: Transaction = {
      commitWith: (sent) => {
        // Without pipeline mode COMMIT waits for the statements anyway: it is sent after `work`.
        if (!sent.pipelined || committing !== undefined) return;
        beforeCommit?.();
        committing = sent.send(() => client.query('COMMIT'));
      },
    };
    const value = await work(client, tx);
    await begun;
    if (committing === undefined) {
      beforeCommit?.();
      await client.query('COMMIT');
    } else {
      // The statements before it succeeded (`work` awaited them): the server committed, unless it
      // answered ROLLBACK for a transaction that had failed, which nothing here lets go unnoticed.
      const answer = await committing;
      if (answer.command !== 'COMMIT') throw new Error(`COMMIT was answered ${answer.command}: the transaction did not commit`);
    }
    return value;
  } catch (error) {
    // A statement whose answer never came (a stalled network) leaves the connection in an unknown
    // state, and a ROLLBACK would wait behind it: discard the connection instead (the server rolls back).
    if (isQueryReadTimeout(error)) {
      broken = true;
      throw error;
    }
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Whether `pg` sends this connection's statements without waiting for each answer (pipeline mode). */
export function isPipelined(client: PoolClient): boolean {
  return (client as unknown as { pipeline?: unknown }).pipeline === true;
}

/**
 * Holds what `client` writes until the code running now (and the microtasks queued before this
 * call) ends, so statements sent one after another in that time leave in one write to the socket,
 * not one each. On a pipelined connection a step sends BEGIN and several statements back to back:
 * each write is a system call and, on a loopback connection, a wake-up of the server for that one
 * message, and those calls were about a fifth of an app's busy samples under load (V8 profile of
 * ingestion at 40 deliveries/s: `writev` and `writeBuffer` 5.5% of samples, the process 26% busy;
 * wall-clock samples: `/proc` puts only about a tenth of the apps' CPU in the kernel).
 * Node's cork is counted, so `pg`'s own cork around a statement's messages nests inside this one.
 */
export function holdWritesThisTick(client: PoolClient): void {
  holdSocketWritesThisTick((client as unknown as { connection?: { stream?: CorkableSocket } }).connection?.stream);
}

/** The error `pg` raises when `query_timeout` passes without an answer. */
export function isQueryReadTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}
