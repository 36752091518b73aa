import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * Which process holds an activity call's lease (its HolderLock id; null while the call waits out a
 * backoff, and for calls from before this migration), so that the calls of a process that died are
 * taken again as soon as its holder lock is gone rather than when their lease runs out.
 */
export function rsmActivityHoldersMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmActivityHolders1764800000000 implements MigrationInterface {
    readonly name = 'RsmActivityHolders1764800000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.activities} ADD COLUMN holder integer`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${t.activities} DROP COLUMN IF EXISTS holder`);
    }
  };
}
