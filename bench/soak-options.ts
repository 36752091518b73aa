import type { RsmOptionsInput } from '#rsm';

/** What the soak's janitor is set to keep: short, so that deletion happens many times within a run. */
export const SOAK_RETENTION_MS = 20_000;

/** Runtime options of both soak services: retention short enough to be exercised many times. */
export function soakRuntimeOptions(service: string, schema: string, routes: Record<string, string>, o: { databaseUrl: string; redisUrl: string; signingKey: string }): RsmOptionsInput {
  return {
    service,
    postgres: { url: o.databaseUrl, schema, poolSize: 12 },
    redis: { url: o.redisUrl, prefix: 'rsm-soak', signingKeys: [o.signingKey] },
    routes,
    stepHistoryMs: SOAK_RETENTION_MS,
    requests: { retentionMs: SOAK_RETENTION_MS },
    retention: { haltedMachinesMs: SOAK_RETENTION_MS },
    cleanupIntervalMs: 5_000,
  };
}
