import { z } from 'zod';
import { DEFAULT_PORTS, MAX_WATCHDOG_MS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, machineDefinitionsSetting, port, serviceUrl } from '#service-kit';

export const configSchema = baseEnvSchema.extend({
  PORT: port(DEFAULT_PORTS['drone-scheduler']),
  MACHINE_DEFINITIONS: machineDefinitionsSetting,
  /** Drones seeded at start-up (drone-1 .. drone-N); a larger number later adds drones. */
  FLEET_SIZE: z.coerce.number().int().min(0).max(100_000).default(20),
  SIM_URL: serviceUrl('http://127.0.0.1:3005'),
  /** A flight with no news for this long is asked of the simulator again (scale it with the legs' length). */
  // At most an eighth of the longest timer: a watchdog without progress doubles, up to 8 times the first.
  FLIGHT_WATCHDOG_MS: z.coerce.number().int().min(500).max(MAX_WATCHDOG_MS).default(15_000),
});
export type DroneSchedulerConfig = z.output<typeof configSchema>;

/** The only place drone-scheduler reads its environment. */
export const loadDroneSchedulerConfig = (): DroneSchedulerConfig => loadServiceConfig('drone-scheduler', configSchema, process.env);
