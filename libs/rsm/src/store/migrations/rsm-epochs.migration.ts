import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * Numberings (epochs) for the per-pair sequence counters, so that quiet pairs can be retired:
 * a send counter takes its epoch from a sequence of the schema when it is created (monotone, never
 * reused), remembers when it was last used and where its messages go; a receive counter keeps the
 * epoch it counts in and when the sender retired it; reorder rows and gap records carry the epoch.
 * Rows from before this migration are epoch 0, as are messages that carry no epoch.
 */
export function rsmEpochsMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmEpochs1764500000000 implements MigrationInterface {
    readonly name = 'RsmEpochs1764500000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE SEQUENCE ${t.sendEpochs} AS bigint START 1`);
      await q.query(`ALTER TABLE ${t.sendSeq} ADD COLUMN epoch bigint NOT NULL DEFAULT 0`);
      await q.query(`ALTER TABLE ${t.sendSeq} ALTER COLUMN epoch SET DEFAULT nextval('${t.sendEpochs}')`);
      await q.query(`ALTER TABLE ${t.sendSeq} ADD COLUMN used_at timestamptz NOT NULL DEFAULT now()`);
      await q.query(`ALTER TABLE ${t.sendSeq} ADD COLUMN destination text`);
      await q.query(`CREATE INDEX rsm_send_seq_used ON ${t.sendSeq} (used_at)`);
      await q.query(`ALTER TABLE ${t.recvSeq} ADD COLUMN epoch bigint NOT NULL DEFAULT 0`);
      await q.query(`ALTER TABLE ${t.recvSeq} ADD COLUMN retired_at timestamptz`);
      await q.query(`CREATE INDEX rsm_recv_seq_retired ON ${t.recvSeq} (retired_at) WHERE retired_at IS NOT NULL`);
      await q.query(`ALTER TABLE ${t.reorder} ADD COLUMN epoch bigint NOT NULL DEFAULT 0`);
      await q.query(`ALTER TABLE ${t.reorder} DROP CONSTRAINT rsm_reorder_pkey`);
      await q.query(`ALTER TABLE ${t.reorder} ADD PRIMARY KEY (sender, receiver, epoch, seq)`);
      await q.query(`ALTER TABLE ${t.gapSkips} ADD COLUMN epoch bigint NOT NULL DEFAULT 0`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.gapSkips} DROP COLUMN IF EXISTS epoch`);
      await q.query(`DELETE FROM ${t.reorder} WHERE epoch <> 0`);
      await q.query(`ALTER TABLE ${t.reorder} DROP CONSTRAINT rsm_reorder_pkey`);
      await q.query(`ALTER TABLE ${t.reorder} ADD PRIMARY KEY (sender, receiver, seq)`);
      await q.query(`ALTER TABLE ${t.reorder} DROP COLUMN IF EXISTS epoch`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_recv_seq_retired`);
      await q.query(`ALTER TABLE ${t.recvSeq} DROP COLUMN IF EXISTS retired_at`);
      await q.query(`ALTER TABLE ${t.recvSeq} DROP COLUMN IF EXISTS epoch`);
      await q.query(`DROP INDEX IF EXISTS "${schema}".rsm_send_seq_used`);
      await q.query(`ALTER TABLE ${t.sendSeq} DROP COLUMN IF EXISTS destination`);
      await q.query(`ALTER TABLE ${t.sendSeq} DROP COLUMN IF EXISTS used_at`);
      await q.query(`ALTER TABLE ${t.sendSeq} DROP COLUMN IF EXISTS epoch`);
      await q.query(`DROP SEQUENCE IF EXISTS ${t.sendEpochs}`);
    }
  };
}
