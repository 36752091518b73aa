import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadWorkflowConfig } from './config.js';

runMain(async () => {
  const config = loadWorkflowConfig();
  await bootstrapService({ service: 'workflow', description: 'Delivery workflows (sagas): state and history', module: AppModule.forRoot(config), host: config.HOST, port: config.PORT, apiKeys: config });
});
