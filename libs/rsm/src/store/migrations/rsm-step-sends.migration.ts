import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * What each step sent, beside how many effects it had: the step history (inspection, the console,
 * `rsm inspect`) shows where a machine's events went long after the outbox row is acknowledged and
 * gone. At most STEP_SENDS_KEPT entries per step ({ kind, type, id, event }), written in the step's
 * one steps INSERT. A constant default makes adding the column instant (no table rewrite); rows
 * written before it read as having sent nothing on record. The janitor deletes steps by age as before.
 * Also the definition version that ran each step (null for steps written before it was kept): during
 * a rolling deploy, the history shows which release stepped a machine.
 */
export function rsmStepSendsMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmStepSends1764700000000 implements MigrationInterface {
    readonly name = 'RsmStepSends1764700000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.steps} ADD COLUMN sends jsonb NOT NULL DEFAULT '[]'::jsonb, ADD COLUMN definition_version integer`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.steps} DROP COLUMN IF EXISTS sends, DROP COLUMN IF EXISTS definition_version`);
    }
  };
}
