import { Module, type DynamicModule } from '@nestjs/common';
import { ServiceKitModule } from '#service-kit';
import type { DroneSimConfig } from './config.js';
import { FlightSimulator } from './flights/flight-simulator.js';
import { FlightsController } from './flights/flights.controller.js';
import { DRONE_SIM_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(config: DroneSimConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ service: 'drone-sim', logLevel: config.LOG_LEVEL, withoutRuntime: true })],
      controllers: [FlightsController],
      providers: [{ provide: DRONE_SIM_CONFIG, useValue: config }, FlightSimulator],
    };
  }
}
