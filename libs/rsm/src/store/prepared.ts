import { createHash } from 'node:crypto';
import type { PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';

const names = new Map<string, string>();

/**
 * A query that each connection parses and plans once and then only binds and runs: the runtime's
 * statements are few and repeated thousands of times a second, and on a busy service Postgres
 * spends more time parsing and planning them than running them. The name is derived from the text,
 * so the same text is the same prepared statement on every connection.
 *
 * @example
 * await client.query(prepared(`DELETE FROM ${t.inbox} WHERE seq = ANY($1::bigint[])`, [seqs]));
 */
export function prepared(text: string, values: readonly unknown[]): QueryConfig {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= 10_000) names.clear();
    name = `rsm_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return { name, text, values: [...values] };
}

/** `client.query` with a prepared statement (see {@link prepared}). */
export function query<R extends QueryResultRow = QueryResultRow>(client: PoolClient, text: string, values: readonly unknown[]): Promise<QueryResult<R>> {
  return client.query<R>(prepared(text, values));
}
