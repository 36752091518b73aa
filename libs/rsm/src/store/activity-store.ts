import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { ActivityEntry } from '../core/messages.js';
import type { TableNames } from './table-names.js';
import { HOLDER_LOCK_CLASS } from './holder-lock.js';

/** The activity table's statements: claims under a lease, postponed retries, and outcomes. */
export class ActivityStore {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
  ) {}

  /**
   * Claims up to `limit` calls of the activities `names` whose lease or backoff has expired, each
   * for another `leaseMs`, as held by `holder` (see HolderLock; null: no holder, the lease alone
   * protects them). A call of another activity (a newer release's, while it rolls out) is left to
   * the processes that run it: claiming it here would spend its attempts on "not registered".
   */
  async claimDue(limit: number, leaseMs: number, holder: number | null, names: readonly string[]): Promise<ActivityEntry[]> {
    if (names.length === 0) return [];
    const claimed = await this.pool.query<{
      id: string;
      machine_type: string;
      machine_id: string;
      activity: string;
      call_id: string;
      idempotency_key: string;
      input: never;
      attempts: number;
    }>(
      `UPDATE ${this.tables.activities} a SET attempts = a.attempts + 1, holder = $2::int4,
         next_attempt_at = now() + make_interval(secs => $1::double precision / 1000)
       WHERE a.id IN (SELECT id FROM ${this.tables.activities} WHERE next_attempt_at <= now() AND activity = ANY($3::text[])
                      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
       RETURNING a.id, a.machine_type, a.machine_id, a.activity, a.call_id, a.idempotency_key, a.input, a.attempts`,
      [leaseMs, holder, names],
    );
    return claimed.rows.map((row) => ({
      id: row.id,
      machineType: row.machine_type,
      machineId: row.machine_id,
      activity: row.activity,
      callId: row.call_id,
      idempotencyKey: row.idempotency_key,
      input: row.input,
      attempts: row.attempts,
    }));
  }

  /**
   * Makes due at once the calls leased by a process that is gone: one whose holder lock (see
   * HolderLock) no process holds. Returns how many.
   */
  async reclaimOrphans(): Promise<number> {
    const result = await this.pool.query(
      `UPDATE ${this.tables.activities} a SET next_attempt_at = now(), holder = NULL
       WHERE a.holder IS NOT NULL AND a.next_attempt_at > now()
         AND NOT EXISTS (SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND l.classid = $1::int4::oid AND l.objid = a.holder::oid)`,
      [HOLDER_LOCK_CLASS],
    );
    return result.rowCount ?? 0;
  }

  /** Records a failed attempt and holds the call back for `delayMs` (held by no process meanwhile). */
  async postpone(id: string, error: string, delayMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.tables.activities} SET last_error = $2, holder = NULL, next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE id = $1`,
      [id, error, delayMs],
    );
  }

  /**
   * Delivers a call's outcome event to its machine's inbox and deletes the call, in one statement
   * (so one atomic round trip, without BEGIN and COMMIT); does nothing if another process
   * delivered it already.
   */
  async finish(entry: ActivityEntry, event: object): Promise<void> {
    await this.pool.query(
      `WITH gone AS (DELETE FROM ${this.tables.activities} WHERE id = $1 RETURNING id)
       INSERT INTO ${this.tables.inbox} (machine_type, machine_id, event, event_id)
       SELECT $2::text, $3::text, $4::jsonb, $5::text FROM gone`,
      [entry.id, entry.machineType, entry.machineId, JSON.stringify(event), outcomeEventId(entry.idempotencyKey)],
    );
  }
}

/**
 * The event id of a call's outcome: derived from the call's key (the same however often the
 * outcome is written) and of fixed size. A handler's calls take their keys from the event id, so
 * an id holding the whole key made each call in a chain of activities carry every key before it:
 * past a few links it was longer than external systems accept, and in time than an index entry.
 */
export function outcomeEventId(idempotencyKey: string): string {
  return `a:${createHash('sha256').update(idempotencyKey).digest('base64url')}`;
}
