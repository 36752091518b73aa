import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
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
      imports: [
        LoggerModule.forRoot({
          pinoHttp: { level: options.logLevel, base: { service: options.service }, autoLogging: false, quietReqLogger: true },
        }),
      ],
      controllers: options.withoutRuntime ? [ServiceHttpController] : [],
      providers: options.withoutRuntime
        ? [{ provide: SERVICE_METRICS_REGISTRY, useFactory: () => { const registry = new Registry(); collectDefaultMetrics({ register: registry }); return registry; } }]
        : [],
      exports: options.withoutRuntime ? [SERVICE_METRICS_REGISTRY] : [],
    };
  }
}
