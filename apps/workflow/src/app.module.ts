import { Module, type DynamicModule } from '@nestjs/common';
import { RsmModule } from '#rsm/nest';
import { rsmOptionsFor, ServiceKitModule } from '#service-kit';
import type { WorkflowConfig } from './config.js';
import { DeliverySaga } from './saga/delivery-saga.machine.js';
import { DeliverySagaV1 } from './saga/delivery-saga.v1.machine.js';
import { WorkflowsController } from './saga/workflows.controller.js';

@Module({})
export class AppModule {
  static forRoot(config: WorkflowConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ service: 'workflow', logLevel: config.LOG_LEVEL }), RsmModule.forRoot(rsmOptionsFor('workflow', config)), RsmModule.forFeature([config.MACHINE_DEFINITIONS === 'previous' ? DeliverySagaV1 : DeliverySaga])],
      controllers: [WorkflowsController],
    };
  }
}
