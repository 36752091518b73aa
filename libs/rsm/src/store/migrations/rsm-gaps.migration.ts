import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * Gaps made visible and repairable: buffered rows found by age through an index (the gauges read a
 * bounded slice, never the whole table), the sending service kept with each buffered row (a skip
 * releases rows with the event ids they would have had), and a record of every skipped gap.
 */
export function rsmGapsMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmGaps1764300000000 implements MigrationInterface {
    readonly name = 'RsmGaps1764300000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX rsm_reorder_created ON ${t.reorder} (created_at)`);
      await q.query(`ALTER TABLE ${t.reorder} ADD COLUMN from_service text`);
      await q.query(`
        CREATE TABLE ${t.gapSkips} (
          id bigserial PRIMARY KEY,
          sender text NOT NULL,
          receiver text NOT NULL,
          from_seq bigint NOT NULL,
          to_seq bigint NOT NULL,
          skipped_by text NOT NULL,
          reason text NOT NULL,
          at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX rsm_gap_skips_at ON ${t.gapSkips} (at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS ${t.gapSkips}`);
      await q.query(`ALTER TABLE ${t.reorder} DROP COLUMN IF EXISTS from_service`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_reorder_created`);
    }
  };
}
