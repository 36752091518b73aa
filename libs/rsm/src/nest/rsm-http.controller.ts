import { Controller, Get, Header, HttpCode, Inject, NotFoundException, Param, Post, Query, ServiceUnavailableException } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { RsmRuntime, type HealthReport } from '../runtime/rsm-runtime.js';
import { RSM_METRICS_REGISTRY } from './rsm.constants.js';

/** `/metrics`, `/health/live`, `/health/ready` and `/rsm/*` inspection for every app that imports the module. */
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

  /** Dead letters of this service, newest first (`?type=`, `?limit=`, `?all=true` for redriven ones too). */
  @Get('rsm/dead-letters')
  async deadLetters(@Query('type') type?: string, @Query('limit') limit?: string, @Query('all') all?: string) {
    const parsed = Number(limit ?? 100);
    return this.runtime.deadLetters({
      ...(type ? { type } : {}),
      limit: Number.isInteger(parsed) && parsed > 0 ? Math.min(parsed, 1_000) : 100,
      includeRedriven: all === 'true',
    });
  }

  /** Puts a dead letter's event back into its machine's inbox. */
  @Post('rsm/dead-letters/:id/redrive')
  @HttpCode(200)
  async redrive(@Param('id') id: string) {
    if (!/^\d+$/.test(id) || !(await this.runtime.redrive(id))) throw new NotFoundException(`no open dead letter ${id}`);
    return { redriven: id };
  }

  /** A machine with its pending inbox and recent steps. */
  @Get('rsm/machines/:type/:id')
  async inspect(@Param('type') type: string, @Param('id') id: string) {
    const machine = await this.runtime.inspect({ type, id });
    if (machine === undefined) throw new NotFoundException(`no machine ${type}/${id}`);
    return machine;
  }

  /** Postgres and Redis answer and the outbox relay publishes. */
  @Get('health/ready')
  async ready(): Promise<HealthReport> {
    const report = await this.runtime.health();
    if (report.status !== 'ok') throw new ServiceUnavailableException(report);
    return report;
  }
}
