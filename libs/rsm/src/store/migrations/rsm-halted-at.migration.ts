import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * Lets a step that keeps its machine's state update the row in place (a HOT update: no new index
 * entries, and the old version is pruned from its page without a vacuum).
 *
 * Postgres updates in place only when no indexed column changes, and a step always moved
 * `updated_at`, the key of the index retention found halted machines by: no machine row was ever
 * updated in place. Retention now finds them by `halted_at`, set once, by the step that halts the
 * machine. Rows halted before this migration, or by a process of the release before it during a
 * rolling deploy, have none: the janitor stamps them with their `updated_at` (the time of their
 * last step, which halted them) through the second partial index, which holds only such rows.
 * Free space left on each page written from now on (fillfactor) keeps a row's next version on it.
 *
 * The old index goes now rather than a release later: while it exists no update is in place. A
 * process of the release before, still running during the deploy, finds halted machines for
 * retention by a full scan instead, once a janitor round. The ADD COLUMN's lock is held while the
 * two indexes are built (one transaction per migration): steps wait that long.
 */
export function rsmHaltedAtMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmHaltedAt1764900000000 implements MigrationInterface {
    readonly name = 'RsmHaltedAt1764900000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.machines} ADD COLUMN halted_at timestamptz`);
      await q.query(`CREATE INDEX rsm_machines_halted_at ON ${t.machines} (halted_at) WHERE halted_at IS NOT NULL`);
      await q.query(`CREATE INDEX rsm_machines_halted_unstamped ON ${t.machines} (type, id) WHERE status = 'halted' AND halted_at IS NULL`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_machines_halted`);
      await q.query(`ALTER TABLE ${t.machines} SET (fillfactor = 80)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.machines} RESET (fillfactor)`);
      await q.query(`CREATE INDEX IF NOT EXISTS rsm_machines_halted ON ${t.machines} (updated_at) WHERE status = 'halted'`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_machines_halted_unstamped`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_machines_halted_at`);
      await q.query(`ALTER TABLE ${t.machines} DROP COLUMN IF EXISTS halted_at`);
    }
  };
}
