import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadDeliveryConfig } from './config.js';

runMain(async () => {
  const config = loadDeliveryConfig();
  await bootstrapService({ service: 'delivery', description: 'Deliveries as customers see them', module: AppModule.forRoot(config), host: config.HOST, port: config.PORT, apiKeys: config });
});
