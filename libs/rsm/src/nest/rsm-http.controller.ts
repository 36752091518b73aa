import { Controller, Get, Header, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { RsmRuntime, type HealthReport } from '../runtime/rsm-runtime.js';
import { RSM_METRICS_REGISTRY } from './rsm.constants.js';

/** `GET /metrics`, `GET /health/live`, `GET /health/ready` for every app that imports the module. */
@Controller()
export class RsmHttpController {
  constructor(
    @Inject(RsmRuntime) private readonly runtime: RsmRuntime,
    @Inject(RSM_METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The process is up and its runtime has not stopped. */
  @Get('health/live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    if (!this.runtime.running) throw new ServiceUnavailableException({ status: 'error', reason: 'runtime not running' });
    return { status: 'ok' };
  }

  /** Postgres and Redis answer and the outbox relay publishes. */
  @Get('health/ready')
  async ready(): Promise<HealthReport> {
    const report = await this.runtime.health();
    if (report.status !== 'ok') throw new ServiceUnavailableException(report);
    return report;
  }
}
