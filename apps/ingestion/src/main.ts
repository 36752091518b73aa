import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadIngestionConfig } from './config.js';

runMain(async () => {
  const config = loadIngestionConfig();
  await bootstrapService({ service: 'ingestion', description: 'Delivery requests: intake, cancel, reschedule', module: AppModule.forRoot(config), host: config.HOST, port: config.PORT, apiKeys: config });
});
