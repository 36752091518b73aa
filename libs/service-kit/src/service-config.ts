import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { customerKeysSchema, keyListSchema } from './auth/api-keys.js';

/** A positive whole number of milliseconds, or unset. */
const optionalMs = z.coerce.number().int().positive().optional();

/**
 * A file holding PEM text with a `label` block, read at start-up: the value is the file's text. An
 * unreadable file or one without such a block stops start-up naming the variable.
 */
const pemFile = (label: string) =>
  z
    .string()
    .min(1)
    .transform((path, ctx) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
        return z.NEVER;
      }
    })
    .refine((text) => new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text), `the file holds no PEM ${label}`)
    .optional();

/**
 * The operator consoles of the suite, `<service>=<http(s) base URL>` comma-separated, as the
 * operator's browser reaches them: each service's console shows every service in its overview and
 * search, opens a machine of another service's type there, and lets those origins (only) read its
 * `/rsm/*` (CORS). Unset: the console shows its own service only.
 */
const consoleServicesSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return undefined;
    const services: Record<string, string> = {};
    for (const entry of text.split(',')) {
      const at = entry.indexOf('=');
      const name = entry.slice(0, at).trim();
      const url = entry.slice(at + 1).trim();
      if (at <= 0 || !/^[a-z][a-z0-9-]{0,62}$/.test(name) || !/^https?:\/\/[^\s@]+$/.test(url) || !URL.canParse(url)) {
        ctx.addIssue({ code: 'custom', message: `"${entry.slice(0, 100)}" is not <service>=<http(s) URL>` });
        return z.NEVER;
      }
      services[name] = url;
    }
    return services;
  });

/** Settings every service reads from its environment. */
export const baseEnvSchema = z.object({
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').default('postgres://postgres@127.0.0.1:5432/test'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// URL').default('redis://127.0.0.1:6379'),
  /** Schema of this service's tables (default: its name); lets several stacks share a database. */
  DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case identifier').optional(),
  REDIS_PREFIX: z.string().min(1).default('rsm'),
  /**
   * TLS to Redis (with a rediss:// REDIS_URL): the CA that signed Redis's certificate when it is not
   * one of Node's, and a client certificate and key when Redis requires them. File paths.
   */
  REDIS_TLS_CA_FILE: pemFile('CERTIFICATE'),
  REDIS_TLS_CERT_FILE: pemFile('CERTIFICATE'),
  REDIS_TLS_KEY_FILE: pemFile('PRIVATE KEY'),
  /** Host name Redis's certificate carries, when it differs from REDIS_URL's host. */
  REDIS_TLS_SERVERNAME: z.string().min(1).max(253).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** false: an API-only process that leaves every step to worker processes. */
  RSM_WORKER: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Customer keys, each bound to its owner ids: `<key>=<owner>[|<owner>...]`, comma-separated. */
  CUSTOMER_API_KEYS: customerKeysSchema,
  /** Keys of devices and services (the simulator, service-to-service calls); the first is the one this app sends. */
  SERVICE_API_KEYS: keyListSchema,
  /** Keys of operators: `/rsm/*`, lists of everything, admin routes. */
  OPERATOR_API_KEYS: keyListSchema,
  /**
   * HMAC key that signs what the runtime puts in Redis, shared by every service of a deployment;
   * required when NODE_ENV=production (see rsmOptionsFor). `_PREVIOUS` is still accepted during a rotation.
   */
  RSM_SIGNING_KEY: z.string().min(32, 'at least 32 characters').optional(),
  RSM_SIGNING_KEY_PREVIOUS: z.string().min(32, 'at least 32 characters').optional(),
  NODE_ENV: z.string().optional(),
  /** Runtime deadlines (rsm.postgres.*TimeoutMs, rsm.redis.startupTimeoutMs); unset: the runtime's defaults. */
  RSM_PG_CONNECT_TIMEOUT_MS: optionalMs,
  RSM_PG_STATEMENT_TIMEOUT_MS: optionalMs,
  RSM_PG_QUERY_TIMEOUT_MS: optionalMs,
  RSM_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: optionalMs,
  RSM_REDIS_STARTUP_TIMEOUT_MS: optionalMs,
  /** Admission control (rsm.admission.maxLagMs): new work from outside is refused (429) while events wait longer than this. */
  RSM_ADMISSION_MAX_LAG_MS: optionalMs,
  RSM_CONSOLE_SERVICES: consoleServicesSchema,
});

/** Thrown when the environment does not configure a service; the message names each bad variable. */
export class ServiceConfigError extends Error {
  override readonly name = 'ServiceConfigError';
}

/**
 * Parses `env` with `schema`, or throws naming every bad variable.
 *
 * @example
 * export const config = loadServiceConfig('ingestion', baseEnvSchema.extend({ PORT: port(3000) }), process.env);
 */
export function loadServiceConfig<S extends z.ZodType>(service: string, schema: S, env: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ServiceConfigError(`invalid configuration of ${service}:\n${lines.join('\n')}`);
  }
  return result.data;
}

/**
 * Another service's base URL, as `${url}/api/...` is built from it: http or https, a host, and
 * nothing else (no credentials, path, query or fragment; one trailing `/` is dropped). Anything
 * else stops start-up here instead of failing every call later.
 */
export const serviceUrl = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not a URL' });
        return z.NEVER;
      }
      const problem =
        url.protocol !== 'http:' && url.protocol !== 'https:'
          ? 'must be http or https'
          : url.username !== '' || url.password !== ''
            ? 'must not carry credentials'
            : url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(value)
              ? 'must be scheme, host and port only (no path, query or fragment)'
              : undefined;
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return url.origin;
    });

/** The longest wait a Node timer keeps: the suite's one figure, from its contracts. */
export { MAX_TIMER_MS } from '#contracts';

/** A TCP port variable with a default. */
export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/**
 * `MACHINE_DEFINITIONS`: which release's machine definitions an app runs. `current` (the default)
 * is this code's; `previous` runs the definitions of the release before (kept frozen beside the
 * current ones while machines may still be stored at their version), as the old side of an upgrade
 * drill: old and new pods side by side on one database. Not for production.
 */
export const machineDefinitionsSetting = z.enum(['current', 'previous']).default('current');
