import type { PoolClient } from 'pg';
import { prepared } from './prepared.js';

/**
 * Independent writes sent to Postgres as one statement (data-modifying CTEs), so a transaction
 * pays one round trip for them instead of one each: round trips, not the statements themselves,
 * are most of the cost of a step on a busy machine (each is a syscall on both sides, a parse and a
 * plan). The parts all run against one snapshot, so none may depend on another's effect, and no
 * two may touch the same row; each part must be a plain INSERT, UPDATE or DELETE.
 *
 * @example
 * const write = new CombinedWrite();
 * write.add(`DELETE FROM inbox WHERE seq = ANY(${write.param(seqs)}::bigint[])`);
 * write.add(`INSERT INTO steps (event_type) VALUES (${write.param('Ping')})`);
 * await write.run(client);
 */
export class CombinedWrite {
  private readonly parts: string[] = [];
  private readonly params: unknown[] = [];

  /** Adds a parameter and returns its placeholder (`$n`). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(sql: string): void {
    this.parts.push(sql);
  }

  get size(): number {
    return this.parts.length;
  }

  async run(client: PoolClient): Promise<void> {
    const [only] = this.parts;
    if (only === undefined) return;
    const sql = this.parts.length === 1 ? only : `WITH ${this.parts.map((part, i) => `w${i} AS (${part})`).join(',\n')} SELECT 1`;
    await client.query(prepared(sql, this.params));
  }
}
