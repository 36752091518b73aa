import type { Pool } from 'pg';
import type { Json } from '../definition/types.js';
import type { RsmOptions } from '../core/rsm-options.js';
import { prepared } from './prepared.js';
import { recordset } from './recordset.js';
import type { TableNames } from './table-names.js';

/** Table depths and ages for the runtime's gauges (row counts capped at 100,000). */
export interface TableStats {
  readonly inbox_depth?: string | null;
  readonly inbox_age?: string | null;
  readonly outbox_depth?: string | null;
  readonly outbox_age?: string | null;
  readonly timers?: string | null;
  readonly dead_letters?: string | null;
  readonly send_counters?: string | null;
  readonly recv_counters?: string | null;
  readonly activities?: string | null;
  readonly gap_pairs?: string | null;
  readonly reorder_age?: string | null;
}

/**
 * The runtime's housekeeping statements outside step transactions: stored answers for waiting
 * callers, inbox rows nobody drains, retention, and the gauges' table statistics.
 */
export class MaintenanceStore {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
    private readonly options: RsmOptions,
  ) {}

  /** Whether Postgres answers at all. */
  async ping(): Promise<boolean> {
    await this.pool.query('SELECT 1');
    return true;
  }

  /** Stored outcomes of requests among `keys` (those no longer pending). */
  async storedReplies(keys: readonly string[]): Promise<{ key: string; status: string; reply: Json | null; error: string | null }[]> {
    const result = await this.pool.query<{ key: string; status: string; reply: Json | null; error: string | null }>(
      prepared(`SELECT key, status, reply, error FROM ${this.tables.requests} WHERE key = ANY($1::text[]) AND status <> 'pending'`, [keys]),
    );
    return result.rows;
  }

  /**
   * Machines with inbox rows older than `graceMs` and not held back by a retry, each once, oldest
   * first, at most 500; out of the oldest 5,000 such rows. Left out: faulted machines (their events
   * wait for a redrive, which wakes them) and machines stored at a definition version outside what
   * this process can step (`versions`: per type, the oldest it migrates from and the one it runs),
   * which wait for a process that can. Neither may hide the others from this one: a machine holding
   * hundreds of old rows once filled the whole answer, so another whose doorbell Redis lost was
   * never found.
   */
  async unattendedInbox(graceMs: number, versions: readonly { type: string; oldest: number; current: number }[]): Promise<string[]> {
    const result = await this.pool.query<{ machine_type: string; machine_id: string }>(
      `SELECT r.machine_type, r.machine_id FROM (
         SELECT i.machine_type, i.machine_id, i.created_at FROM ${this.tables.inbox} i
         WHERE i.created_at < now() - make_interval(secs => $1::double precision / 1000)
           AND (i.not_before IS NULL OR i.not_before <= now())
           -- Only types this process runs: another's (a release that added it, still rolling out)
           -- would fill the page, and could only be dead-lettered here.
           AND i.machine_type IN (SELECT r.type FROM ${recordset('$2', 'type text', versions)} r)
           AND NOT EXISTS (
             SELECT 1 FROM ${this.tables.machines} m LEFT JOIN ${recordset('$2', 'type text, oldest int, current int', versions)} v ON v.type = m.type
             WHERE m.type = i.machine_type AND m.id = i.machine_id
               AND (m.status = 'faulted' OR m.definition_version > v.current OR m.definition_version < v.oldest))
         ORDER BY i.created_at LIMIT 5000) r
       GROUP BY r.machine_type, r.machine_id
       ORDER BY min(r.created_at) LIMIT 500`,
      [graceMs, JSON.stringify(versions)],
    );
    return result.rows.map((row) => `${row.machine_type}/${row.machine_id}`);
  }

  /** Whether the server vacuums tables by itself (`autovacuum`, on unless an operator turned it off). */
  async autovacuumOn(): Promise<boolean> {
    const row = (await this.pool.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0];
    return row?.autovacuum !== 'off';
  }

  /**
   * VACUUM (ANALYZE) of the tables the runtime rewrites all the time, by one process of the schema
   * at a time (an advisory lock that a busy peer holds makes the others skip their turn). Returns
   * whether this process did it.
   */
  async vacuum(): Promise<boolean> {
    const t = this.tables;
    const client = await this.pool.connect();
    const ignore = () => undefined;
    client.on('error', ignore);
    let broken = false;
    try {
      const lock = `rsm-vacuum:${t.schema}`;
      const got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lock])).rows[0]?.ok === true;
      if (!got) return false;
      try {
        // One statement per table: each stays well within the statement deadline, and a table too
        // large to vacuum within it does not cost the others their turn (its error is raised after).
        let failed: Error | undefined;
        for (const table of [t.machines, t.inbox, t.outbox, t.sendSeq, t.recvSeq, t.reorder, t.timers, t.activities, t.requests, t.steps]) {
          try {
            await client.query(`VACUUM (ANALYZE) ${table}`);
          } catch (error) {
            failed ??= error instanceof Error ? error : new Error(String(error));
          }
        }
        if (failed !== undefined) throw failed;
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]);
      }
      return true;
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.off('error', ignore);
      // A connection whose unlock may not have run is discarded: its session lock goes with it.
      client.release(broken);
    }
  }

  async cleanUp(onDeleted: (table: string, rows: number) => void): Promise<boolean> {
    const t = this.tables;
    const o = this.options;
    const batch = 10_000;
    let full = false;
    const retire = async (table: string, ms: number, sql: string) => {
      if (ms === 0) return;
      const deleted = await this.pool.query(sql, [ms]);
      const n = deleted.rowCount ?? 0;
      if (n > 0) onDeleted(table, n);
      full ||= n === batch;
    };
    const older = (column: string) => `${column} < now() - make_interval(secs => $1::double precision / 1000)`;
    await retire('dead_letters', o.retention.openDeadLettersMs,
      `DELETE FROM ${t.deadLetters} WHERE id IN (SELECT id FROM ${t.deadLetters} WHERE redriven_at IS NULL AND ${older('created_at')} ORDER BY created_at LIMIT ${batch})`);
    await retire('dead_letters', o.retention.redrivenDeadLettersMs,
      `DELETE FROM ${t.deadLetters} WHERE id IN (SELECT id FROM ${t.deadLetters} WHERE redriven_at IS NOT NULL AND ${older('redriven_at')} ORDER BY redriven_at LIMIT ${batch})`);
    // Machines halted with no halted_at (before the migration that added it, or by a process of the
    // release before during a rolling deploy) get the time of their last step, which halted them.
    if (o.retention.haltedMachinesMs > 0) {
      const stamped = await this.pool.query(
        `UPDATE ${t.machines} m SET halted_at = m.updated_at WHERE (m.type, m.id) IN (
           SELECT h.type, h.id FROM ${t.machines} h WHERE h.status = 'halted' AND h.halted_at IS NULL LIMIT ${batch} FOR UPDATE SKIP LOCKED)`,
      );
      full ||= stamped.rowCount === batch;
    }
    // Only a halted machine nothing waits for, skipping rows a step holds. An event that arrives for
    // it at the same instant is dead-lettered either way ("halted" or "no machine"): nothing is lost.
    await retire('machines', o.retention.haltedMachinesMs,
      `DELETE FROM ${t.machines} m WHERE (m.type, m.id) IN (
         SELECT h.type, h.id FROM ${t.machines} h
         WHERE h.halted_at IS NOT NULL AND h.status = 'halted' AND ${older('h.halted_at')}
           AND NOT EXISTS (SELECT 1 FROM ${t.inbox} i WHERE i.machine_type = h.type AND i.machine_id = h.id)
           AND NOT EXISTS (SELECT 1 FROM ${t.timers} x WHERE x.machine_type = h.type AND x.machine_id = h.id)
           -- A call it made still runs (retried, or in backoff): its outcome must find the machine
           -- it belongs to, not a later one created under the same id.
           AND NOT EXISTS (SELECT 1 FROM ${t.activities} a WHERE a.machine_type = h.type AND a.machine_id = h.id)
         ORDER BY h.halted_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)`);
    // A send counter unused for `quietPairsMs` whose pair has nothing left in the outbox: every
    // message of its numbering was acknowledged, i.e. committed by the receiver. The row goes and,
    // in the same statement, a retire message for the receiver takes its place in the outbox; the
    // next send to the pair creates a row with a fresh epoch. A send racing with this either
    // holds the row (skipped) or has moved used_at (rechecked under the lock): never both.
    await retire('send_seq', o.retention.quietPairsMs,
      `WITH gone AS (
         DELETE FROM ${t.sendSeq} s WHERE (s.sender, s.receiver) IN (
           SELECT c.sender, c.receiver FROM ${t.sendSeq} c
           WHERE ${older('c.used_at')}
             AND NOT EXISTS (SELECT 1 FROM ${t.outbox} x
               WHERE (x.message#>>'{sender,type}') || '/' || (x.message#>>'{sender,id}') = c.sender
                 AND (x.message#>>'{to,type}') || '/' || (x.message#>>'{to,id}') = c.receiver)
           ORDER BY c.used_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)
         RETURNING s.sender, s.receiver, s.epoch, s.last_seq, s.destination
       ), sent AS (
         INSERT INTO ${t.outbox} (destination, message, next_attempt_at)
         SELECT destination, jsonb_build_object(
             'kind', 'retire',
             'sender', jsonb_build_object('type', split_part(sender, '/', 1), 'id', substr(sender, strpos(sender, '/') + 1)),
             'to', jsonb_build_object('type', split_part(receiver, '/', 1), 'id', substr(receiver, strpos(receiver, '/') + 1)),
             'seq', last_seq, 'epoch', epoch, 'event', jsonb_build_object('type', 'rsm.retire')), now()
         FROM gone WHERE destination IS NOT NULL
       )
       SELECT 1 FROM gone`);
    // A receive counter the sender retired, once no message of the retired numbering can still be
    // accepted: each was signed before the retire, which was accepted at retired_at, so no later
    // than retired_at + maxMessageAgeMs, and is refused maxMessageAgeMs after its signing; a third
    // maxMessageAgeMs allows for the hosts' clocks. A newer numbering arriving meanwhile clears
    // retired_at (rechecked under the lock).
    await retire('recv_seq', o.retention.quietPairsMs === 0 ? 0 : 3 * o.delivery.maxMessageAgeMs,
      `DELETE FROM ${t.recvSeq} r WHERE (r.sender, r.receiver) IN (
         SELECT c.sender, c.receiver FROM ${t.recvSeq} c
         WHERE c.retired_at IS NOT NULL AND ${older('c.retired_at')}
         ORDER BY c.retired_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)`);
    await retire('gap_skips', o.retention.gapSkipsMs,
      `DELETE FROM ${t.gapSkips} WHERE id IN (SELECT id FROM ${t.gapSkips} WHERE ${older('at')} ORDER BY at LIMIT ${batch})`);
    await retire('admin_audit', o.retention.auditLogMs,
      `DELETE FROM ${t.adminAudit} WHERE id IN (SELECT id FROM ${t.adminAudit} WHERE ${older('at')} ORDER BY at LIMIT ${batch})`);
    if (o.stepHistoryMs > 0) {
      const steps = await this.pool.query(
        `DELETE FROM ${t.steps} WHERE id IN (SELECT id FROM ${t.steps} WHERE at < now() - make_interval(secs => $1::double precision / 1000) LIMIT ${batch})`,
        [o.stepHistoryMs],
      );
      full ||= steps.rowCount === batch;
    }
    const requests = await this.pool.query(
      `DELETE FROM ${t.requests} WHERE key IN (SELECT key FROM ${t.requests} WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1::double precision / 1000) LIMIT ${batch})`,
      [o.requests.retentionMs],
    );
    return full || requests.rowCount === batch;
  }

  /** Depths and ages of the runtime's tables. */
  async tableStats(): Promise<TableStats> {
    const t = this.tables;
    const result = await this.pool.query<Record<string, string | null>>(
      `SELECT
         (SELECT count(*) FROM (SELECT 1 FROM ${t.inbox} LIMIT 100000) x) AS inbox_depth,
         (SELECT extract(epoch FROM now() - min(created_at)) FROM ${t.inbox}) AS inbox_age,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.outbox} LIMIT 100000) x) AS outbox_depth,
         (SELECT extract(epoch FROM now() - min(created_at)) FROM ${t.outbox}) AS outbox_age,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.timers} LIMIT 100000) x) AS timers,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.deadLetters} WHERE redriven_at IS NULL LIMIT 100000) x) AS dead_letters,
         (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($2)) AS send_counters,
         (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($3)) AS recv_counters,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.activities} LIMIT 100000) x) AS activities,
         (SELECT count(*) FROM (SELECT DISTINCT sender, receiver FROM (
            SELECT sender, receiver FROM ${t.reorder} WHERE created_at <= now() - make_interval(secs => $1::double precision / 1000)
            ORDER BY created_at LIMIT 10000) oldest) pairs) AS gap_pairs,
         (SELECT extract(epoch FROM now() - min(created_at)) FROM ${t.reorder}) AS reorder_age`,
      [this.options.delivery.gapAfterMs, t.sendSeq, t.recvSeq],
    );
    return result.rows[0] ?? {};
  }
}
