import type { Pool } from 'pg';
import type { PendingEventCount, StoredVersionCount } from '../planning/versioning.js';
import { recordset } from './recordset.js';
import type { TableNames } from './table-names.js';
import { inTransaction } from './transaction.js';

/** A machine stored at an older definition version, as the at-rest migration reads it. */
export interface StoredMachine {
  readonly type: string;
  readonly id: string;
  readonly state: string;
  readonly data: unknown;
  readonly status: 'active' | 'halted' | 'faulted';
  readonly definitionVersion: number;
}

/**
 * What start-up and `rsm versions` read about the definition versions in store: machines by type,
 * version, state and status, and the events still pending for machines of each type. Full scans of
 * the machines table: read at start-up and on an operator's request, never on the step path.
 */
export class VersionStore {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
  ) {}

  /** How many machines of each type (of `types`, or all) there are by definition version, state and status. */
  async storedVersions(types?: readonly string[]): Promise<StoredVersionCount[]> {
    const result = await this.pool.query<{ type: string; definition_version: number; state: string; status: StoredVersionCount['status']; count: string }>(
      `SELECT type, definition_version, state, status, count(*) AS count FROM ${this.tables.machines}
       WHERE ($1::text[] IS NULL OR type = ANY($1::text[]))
       GROUP BY type, definition_version, state, status ORDER BY type, definition_version, state, status`,
      [types ?? null],
    );
    return result.rows.map((row) => ({ type: row.type, definitionVersion: row.definition_version, state: row.state, status: row.status, count: Number(row.count) }));
  }

  /**
   * Events that machines of `versions`' types will still be handed, by type and event type: inbox
   * rows and timers of machines that are not halted and are stored at most at the version given
   * (newer ones are a newer process's), outcomes of pending activity calls, and messages waiting in
   * the reorder buffer.
   */
  async pendingEvents(versions: readonly { type: string; current: number }[]): Promise<PendingEventCount[]> {
    const t = this.tables;
    const v = recordset('$1', 'type text, current int', versions);
    const live = `m.type = x.machine_type AND m.id = x.machine_id AND m.status <> 'halted' AND m.definition_version <= v.current`;
    const result = await this.pool.query<{ type: string; source: PendingEventCount['source']; event_type: string | null; count: string }>(
      `SELECT x.machine_type AS type, 'inbox' AS source, x.event->>'type' AS event_type, count(*) AS count
       FROM ${t.inbox} x JOIN ${v} v ON v.type = x.machine_type JOIN ${t.machines} m ON ${live}
       GROUP BY 1, 3
       UNION ALL
       SELECT x.machine_type, 'timers', 'Timeout', count(*)
       FROM ${t.timers} x JOIN ${v} v ON v.type = x.machine_type JOIN ${t.machines} m ON ${live}
       GROUP BY 1
       UNION ALL
       SELECT x.machine_type, 'activities', NULL, count(*)
       FROM ${t.activities} x JOIN ${v} v ON v.type = x.machine_type JOIN ${t.machines} m ON ${live}
       GROUP BY 1
       UNION ALL
       SELECT x.message#>>'{to,type}', 'reorder buffer', x.message#>>'{event,type}', count(*)
       FROM ${t.reorder} x JOIN ${v} v ON v.type = x.message#>>'{to,type}'
       WHERE coalesce(x.message->>'kind', 'event') <> 'retire'
       GROUP BY 1, 3`,
      [JSON.stringify(versions)],
    );
    return result.rows.map((row) => ({
      type: row.type,
      source: row.source,
      // An activity call ends with either outcome event.
      eventTypes: row.event_type === null ? (row.source === 'activities' ? ['ActivityCompleted', 'ActivityFailed'] : ['(none)']) : [row.event_type],
      count: Number(row.count),
    }));
  }

  /**
   * Migrates, at rest, up to `limit` machines of `type` stored at versions `oldest`..`current - 1`
   * (not halted): each is locked as a step locks it (SKIP LOCKED: a machine being stepped is left
   * to its step, which migrates it anyway), `migrate` gives its new state and data (or undefined to
   * leave it), and all are written in one statement with `current`, in one transaction. Only a
   * machine at rest is given to `migrate`: no step for `idleMs` and no event waiting in its inbox.
   * One in use is left to its steps, which migrate it when a process of this version takes them;
   * migrated here, it would be out of reach of the older processes of a rollout still under way,
   * which step it meanwhile. Machines in use are still read, and paged past, so that a pass finding
   * only those does not count as one that found nothing. Reads in id
   * order after `afterId`, so a machine left as it was does not hold the next batches back. Returns
   * how many machines were read, the last id read, and the ones written with the version each was stored at.
   */
  async migrateAtRest(
    type: string,
    oldest: number,
    current: number,
    limit: number,
    afterId: string,
    idleMs: number,
    migrate: (machine: StoredMachine) => { state: string; data: unknown } | undefined,
  ): Promise<{ read: number; lastId: string; migrated: { id: string; from: number }[] }> {
    const t = this.tables;
    return inTransaction(this.pool, async (client) => {
      const rows = await client.query<{ id: string; state: string; data: unknown; status: StoredMachine['status']; definition_version: number; at_rest: boolean }>(
        `SELECT m.id, m.state, m.data, m.status, m.definition_version,
                m.updated_at < now() - make_interval(secs => $5::double precision / 1000)
                  AND NOT EXISTS (SELECT 1 FROM ${t.inbox} i WHERE i.machine_type = m.type AND i.machine_id = m.id) AS at_rest
         FROM ${t.machines} m
         WHERE m.type = $1 AND m.definition_version >= $2 AND m.definition_version < $3 AND m.status <> 'halted' AND m.id > $4
         ORDER BY m.id LIMIT ${limit} FOR UPDATE OF m SKIP LOCKED`,
        [type, oldest, current, afterId, idleMs],
      );
      const updates: { id: string; state: string; data: unknown }[] = [];
      const migrated: { id: string; from: number }[] = [];
      for (const row of rows.rows) {
        if (!row.at_rest) continue;
        const next = migrate({ type, id: row.id, state: row.state, data: row.data, status: row.status, definitionVersion: row.definition_version });
        if (next === undefined) continue;
        updates.push({ id: row.id, state: next.state, data: next.data });
        migrated.push({ id: row.id, from: row.definition_version });
      }
      if (updates.length > 0) {
        await client.query(
          `UPDATE ${t.machines} m SET state = u.state, data = u.data, definition_version = $3, updated_at = now()
           FROM ${recordset('$2', 'id text, state text, data jsonb', updates)} u
           WHERE m.type = $1 AND m.id = u.id`,
          [type, JSON.stringify(updates), current],
        );
      }
      return { read: rows.rows.length, lastId: rows.rows.at(-1)?.id ?? afterId, migrated };
    });
  }
}
