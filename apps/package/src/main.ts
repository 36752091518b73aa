import { bootstrapService, runMain } from '#service-kit';
import { AppModule } from './app.module.js';
import { loadPackageConfig } from './config.js';

runMain(async () => {
  const config = loadPackageConfig();
  await bootstrapService({ service: 'package', description: 'Packages', module: AppModule.forRoot(config), host: config.HOST, port: config.PORT, apiKeys: config });
});
