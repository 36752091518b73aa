import { join } from 'node:path';
import { z } from 'zod';

const root = join(import.meta.dirname, '..', '..', '..');

/** Settings of `npm start` / `npm stop`, from the environment. */
export const suiteConfig = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').default('postgres://postgres@127.0.0.1:5432/test'),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// URL').default('redis://127.0.0.1:6379'),
    /** Ports are PORT_BASE + 0..5 in the order ingestion, workflow, package, drone-scheduler, delivery, drone-sim. */
    PORT_BASE: z.coerce.number().int().min(1).max(65_000).default(3000),
    HOST: z.string().default('127.0.0.1'),
    /** Prefix of the services' schemas and Redis keys, so several stacks can share one Postgres and Redis. */
    STACK: z.string().regex(/^[a-z][a-z0-9_]{0,20}$/).default('tailspin'),
    FLEET_SIZE: z.coerce.number().int().min(0).default(20),
    /**
     * Processes per app (PM2 cluster mode: they share the app's port, as pods share a Service), so
     * that a killed one leaves the app serving. The drone simulator keeps flights in memory: always one.
     */
    REPLICAS: z.coerce.number().int().min(1).max(8).default(1),
    LEG_MS_MIN: z.coerce.number().int().min(0).default(0),
    LEG_MS_MAX: z.coerce.number().int().min(0).default(2_000),
    /** The drones' flight watchdog; by default the admitted lag (3 s), five longest legs and 1 s: at least 5 s. */
    FLIGHT_WATCHDOG_MS: z.coerce.number().int().min(500).optional(),
    LOG_LEVEL: z.string().default('info'),
    /** Where the process manager and locally started databases keep their files. */
    RUN_DIR: z.string().default(join(root, '.run')),
    READY_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  })
  .parse(process.env);

export type SuiteConfig = typeof suiteConfig;

export const projectRoot = root;

/** PM2 reads its home from the environment when it loads: point it inside the run directory first. */
export function usePm2Home(): string {
  const home = join(suiteConfig.RUN_DIR, 'pm2');
  process.env.PM2_HOME = home;
  return home;
}
