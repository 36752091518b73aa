import { Module, type DynamicModule } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { PinoLoggerService } from './pino-logger.service.js';
import { ServiceHttpController } from './service-http.controller.js';
import { SERVICE_METRICS_REGISTRY } from './tokens.js';

export interface ServiceKitOptions {
  readonly service: string;
  readonly logLevel: string;
  /** A service without an RSM runtime serves its own `/metrics` and `/health/*`. */
  readonly withoutRuntime?: boolean;
}

/** JSON logs (pino, with the service name on every line) and, for runtime-less services, metrics and health. */
@Module({})
export class ServiceKitModule {
  static forRoot(options: ServiceKitOptions): DynamicModule {
    return {
      module: ServiceKitModule,
      global: true,
      controllers: options.withoutRuntime ? [ServiceHttpController] : [],
      providers: [
        { provide: PinoLoggerService, useFactory: () => new PinoLoggerService(options.service, options.logLevel) },
        ...(options.withoutRuntime
          ? [{ provide: SERVICE_METRICS_REGISTRY, useFactory: () => { const registry = new Registry(); collectDefaultMetrics({ register: registry }); return registry; } }]
          : []),
      ],
      exports: [PinoLoggerService, ...(options.withoutRuntime ? [SERVICE_METRICS_REGISTRY] : [])],
    };
  }
}
