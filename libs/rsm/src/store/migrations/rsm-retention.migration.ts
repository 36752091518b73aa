import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * Retention reads only what it deletes: halted machines and redriven dead letters are found by age
 * through partial indexes (open dead letters already have one), never by scanning the table.
 */
export function rsmRetentionMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmRetention1764400000000 implements MigrationInterface {
    readonly name = 'RsmRetention1764400000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX rsm_machines_halted ON ${t.machines} (updated_at) WHERE status = 'halted'`);
      await q.query(`CREATE INDEX rsm_dead_letters_redriven ON ${t.deadLetters} (redriven_at) WHERE redriven_at IS NOT NULL`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_dead_letters_redriven`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_machines_halted`);
    }
  };
}
