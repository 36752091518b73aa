import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadDroneSimConfig } from './config.js';

runMain(async () => {
  const config = loadDroneSimConfig();
  await bootstrapService({ service: 'drone-sim', description: 'Drone simulator: flies assigned drones and reports', module: AppModule.forRoot(config), host: config.HOST, port: config.PORT, apiKeys: config });
});
