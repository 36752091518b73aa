import type { Pool, PoolClient } from 'pg';
import { recordset } from './recordset.js';
import type { TableNames } from './table-names.js';

/** The timer table's statements. */
export class TimerStore {
  constructor(private readonly tables: TableNames) {}

  /**
   * Turns each due timer into a `Timeout` event in its machine's inbox and deletes it (or moves a
   * periodic one to its next period), inside the caller's transaction. Rows are claimed with SKIP
   * LOCKED, so concurrent pollers never fire one twice. Returns the machines that got an event.
   */
  async fireDue(client: PoolClient, limit: number, whileFiring?: () => void): Promise<string[]> {
    const t = this.tables;
    // A timer of a halted machine (left by a release before halting dropped them) is deleted, not
    // fired: its Timeout could never be handled.
    const claimed = await client.query<{ machine_type: string; machine_id: string; name: string; period_ms: string | null; payload: unknown; halted: boolean }>(
      `SELECT x.machine_type, x.machine_id, x.name, x.period_ms, x.payload, coalesce(m.status = 'halted', false) AS halted
       FROM ${t.timers} x LEFT JOIN ${t.machines} m ON m.type = x.machine_type AND m.id = x.machine_id
       WHERE x.fire_at <= now() ORDER BY x.fire_at LIMIT ${limit} FOR UPDATE OF x SKIP LOCKED`,
    );
    if (claimed.rows.length === 0) return [];
    const stale = claimed.rows.filter((row) => row.halted);
    if (stale.length > 0) {
      await client.query(
        `DELETE FROM ${t.timers} x USING ${recordset('$1', 'machine_type text, machine_id text, name text', stale)} r
         WHERE x.machine_type = r.machine_type AND x.machine_id = r.machine_id AND x.name = r.name`,
        [JSON.stringify(stale.map(({ machine_type, machine_id, name }) => ({ machine_type, machine_id, name })))],
      );
    }
    const due = { rows: claimed.rows.filter((row) => !row.halted).map(({ machine_type, machine_id, name, period_ms, payload }) => ({ machine_type, machine_id, name, period_ms, payload })) };
    if (due.rows.length === 0) return [];
    const rows = JSON.stringify(due.rows);
    // A periodic timer whose last Timeout is still in the inbox (its machine faulted, deferred or
    // behind) moves on without another: it fires once for the periods its machine missed, as it
    // does for the periods nobody polled, instead of piling one Timeout a period into the inbox.
    await client.query(
      `INSERT INTO ${t.inbox} (machine_type, machine_id, event, timer_name)
       SELECT r.machine_type, r.machine_id,
              jsonb_build_object('type', 'Timeout', 'name', r.name) || CASE WHEN r.payload IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('payload', r.payload) END, r.name
       FROM jsonb_to_recordset($1::jsonb) AS r(machine_type text, machine_id text, name text, period_ms bigint, payload jsonb)
       WHERE r.period_ms IS NULL
          OR NOT EXISTS (SELECT 1 FROM ${t.inbox} i WHERE i.machine_type = r.machine_type AND i.machine_id = r.machine_id AND i.timer_name = r.name)`,
      [rows],
    );
    whileFiring?.();
    await client.query(
      `DELETE FROM ${t.timers} x USING ${recordset('$1', 'machine_type text, machine_id text, name text, period_ms bigint', due.rows)} r
       WHERE x.machine_type = r.machine_type AND x.machine_id = r.machine_id AND x.name = r.name AND r.period_ms IS NULL`,
      [rows],
    );
    // A periodic timer fires once for the periods it missed while nobody polled, then keeps its phase.
    await client.query(
      `UPDATE ${t.timers} x SET fire_at = x.fire_at + make_interval(secs => r.period_ms / 1000.0) *
         GREATEST(1, ceil(extract(epoch FROM (now() - x.fire_at)) * 1000 / r.period_ms))
       FROM ${recordset('$1', 'machine_type text, machine_id text, name text, period_ms bigint', due.rows)} r
       WHERE x.machine_type = r.machine_type AND x.machine_id = r.machine_id AND x.name = r.name AND r.period_ms IS NOT NULL`,
      [rows],
    );
    return due.rows.map((row) => `${row.machine_type}/${row.machine_id}`);
  }

  /**
   * The earliest timer, if any: when it is due (ms since epoch) and whether it is due already by the
   * database's clock, the one `fireDue` compares with. One indexed read, outside any transaction.
   */
  async earliest(pool: Pool): Promise<{ readonly at: number; readonly due: boolean } | undefined> {
    const result = await pool.query<{ fire_at: Date; due: boolean }>(
      `SELECT fire_at, fire_at <= now() AS due FROM ${this.tables.timers} ORDER BY fire_at LIMIT 1`,
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { at: row.fire_at.getTime(), due: row.due };
  }
}
