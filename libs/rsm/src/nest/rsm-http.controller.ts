import { BadRequestException, Body, Controller, Get, Header, HttpCode, Inject, NotFoundException, Param, Post, Query, ServiceUnavailableException, SetMetadata, UseGuards } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { RsmRuntime, type HealthReport } from '../runtime/rsm-runtime.js';
import { badTextReason } from './http-input.js';
import { RsmAdminGuard } from './rsm-admin.guard.js';
import { RSM_METRICS_REGISTRY, RSM_SELF_GUARDED } from './rsm.constants.js';

/** Largest id of a bigserial column: a longer or larger number cannot name a dead letter. */
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** A path or query value the runtime can store and look up: bounded, no NUL (Postgres text refuses it), no lone surrogate. */
function checkedText(name: string, value: string, max: number): string {
  if (value.length === 0 || value.length > max) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name} must be 1-${max} characters`, fields: [{ path: name, message: `1-${max} characters` }] });
  const reason = badTextReason(value);
  if (reason !== undefined) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name} ${reason}`, fields: [{ path: name, message: reason }] });
  return value;
}

/**
 * `/metrics`, `/health/live`, `/health/ready` (open: probes and scrapers carry no credential) and
 * `/rsm/*` inspection and redrive, which need an operator token (`RsmModuleOptions.adminTokens`).
 */
@Controller()
@SetMetadata(RSM_SELF_GUARDED, true)
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
  @UseGuards(RsmAdminGuard)
  async deadLetters(@Query('type') type?: unknown, @Query('limit') limit?: unknown, @Query('all') all?: unknown) {
    if ((type !== undefined && typeof type !== 'string') || (limit !== undefined && typeof limit !== 'string') || (all !== undefined && typeof all !== 'string')) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'type, limit and all are single values', fields: [{ path: 'query', message: 'repeated parameter' }] });
    }
    const parsed = Number(limit ?? 100);
    return this.runtime.deadLetters({
      ...(type ? { type: checkedText('type', type, 200) } : {}),
      limit: Number.isInteger(parsed) && parsed > 0 ? Math.min(parsed, 1_000) : 100,
      includeRedriven: all === 'true',
    });
  }

  /** Puts a dead letter's event back into its machine's inbox. */
  @Post('rsm/dead-letters/:id/redrive')
  @HttpCode(200)
  @UseGuards(RsmAdminGuard)
  async redrive(@Param('id') id: string) {
    const known = /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
    if (!known || !(await this.runtime.redrive(id))) throw new NotFoundException(`no open dead letter ${id.slice(0, 40)}`);
    return { redriven: id };
  }

  /** Pairs waiting for a missing sequence number longer than `delivery.gapAfterMs` (`?limit=`). */
  @Get('rsm/gaps')
  @UseGuards(RsmAdminGuard)
  async gaps(@Query('limit') limit?: unknown) {
    if (limit !== undefined && typeof limit !== 'string') throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'limit is a single value', fields: [{ path: 'limit', message: 'repeated parameter' }] });
    const parsed = Number(limit ?? 100);
    return this.runtime.gaps({ limit: Number.isInteger(parsed) && parsed > 0 ? Math.min(parsed, 1_000) : 100 });
  }

  /**
   * Skips a gap whose messages are gone for good, with a record: body `{ "by": "<who>", "reason": "<why>" }`.
   * 404 when the pair has no gap.
   */
  @Post('rsm/gaps/:senderType/:senderId/:receiverType/:receiverId/skip')
  @HttpCode(200)
  @UseGuards(RsmAdminGuard)
  async skipGap(
    @Param('senderType') senderType: string,
    @Param('senderId') senderId: string,
    @Param('receiverType') receiverType: string,
    @Param('receiverId') receiverId: string,
    @Body() body: unknown,
  ) {
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const text = (name: 'by' | 'reason') => {
      const value = fields[name];
      if (typeof value !== 'string' || value.trim() === '') throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name} is required`, fields: [{ path: name, message: 'a non-empty string' }] });
      return checkedText(name, value, 1_000);
    };
    const sender = { type: checkedText('senderType', senderType, 200), id: checkedText('senderId', senderId, 1_000) };
    const receiver = { type: checkedText('receiverType', receiverType, 200), id: checkedText('receiverId', receiverId, 1_000) };
    const skipped = await this.runtime.skipGap(sender, receiver, { by: text('by'), reason: text('reason') });
    if (skipped === undefined) throw new NotFoundException(`no gap between ${senderType.slice(0, 200)}/${senderId.slice(0, 200)} and ${receiverType.slice(0, 200)}/${receiverId.slice(0, 200)}`);
    return skipped;
  }

  /** A machine with its pending inbox and recent steps. */
  @Get('rsm/machines/:type/:id')
  @UseGuards(RsmAdminGuard)
  async inspect(@Param('type') type: string, @Param('id') id: string) {
    const machine = await this.runtime.inspect({ type: checkedText('type', type, 200), id: checkedText('id', id, 1_000) });
    if (machine === undefined) throw new NotFoundException(`no machine ${type.slice(0, 200)}/${id.slice(0, 200)}`);
    return machine;
  }

  /**
   * 200 while Postgres answers, `degraded` included (Redis down: intake still commits and the
   * outbox sweeper publishes later, so taking every pod out of service would only add an outage);
   * 503 when Postgres does not answer within the health deadline or the runtime stopped.
   */
  @Get('health/ready')
  async ready(): Promise<HealthReport> {
    const report = await this.runtime.health();
    if (report.status === 'error') throw new ServiceUnavailableException(report);
    return report;
  }
}
