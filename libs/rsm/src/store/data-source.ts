import type { Pool } from 'pg';
import { DataSource, type MigrationInterface } from 'typeorm';
import { rsmEntities } from './entities/rsm-entities.js';
import { rsmAdminAuditMigration } from './migrations/rsm-admin-audit.migration.js';
import { rsmActivityHoldersMigration } from './migrations/rsm-activity-holders.migration.js';
import { rsmEpochsMigration } from './migrations/rsm-epochs.migration.js';
import { rsmGapsMigration } from './migrations/rsm-gaps.migration.js';
import { rsmHaltedAtMigration } from './migrations/rsm-halted-at.migration.js';
import { rsmInitialMigration } from './migrations/rsm-initial.migration.js';
import { rsmRetentionMigration } from './migrations/rsm-retention.migration.js';
import { rsmStepSendsMigration } from './migrations/rsm-step-sends.migration.js';
import { assertSchemaName } from './table-names.js';

/** What a service's DataSource needs. */
export interface RsmDataSourceOptions {
  /** `postgres://user@host:port/db` */
  readonly url: string;
  /** The service's own schema; the runtime's tables and migrations table live there. */
  readonly schema: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** The application's own entities and migrations, run after the runtime's. */
  readonly entities?: readonly (string | (new () => unknown) | import('typeorm').EntitySchema)[];
  readonly migrations?: readonly (new () => MigrationInterface)[];
  /** Application name shown in `pg_stat_activity`. */
  readonly applicationName?: string;
  /** Deadlines of the pool's connections; without them a stalled network stalls every caller. */
  readonly timeouts?: RsmPoolTimeouts;
  /**
   * `pg`'s pipeline mode (default on): a connection sends a statement without waiting for the
   * answer to the one before. The runtime's transactions send `BEGIN` with their first statement,
   * one round trip fewer each (see `inTransaction`). Cursors and query streams cannot run on such a
   * connection; pass `false` if the application's own code uses them on this DataSource.
   */
  readonly pipeline?: boolean;
}

/** Connection deadlines (see `postgres.*TimeoutMs` in the runtime options). */
export interface RsmPoolTimeouts {
  /** Getting a pooled connection, new or free. */
  readonly connectMs: number;
  /** Server side: Postgres cancels a longer statement. */
  readonly statementMs: number;
  /** Client side: no answer after this long discards the connection (longer than `statementMs`). */
  readonly queryMs: number;
  /** Server side: a session idle in a transaction this long is ended and its locks released. */
  readonly idleInTransactionMs: number;
  /** TCP keepalive: first probe after this long idle. */
  readonly keepAliveInitialDelayMs: number;
}

/**
 * One DataSource per service, used by Nest, by the runtime's hot path (through its pool) and by the
 * TypeORM CLI. `synchronize` is off: tables come from migrations only.
 *
 * @example
 * const ds = createRsmDataSource({ url: 'postgres://postgres@127.0.0.1/test', schema: 'workflow' });
 * await initializeRsmDataSource(ds);
 */
export function createRsmDataSource(options: RsmDataSourceOptions): DataSource {
  const schema = assertSchemaName(options.schema);
  const entities = rsmEntities(schema);
  return new DataSource({
    type: 'postgres',
    url: options.url,
    schema,
    synchronize: false,
    migrationsRun: false,
    migrationsTableName: 'rsm_migrations',
    migrationsTransactionMode: 'each',
    entities: [entities.machine, entities.deadLetter, entities.step, entities.inbox, ...(options.entities ?? [])],
    migrations: [rsmInitialMigration(schema), rsmGapsMigration(schema), rsmRetentionMigration(schema), rsmEpochsMigration(schema), rsmAdminAuditMigration(schema), rsmStepSendsMigration(schema), rsmActivityHoldersMigration(schema), rsmHaltedAtMigration(schema), ...(options.migrations ?? [])],
    applicationName: options.applicationName ?? `rsm-${schema}`,
    poolSize: options.poolSize ?? 10,
    logging: false,
    extra: { pipeline: options.pipeline ?? true, ...(options.timeouts === undefined ? {} : poolTimeouts(options.timeouts)) },
  });
}

/** The `pg` pool settings for the deadlines (statement and idle timeouts are sent as start-up parameters). */
function poolTimeouts(t: RsmPoolTimeouts): Record<string, unknown> {
  return {
    connectionTimeoutMillis: t.connectMs,
    statement_timeout: t.statementMs,
    query_timeout: t.queryMs,
    idle_in_transaction_session_timeout: t.idleInTransactionMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveInitialDelayMs,
  };
}

/**
 * Connects and brings the schema up to date. Safe to call from many processes at once: migrations
 * run under an advisory lock, so one process migrates and the others wait and find nothing to do.
 */
export async function initializeRsmDataSource(dataSource: DataSource): Promise<void> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  const schema = String((dataSource.options as { schema?: string }).schema ?? 'public');
  const client = await poolOf(dataSource).connect();
  // A connection closed by the server while checked out must not crash the process (TypeORM
  // already listens on the pool for idle ones).
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`rsm-migrate:${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${assertSchemaName(schema)}"`);
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`rsm-migrate:${schema}`]);
    }
  } finally {
    client.off('error', ignore);
    client.release();
  }
}

/** The pg pool behind a TypeORM Postgres DataSource: the runtime's hot path uses it directly. */
export function poolOf(dataSource: DataSource): Pool {
  const driver = dataSource.driver as unknown as { master?: Pool };
  if (driver.master === undefined) throw new Error('DataSource is not an initialized Postgres DataSource');
  return driver.master;
}
