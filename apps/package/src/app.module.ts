import { Module, type DynamicModule } from '@nestjs/common';
import { RsmModule } from '#rsm/nest';
import { rsmOptionsFor, ServiceKitModule } from '#service-kit';
import type { PackageConfig } from './config.js';
import { Package } from './packages/package.machine.js';
import { PackagesController } from './packages/packages.controller.js';

@Module({})
export class AppModule {
  static forRoot(config: PackageConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ service: 'package', logLevel: config.LOG_LEVEL }), RsmModule.forRoot(rsmOptionsFor('package', config)), RsmModule.forFeature([Package])],
      controllers: [PackagesController],
    };
  }
}
