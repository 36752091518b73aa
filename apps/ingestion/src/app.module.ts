import { Module, type DynamicModule } from '@nestjs/common';
import { RsmModule } from '#rsm/nest';
import { rsmOptionsFor, ServiceKitModule } from '#service-kit';
import type { IngestionConfig } from './config.js';
import { DeliveryRequestMachine } from './requests/delivery-request.machine.js';
import { DeliveryRequestsController } from './requests/delivery-requests.controller.js';

@Module({})
export class AppModule {
  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceKitModule.forRoot({ service: 'ingestion', logLevel: config.LOG_LEVEL }),
        RsmModule.forRoot(rsmOptionsFor('ingestion', config)),
        RsmModule.forFeature([DeliveryRequestMachine]),
      ],
      controllers: [DeliveryRequestsController],
    };
  }
}
