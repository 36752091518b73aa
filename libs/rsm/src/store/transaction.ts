import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` in one transaction on a pooled connection: COMMIT if it returns, ROLLBACK if it throws.
 * A connection that fails to roll back is discarded rather than returned to the pool.
 *
 * @example
 * const n = await inTransaction(pool, async (c) => (await c.query('SELECT 1 AS n')).rows[0].n);
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, beforeCommit?: () => void): Promise<T> {
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
      // BEGIN goes out with the first statement of `work`, not a round trip before it. Its answer
      // is still awaited before COMMIT: a connection that failed under BEGIN fails the statements
      // behind it too, and nothing commits without a BEGIN that succeeded.
      begun = client.query('BEGIN');
      begun.catch(() => undefined);
    } else {
      await client.query('BEGIN');
    }
    const value = await work(client);
    await begun;
    beforeCommit?.();
    await client.query('COMMIT');
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

/** The error `pg` raises when `query_timeout` passes without an answer. */
export function isQueryReadTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}
