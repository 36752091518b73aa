import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { RsmRuntime, type AnyMachineDefinition, type ActivityDefinition, type RsmLogger, type RsmOptionsInput } from '#rsm';
import type { CrashHook } from '../../src/core/crash-points.js';
import { TEST_SIGNING_KEYS, testConfig } from './config.js';

/** A schema name no other test uses, so test files can run side by side on one database. */
export function uniqueSchema(prefix: string): string {
  return `t_${prefix}_${randomBytes(4).toString('hex')}`;
}

/** A Redis prefix no other test uses. */
export function uniquePrefix(prefix: string): string {
  return `rsmtest-${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A silent logger for tests that do not assert on logs. */
export const quietLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child() {
    return quietLogger;
  },
};

export interface RuntimeSpec {
  readonly service: string;
  readonly schema: string;
  readonly prefix: string;
  readonly machines: readonly AnyMachineDefinition[];
  readonly activities?: readonly ActivityDefinition<never, unknown>[];
  readonly routes?: Record<string, string>;
  readonly overrides?: Partial<RsmOptionsInput>;
  readonly crashHook?: CrashHook;
  readonly logger?: RsmLogger;
}

/** A started runtime against the test Postgres and Redis. */
export async function startRuntime(spec: RuntimeSpec): Promise<RsmRuntime> {
  const runtime = new RsmRuntime(
    {
      service: spec.service,
      postgres: { url: testConfig.DATABASE_URL, schema: spec.schema, poolSize: 8 },
      redis: { url: testConfig.REDIS_URL, prefix: spec.prefix, signingKeys: TEST_SIGNING_KEYS },
      routes: spec.routes ?? {},
      delivery: { ackTimeoutMs: 1_000, sweepIntervalMs: 200, recoveryGraceMs: 500 },
      timers: { pollIntervalMs: 50 },
      activities: { pollIntervalMs: 100, leaseMs: 2_000 },
      ...spec.overrides,
    },
    { machines: spec.machines, activities: spec.activities as ActivityDefinition[] | undefined, logger: spec.logger ?? quietLogger, crashHook: spec.crashHook },
  );
  await runtime.start();
  return runtime;
}

/** Waits until `check` returns a value other than undefined/false, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A plain pg pool on the test database, for assertions and cleanup. */
export function testPool(): pg.Pool {
  return new pg.Pool({ connectionString: testConfig.DATABASE_URL, max: 4 });
}

export async function dropSchemas(...schemas: string[]): Promise<void> {
  const pool = testPool();
  try {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}
