import { EVENT_CONTRACTS, MACHINE_ROUTES, type ServiceName } from '#contracts';
import type { RsmLogger } from '#rsm';
import type { RsmModuleOptions } from '#rsm/nest';
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
  RSM_ADMISSION_MAX_LAG_MS?: number | undefined;
}

/** Redis TLS files from the environment (read and checked by baseEnvSchema). */
interface RedisTlsConfig {
  REDIS_URL: string;
  REDIS_TLS_CA_FILE?: string | undefined;
  REDIS_TLS_CERT_FILE?: string | undefined;
  REDIS_TLS_KEY_FILE?: string | undefined;
  REDIS_TLS_SERVERNAME?: string | undefined;
}

/** `rsm.redis.tls` from REDIS_TLS_*, or nothing when none is set; refuses TLS files without rediss://. */
export function redisTlsFor(service: string, config: RedisTlsConfig): NonNullable<RsmModuleOptions['redis']['tls']> | undefined {
  const { REDIS_TLS_CA_FILE: ca, REDIS_TLS_CERT_FILE: cert, REDIS_TLS_KEY_FILE: key, REDIS_TLS_SERVERNAME: servername } = config;
  if (ca === undefined && cert === undefined && key === undefined && servername === undefined) return undefined;
  const problems: string[] = [];
  if (!config.REDIS_URL.startsWith('rediss://')) problems.push('  REDIS_URL: must be rediss:// when REDIS_TLS_* is set');
  if ((cert === undefined) !== (key === undefined)) problems.push('  REDIS_TLS_CERT_FILE: REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together');
  if (problems.length > 0) throw new ServiceConfigError(`invalid configuration of ${service}:\n${problems.join('\n')}`);
  return { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), ...(servername !== undefined ? { servername } : {}) };
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
  config: {
    DATABASE_URL: string;
    DB_SCHEMA?: string | undefined;
    REDIS_PREFIX: string;
    RSM_WORKER: boolean;
    OPERATOR_API_KEYS: readonly string[];
    SERVICE_API_KEYS?: readonly string[];
    CUSTOMER_API_KEYS?: readonly { readonly key: string }[];
    RSM_CONSOLE_SERVICES?: Readonly<Record<string, string>> | undefined;
  } & RedisTlsConfig & SigningConfig & DeadlineConfig,
  logger?: RsmLogger,
): RsmModuleOptions {
  const tls = redisTlsFor(service, config);
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
    redis: { url: config.REDIS_URL, prefix: config.REDIS_PREFIX, signingKeys: signingKeysFor(service, config), ...set('startupTimeoutMs', config.RSM_REDIS_STARTUP_TIMEOUT_MS), ...(tls !== undefined ? { tls } : {}) },
    ...(config.RSM_ADMISSION_MAX_LAG_MS !== undefined ? { admission: { maxLagMs: config.RSM_ADMISSION_MAX_LAG_MS } } : {}),
    routes: MACHINE_ROUTES,
    worker: config.RSM_WORKER,
    adminTokens: config.OPERATOR_API_KEYS,
    // Customer and service keys are known callers without the right: /rsm/* answers them 403, as the app's routes would.
    otherTokens: [...(config.SERVICE_API_KEYS ?? []), ...(config.CUSTOMER_API_KEYS ?? []).map((binding) => binding.key)],
    ...(config.RSM_CONSOLE_SERVICES !== undefined ? { console: { services: config.RSM_CONSOLE_SERVICES } } : {}),
    deps: { contracts: EVENT_CONTRACTS, ...(logger !== undefined ? { logger } : {}) },
  };
}
