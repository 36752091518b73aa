import { z } from 'zod';
import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, MAX_TIMER_MS, port, serviceUrl } from '#service-kit';

export const configSchema = baseEnvSchema
  .omit({ DATABASE_URL: true, DB_SCHEMA: true, REDIS_URL: true, REDIS_PREFIX: true, REDIS_TLS_CA_FILE: true, REDIS_TLS_CERT_FILE: true, REDIS_TLS_KEY_FILE: true, REDIS_TLS_SERVERNAME: true, RSM_WORKER: true })
  .extend({
    PORT: port(DEFAULT_PORTS['drone-sim']),
    DRONE_SCHEDULER_URL: serviceUrl('http://127.0.0.1:3003'),
    DELIVERY_URL: serviceUrl('http://127.0.0.1:3004'),
    /** Each leg of a flight takes a random time between these (accelerated time). */
    LEG_MS_MIN: z.coerce.number().int().min(0).max(MAX_TIMER_MS).default(0),
    LEG_MS_MAX: z.coerce.number().int().min(0).max(MAX_TIMER_MS).default(2_000),
    /** How long to keep retrying a report that fails before abandoning the flight. */
    REPORT_RETRY_MS: z.coerce.number().int().positive().max(MAX_TIMER_MS).default(120_000),
    /** Flights in the air at once; one more is refused (429), so a caller cannot grow this process without end. */
    MAX_FLIGHTS: z.coerce.number().int().positive().max(1_000_000).default(10_000),
  })
  .refine((config) => config.LEG_MS_MIN <= config.LEG_MS_MAX, { path: ['LEG_MS_MAX'], message: 'must be at least LEG_MS_MIN' });
export type DroneSimConfig = z.output<typeof configSchema>;

/** The only place drone-sim reads its environment. */
export const loadDroneSimConfig = (): DroneSimConfig => loadServiceConfig('drone-sim', configSchema, process.env);
