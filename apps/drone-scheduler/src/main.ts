import { RsmRuntime } from '#rsm';
import { FLEET_ID } from '#contracts';
import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadDroneSchedulerConfig } from './config.js';
import { Fleet, seedNeeded } from './fleet/fleet.machine.js';

runMain(async () => {
  const config = loadDroneSchedulerConfig();
  await bootstrapService({
    service: 'drone-scheduler',
    description: 'Drones and their assignment to deliveries',
    module: AppModule.forRoot(config),
    host: config.HOST,
    port: config.PORT, apiKeys: config,
    // Seed the fleet: idempotent, so every replica may do it and a restart changes nothing.
    afterStart: async (app) => {
      const rsm = app.get(RsmRuntime);
      // Reading the Fleet takes no lock; stepping it would wait behind its backlog (see seedNeeded).
      if (!seedNeeded((await rsm.get(Fleet.ref(FLEET_ID)))?.data, config.FLEET_SIZE, config.FLIGHT_WATCHDOG_MS)) return;
      const seed = { type: 'Seed' as const, droneIds: Array.from({ length: config.FLEET_SIZE }, (_, i) => `drone-${i + 1}`), watchdogMs: config.FLIGHT_WATCHDOG_MS };
      const { created } = await rsm.create(Fleet.ref(FLEET_ID), seed);
      if (!created) await rsm.send(Fleet.ref(FLEET_ID), seed, { key: `seed:${config.FLEET_SIZE}:${config.FLIGHT_WATCHDOG_MS}` });
    },
  });
});
