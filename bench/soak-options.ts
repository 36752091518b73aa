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
    // Quiet pairs retire after the same 20 s; signed items older than 10 s are refused, so a retired
    // receive counter goes 30 s later.
    retention: { haltedMachinesMs: SOAK_RETENTION_MS, quietPairsMs: SOAK_RETENTION_MS },
    delivery: { maxMessageAgeMs: 10_000 },
    cleanupIntervalMs: 5_000,
  };
}
