import { EVENT_CONTRACTS, MACHINE_ROUTES, type ServiceName } from '#contracts';
import type { RsmModuleOptions, RsmLogger } from '#rsm';
import { ServiceConfigError } from './service-config.js';

/**
 * The key used outside production when RSM_SIGNING_KEY is not set, so that `npm start` and the
 * tests need no secret. It is public: a deployment must set its own (NODE_ENV=production requires it).
 */
export const DEVELOPMENT_SIGNING_KEY = 'tailspin-development-signing-key-not-a-secret';

interface SigningConfig {
  RSM_SIGNING_KEY?: string | undefined;
  RSM_SIGNING_KEY_PREVIOUS?: string | undefined;
  NODE_ENV?: string | undefined;
}

/** Optional runtime deadlines from the environment (validated by baseEnvSchema). */
interface DeadlineConfig {
  RSM_PG_CONNECT_TIMEOUT_MS?: number | undefined;
  RSM_PG_STATEMENT_TIMEOUT_MS?: number | undefined;
  RSM_PG_QUERY_TIMEOUT_MS?: number | undefined;
  RSM_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS?: number | undefined;
  RSM_REDIS_STARTUP_TIMEOUT_MS?: number | undefined;
}

/** The current key first, then the previous one during a rotation. */
export function signingKeysFor(service: string, config: SigningConfig): string[] {
  const current = config.RSM_SIGNING_KEY;
  if (current === undefined) {
    if (config.NODE_ENV === 'production') {
      throw new ServiceConfigError(`invalid configuration of ${service}:\n  RSM_SIGNING_KEY: required in production (at least 32 characters, shared by every service)`);
    }
    return [DEVELOPMENT_SIGNING_KEY];
  }
  return config.RSM_SIGNING_KEY_PREVIOUS === undefined ? [current] : [current, config.RSM_SIGNING_KEY_PREVIOUS];
}

/** The RSM settings of a suite service, from its validated config. */
export function rsmOptionsFor(
  service: ServiceName,
  config: { DATABASE_URL: string; REDIS_URL: string; DB_SCHEMA?: string | undefined; REDIS_PREFIX: string; RSM_WORKER: boolean; OPERATOR_API_KEYS: readonly string[] } & SigningConfig & DeadlineConfig,
  logger?: RsmLogger,
): RsmModuleOptions {
  const set = <K extends string>(key: K, value: number | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, number>));
  return {
    service,
    postgres: {
      url: config.DATABASE_URL,
      ...(config.DB_SCHEMA !== undefined ? { schema: config.DB_SCHEMA } : {}),
      ...set('connectTimeoutMs', config.RSM_PG_CONNECT_TIMEOUT_MS),
      ...set('statementTimeoutMs', config.RSM_PG_STATEMENT_TIMEOUT_MS),
      ...set('queryTimeoutMs', config.RSM_PG_QUERY_TIMEOUT_MS),
      ...set('idleInTransactionTimeoutMs', config.RSM_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS),
    },
    redis: { url: config.REDIS_URL, prefix: config.REDIS_PREFIX, signingKeys: signingKeysFor(service, config), ...set('startupTimeoutMs', config.RSM_REDIS_STARTUP_TIMEOUT_MS) },
    routes: MACHINE_ROUTES,
    worker: config.RSM_WORKER,
    adminTokens: config.OPERATOR_API_KEYS,
    deps: { contracts: EVENT_CONTRACTS, ...(logger !== undefined ? { logger } : {}) },
  };
}
