import type { MigrationInterface, QueryRunner } from 'typeorm';
import { tableNames } from '../table-names.js';

/**
 * The operators' audit log: one row per mutating admin action (redrive, discard, skip a gap), who
 * asked (the name they gave and a fingerprint of the token they used), when, what it was aimed at
 * and what came of it. Rows are kept for `retention.auditLogMs` (a year by default): operator
 * actions are few, and the log is what answers "who did this" months later.
 */
export function rsmAdminAuditMigration(schema: string): new () => MigrationInterface {
  const t = tableNames(schema);
  return class RsmAdminAudit1764600000000 implements MigrationInterface {
    readonly name = 'RsmAdminAudit1764600000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        CREATE TABLE ${t.adminAudit} (
          id bigserial PRIMARY KEY,
          at timestamptz NOT NULL DEFAULT now(),
          actor text NOT NULL,
          token_id text NOT NULL,
          action text NOT NULL,
          targets jsonb NOT NULL,
          outcome jsonb NOT NULL
        )`);
      await q.query(`CREATE INDEX rsm_admin_audit_action ON ${t.adminAudit} (action, id)`);
      await q.query(`CREATE INDEX rsm_admin_audit_at ON ${t.adminAudit} (at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE IF EXISTS ${t.adminAudit}`);
    }
  };
}
