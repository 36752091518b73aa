import { Controller, Get, Header, Inject } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { Allow } from './auth/allow.decorator.js';
import { SERVICE_METRICS_REGISTRY } from './tokens.js';

/** `/metrics` and `/health/*` for a service that runs no RSM runtime (the drone simulator). */
@Controller()
@Allow('public')
export class ServiceHttpController {
  constructor(@Inject(SERVICE_METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('health/live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  ready(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
