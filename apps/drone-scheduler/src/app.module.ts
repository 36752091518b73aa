import { Module, type DynamicModule } from '@nestjs/common';
import { RsmModule } from '#rsm/nest';
import { rsmOptionsFor, ServiceKitModule } from '#service-kit';
import type { DroneSchedulerConfig } from './config.js';
import { Drone } from './drones/drone.machine.js';
import { DroneV1 } from './drones/drone.v1.machine.js';
import { DronesController } from './drones/drones.controller.js';
import { FlightsController } from './drones/flights.controller.js';
import { FlyActivity } from './drones/fly.activity.js';
import { DroneDeliveriesController } from './fleet/drone-deliveries.controller.js';
import { Fleet } from './fleet/fleet.machine.js';
import { Utilization } from './fleet/utilization.machine.js';
import { DRONE_SCHEDULER_CONFIG } from './tokens.js';

@Module({})
export class AppModule {
  static forRoot(config: DroneSchedulerConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceKitModule.forRoot({ service: 'drone-scheduler', logLevel: config.LOG_LEVEL }), RsmModule.forRoot(rsmOptionsFor('drone-scheduler', config)), RsmModule.forFeature([Fleet, config.MACHINE_DEFINITIONS === 'previous' ? DroneV1 : Drone, Utilization])],
      controllers: [DroneDeliveriesController, DronesController, FlightsController],
      providers: [{ provide: DRONE_SCHEDULER_CONFIG, useValue: config }, FlyActivity],
    };
  }
}
