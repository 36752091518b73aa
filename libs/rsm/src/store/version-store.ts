import type { Pool } from 'pg';
import type { PendingEventCount, StoredVersionCount } from '../planning/versioning.js';
import { recordset } from './recordset.js';
import type { TableNames } from './table-names.js';

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
}
