import type { Pool, PoolClient } from 'pg';
import type { OutboxEntry, RemoteMessage } from '../core/messages.js';
import { prepared } from './prepared.js';
import type { TableNames } from './table-names.js';
import { inTransaction } from './transaction.js';

/** An outbox row as it is published: its message carries the row's id, for the acknowledgement. */
const toEntry = (row: { id: string; destination: string; message: Omit<RemoteMessage, 'outboxId'> }): OutboxEntry => ({
  id: row.id,
  destination: row.destination,
  message: { ...row.message, outboxId: row.id },
});

/** The outbox's statements outside step transactions: the overdue sweep and acknowledged deletes. */
export class OutboxStore {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
  ) {}

  /**
   * Locks up to `limit` rows whose acknowledgement is overdue (SKIP LOCKED, so concurrent sweepers
   * take different rows), hands them to `publish` in id order, and pushes each row's next attempt
   * back with exponential backoff from `ackTimeoutMs` (capped at 60 s). Returns how many it swept.
   */
  async sweep(limit: number, ackTimeoutMs: number, publish: (entries: readonly OutboxEntry[]) => Promise<void>): Promise<number> {
    const t = this.tables;
    return inTransaction(this.pool, async (client) => {
      const due = await client.query<{ id: string; destination: string; message: Omit<RemoteMessage, 'outboxId'>; attempts: number }>(
        `SELECT id, destination, message, attempts FROM ${t.outbox}
         WHERE next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
      );
      if (due.rows.length === 0) return 0;
      const entries = due.rows
        .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
        .map(toEntry);
      await publish(entries);
      await this.postpone(client, entries, ackTimeoutMs);
      return entries.length;
    });
  }

  /**
   * Publishes, once, every row that was in the outbox when this process started (ids up to the
   * largest then), whether or not its acknowledgement is overdue, `limit` at a time in id order, and
   * pushes each one's next attempt back as `sweep` does. A process killed between a commit and its
   * publish left such rows behind; without this they would wait out the ack timeout. A row another
   * replica is delivering right now is published twice, and the receiver takes it once. Returns how
   * many it published.
   */
  async sweepAtStart(limit: number, ackTimeoutMs: number, publish: (entries: readonly OutboxEntry[]) => Promise<void>): Promise<number> {
    const t = this.tables;
    const last = (await this.pool.query<{ max: string | null }>(`SELECT max(id)::text AS max FROM ${t.outbox}`)).rows[0]?.max;
    if (last === null || last === undefined) return 0;
    let after = '0';
    let total = 0;
    for (;;) {
      const n = await inTransaction(this.pool, async (client) => {
        const rows = await client.query<{ id: string; destination: string; message: Omit<RemoteMessage, 'outboxId'> }>(
          `SELECT id, destination, message FROM ${t.outbox}
           WHERE id > $1::bigint AND id <= $2::bigint ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
          [after, last],
        );
        if (rows.rows.length === 0) return 0;
        const entries = rows.rows.map(toEntry);
        await publish(entries);
        await this.postpone(client, entries, ackTimeoutMs);
        after = entries[entries.length - 1]?.id ?? last;
        return entries.length;
      });
      total += n;
      if (n < limit) return total;
    }
  }

  /** Counts a publish of each row and pushes its next one back: `ackTimeoutMs` doubled per attempt, at most 60 s. */
  private async postpone(client: PoolClient, entries: readonly OutboxEntry[], ackTimeoutMs: number): Promise<void> {
    await client.query(
      `UPDATE ${this.tables.outbox} SET attempts = attempts + 1,
         next_attempt_at = now() + make_interval(secs => LEAST(60, ($2::double precision / 1000) * power(2, LEAST(attempts, 6))))
       WHERE id = ANY($1::bigint[])`,
      [entries.map((e) => e.id), ackTimeoutMs],
    );
  }

  /**
   * Deletes the rows each service acknowledged, every service's in one statement (one transaction
   * a flush, however many services acknowledged). A row is deleted only with the destination that
   * acknowledged it: one service can never delete another's.
   */
  async deleteAcknowledged(batches: readonly { readonly from: string; readonly ids: readonly string[] }[]): Promise<void> {
    const ids = batches.flatMap(({ ids: list }) => list);
    const destinations = batches.flatMap(({ from, ids: list }) => list.map(() => from));
    if (ids.length === 0) return;
    await this.pool.query(
      prepared(
        `DELETE FROM ${this.tables.outbox} o USING unnest($1::bigint[], $2::text[]) AS a(id, destination)
         WHERE o.id = a.id AND o.destination = a.destination`,
        [ids, destinations],
      ),
    );
  }
}
