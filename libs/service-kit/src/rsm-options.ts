import { MACHINE_ROUTES, type ServiceName } from '#contracts';
import type { RsmModuleOptions, RsmLogger } from '#rsm';

/** The RSM settings of a suite service, from its validated config. */
export function rsmOptionsFor(
  service: ServiceName,
  config: { DATABASE_URL: string; REDIS_URL: string; DB_SCHEMA?: string | undefined; REDIS_PREFIX: string; RSM_WORKER: boolean; OPERATOR_API_KEYS: readonly string[] },
  logger?: RsmLogger,
): RsmModuleOptions {
  return {
    service,
    postgres: { url: config.DATABASE_URL, ...(config.DB_SCHEMA !== undefined ? { schema: config.DB_SCHEMA } : {}) },
    redis: { url: config.REDIS_URL, prefix: config.REDIS_PREFIX },
    routes: MACHINE_ROUTES,
    worker: config.RSM_WORKER,
    adminTokens: config.OPERATOR_API_KEYS,
    ...(logger !== undefined ? { deps: { logger } } : {}),
  };
}
