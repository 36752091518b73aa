import { Module, type DynamicModule } from '@nestjs/common';
import { RsmModule } from '#rsm/nest';
import { rsmOptionsFor, ServiceKitModule } from '#service-kit';
import type { DeliveryConfig } from './config.js';
import { DeliveriesController } from './deliveries/deliveries.controller.js';
import { Delivery } from './deliveries/delivery.machine.js';
import { NotifyActivity } from './deliveries/notify.activity.js';
import { DELIVERY_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(config: DeliveryConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ service: 'delivery', logLevel: config.LOG_LEVEL }), RsmModule.forRoot(rsmOptionsFor('delivery', config)), RsmModule.forFeature([Delivery])],
      controllers: [DeliveriesController],
      providers: [{ provide: DELIVERY_CONFIG, useValue: config }, NotifyActivity],
    };
  }
}
