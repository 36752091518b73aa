import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  ServiceUnavailableException,
  SetMetadata,
  UseGuards,
  applyDecorators,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Registry } from 'prom-client';
import { invalidIdReason } from '../definition/types.js';
import { RsmRuntime, type HealthReport } from '../runtime/rsm-runtime.js';
import { GapChangedError } from '../core/errors.js';
import { InvalidCursorError, isRowId, type AdminActor, type LetterResult } from '../store/admin-store.js';
import { actorHeader, auditQuery, countsQuery, deadLettersQuery, gapSkipBody, gapsQuery, inspectQuery, letterIdsBody, machinesQuery, parseInput } from './admin-input.js';
import { badTextReason } from './http-input.js';
import { RsmAdminGuard, rsmTokenIdOf } from './rsm-admin.guard.js';
import { RSM_METRICS_REGISTRY, RSM_SELF_GUARDED } from './rsm.constants.js';

/**
 * Who performs a mutating admin call, for the audit log: the name in `X-Rsm-Actor` (or `fallback`,
 * or `unnamed`) and the fingerprint of the operator token the guard accepted.
 */
function actorOf(request: Request, fallback?: string): AdminActor {
  const header = request.headers['x-rsm-actor'];
  const actor = header === undefined ? (fallback ?? 'unnamed') : parseInput(actorHeader, header, 'header.x-rsm-actor');
  return { actor, tokenId: rsmTokenIdOf(request) };
}

/** An admin route: the operator guard, and its OpenAPI entry (bearer auth, summary, optional query parameters). */
function AdminRoute(summary: string, query: readonly string[]): MethodDecorator {
  return applyDecorators(UseGuards(RsmAdminGuard), ApiBearerAuth(), ApiOperation({ summary }), ...query.map((name) => ApiQuery({ name, required: false, type: String })));
}

/** A cursor the listing did not hand out is the caller's mistake: 400 naming `after`. */
function cursorRefused(error: unknown): never {
  if (error instanceof InvalidCursorError) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: error.message, fields: [{ path: 'query.after', message: error.message }] });
  throw error;
}

/** The one result of a single-letter action, as an HTTP answer: 404 unknown, 409 redriven already. */
function single(result: LetterResult | undefined, id: string): LetterResult {
  if (result === undefined || result.outcome === 'not_found') throw new NotFoundException(`no dead letter ${id.slice(0, 40)}`);
  if (result.outcome === 'already_redriven') throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `dead letter ${id} was redriven already`, outcome: result.outcome });
  return result;
}

/** A path or query value the runtime can store and look up: bounded, no NUL (Postgres text refuses it), no lone surrogate. */
function checkedText(name: string, value: string, max: number): string {
  if (value.length === 0 || value.length > max) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name} must be 1-${max} characters`, fields: [{ path: name, message: `1-${max} characters` }] });
  const reason = badTextReason(value);
  if (reason !== undefined) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name} ${reason}`, fields: [{ path: name, message: reason }] });
  return value;
}

/** A machine id as the runtime takes one (at most `MAX_ID_BYTES` bytes of UTF-8), else 400 naming it. */
function checkedId(name: string, value: string): string {
  const reason = invalidIdReason(checkedText(name, value, 1_000));
  if (reason !== undefined) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${name}: ${reason}`, fields: [{ path: name, message: reason }] });
  return value;
}

/** A pair's two machines from a route's params, else 400 naming the param. */
function pairOf(senderType: string, senderId: string, receiverType: string, receiverId: string) {
  return {
    sender: { type: checkedText('senderType', senderType, 200), id: checkedId('senderId', senderId) },
    receiver: { type: checkedText('receiverType', receiverType, 200), id: checkedId('receiverId', receiverId) },
  };
}

/**
 * `/metrics`, `/health/live`, `/health/ready` (open: probes and scrapers carry no credential) and
 * `/rsm/*` inspection, redrive, discard, gap skips and the audit log, which need an operator token
 * (`RsmModuleOptions.adminTokens`). Every mutating call writes an audit row in its own transaction.
 */
/** A 503 that says when to ask again, as every 503 of the apps does. */
function unavailable(response: Response, body: object): ServiceUnavailableException {
  response.setHeader('Retry-After', '1');
  return new ServiceUnavailableException(body);
}

@Controller()
@ApiTags('rsm')
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
  live(@Res({ passthrough: true }) response: Response): { status: 'ok' } {
    if (!this.runtime.running) throw unavailable(response, { status: 'error', reason: 'runtime not running' });
    return { status: 'ok' };
  }

  /** Machines of every type, filtered (`type`, `state`, `status`, `idPrefix`) and paged (`limit` <= 500, `after` = a page's `next`). */
  @Get('rsm/machines')
  @AdminRoute('Machines of every type, filtered and paged (operators).', ['type', 'state', 'status', 'idPrefix', 'limit', 'after'])
  async machines(@Query() query: unknown) {
    return this.runtime.machines(parseInput(machinesQuery, query, 'query')).catch(cursorRefused);
  }

  /** How many machines there are by type, state and status (`type` to count one type). */
  @Get('rsm/machines/counts')
  @AdminRoute('How many machines by type, state and status.', ['type'])
  async machineCounts(@Query() query: unknown) {
    return this.runtime.machineCounts(parseInput(countsQuery, query, 'query').type);
  }

  /** A machine with its pending inbox, unacknowledged outbox, timers, activity attempts and recent steps (`limit` rows each). */
  @Get('rsm/machines/:type/:id')
  @AdminRoute('A machine with its inbox, outbox, timers, activity attempts and recent steps; 404 when unknown.', ['limit'])
  async inspect(@Param('type') type: string, @Param('id') id: string, @Query() query: unknown) {
    const { limit } = parseInput(inspectQuery, query, 'query');
    const machine = await this.runtime.inspect({ type: checkedText('type', type, 200), id: checkedText('id', id, 1_000) }, limit ?? 20);
    if (machine === undefined) throw new NotFoundException(`no machine ${type.slice(0, 200)}/${id.slice(0, 200)}`);
    return machine;
  }

  /**
   * Events waiting in inboxes and unacknowledged in outboxes, with the oldest one's age in seconds:
   * the runtime's own gauges (`rsm_inbox_depth`, ... on `/metrics`, sampled every few seconds), so
   * an operator's console reads them with its token, cross-origin too, and no query runs per call.
   */
  @Get('rsm/queues')
  @AdminRoute('Inbox and outbox depth with the oldest age in seconds (the runtime gauges).', [])
  async queues(): Promise<{ inboxDepth: number; inboxOldestAgeSeconds: number; outboxDepth: number; outboxOldestAgeSeconds: number }> {
    const gauge = async (name: string, combine: (a: number, b: number) => number) => {
      const values = (await this.registry.getSingleMetric(name)?.get())?.values ?? [];
      return values.reduce((total, { value }) => (Number.isFinite(value) ? combine(total, value) : total), 0);
    };
    const sum = (a: number, b: number) => a + b;
    return {
      inboxDepth: await gauge('rsm_inbox_depth', sum),
      inboxOldestAgeSeconds: await gauge('rsm_inbox_oldest_age_seconds', Math.max),
      outboxDepth: await gauge('rsm_outbox_depth', sum),
      outboxOldestAgeSeconds: await gauge('rsm_outbox_oldest_age_seconds', Math.max),
    };
  }

  /** The machine types this service runs, with their states. */
  @Get('rsm/types')
  @AdminRoute('The machine types this service runs, with their states.', [])
  types(): { type: string; version: number; initial: string; states: readonly string[] }[] {
    return this.runtime.machineDefinitions().map((definition) => ({ type: definition.type, version: definition.version, initial: definition.initial as string, states: definition.states as readonly string[] }));
  }

  /**
   * Machines by type and stored definition version, with the version this service runs, the oldest
   * it migrates from, and how it treats each stored version (current, migrates, newer, no-migration,
   * not-run-here): what a rolling deploy has left to do.
   */
  @Get('rsm/versions')
  @AdminRoute('Machines by type and stored definition version, with the version this service runs and how it treats each.', [])
  async versions() {
    return this.runtime.versions();
  }

  /** A registered machine type's transitions and its Mermaid state diagram. */
  @Get('rsm/types/:type/diagram')
  @AdminRoute("A machine type's transitions and Mermaid state diagram; 404 for a type this service does not run.", [])
  diagram(@Param('type') type: string) {
    const definition = this.runtime.machineDefinitions().find((d) => d.type === checkedText('type', type, 200));
    if (definition === undefined) throw new NotFoundException(`this service runs no machine type ${type.slice(0, 200)} (it runs: ${this.runtime.machineDefinitions().map((d) => d.type).join(', ') || 'none'})`);
    const { initial, states } = definition as { initial: string; states: readonly string[] };
    return { type: definition.type, initial, states, transitions: definition.transitions(), mermaid: definition.toMermaid() };
  }

  /**
   * Dead letters, newest first, filtered (`type`, `machineId`, `reason` contains, `status` open |
   * redriven | all; open by default) and paged (`limit` <= 500, `after` = a page's `next`).
   */
  @Get('rsm/dead-letters')
  @AdminRoute('Dead letters, newest first, filtered and paged (open ones unless status says otherwise).', ['type', 'machineId', 'reason', 'status', 'limit', 'after'])
  async deadLetters(@Query() query: unknown) {
    const { all, status, ...filter } = parseInput(deadLettersQuery, query, 'query');
    return this.runtime.deadLetterPage({ ...filter, status: status ?? (all === 'true' ? 'all' : 'open') }).catch(cursorRefused);
  }

  /** Redrives up to 500 dead letters, body `{ "ids": [...] }`: 200 with each id's outcome (redriven, already_redriven, not_found). */
  @Post('rsm/dead-letters/redrive')
  @HttpCode(200)
  @AdminRoute("Redrives up to 500 dead letters, body { ids }; each id's outcome; audited.", [])
  async redriveMany(@Body() body: unknown, @Req() request: Request) {
    const { ids } = parseInput(letterIdsBody, body, 'body');
    return { results: await this.runtime.redriveMany(ids, actorOf(request)) };
  }

  /** Discards (deletes) up to 500 open dead letters, body `{ "ids": [...] }`: 200 with each id's outcome. */
  @Post('rsm/dead-letters/discard')
  @HttpCode(200)
  @AdminRoute("Discards (deletes) up to 500 open dead letters, body { ids }; each id's outcome; audited.", [])
  async discardMany(@Body() body: unknown, @Req() request: Request) {
    const { ids } = parseInput(letterIdsBody, body, 'body');
    return { results: await this.runtime.discardDeadLetters(ids, actorOf(request)) };
  }

  /** One dead letter with its event; 404 if there is none. */
  @Get('rsm/dead-letters/:id')
  @AdminRoute('One dead letter with its event; 404 when unknown.', [])
  async deadLetter(@Param('id') id: string) {
    const letter = isRowId(id) ? await this.runtime.deadLetter(id) : undefined;
    if (letter === undefined) throw new NotFoundException(`no dead letter ${id.slice(0, 40)}`);
    return letter;
  }

  /** Puts a dead letter's event back into its machine's inbox: 404 if there is none, 409 if it was redriven already. */
  @Post('rsm/dead-letters/:id/redrive')
  @HttpCode(200)
  @AdminRoute('Redrives one dead letter; 404 unknown, 409 redriven already; audited.', [])
  async redrive(@Param('id') id: string, @Req() request: Request) {
    const by = actorOf(request);
    if (!isRowId(id)) throw new NotFoundException(`no dead letter ${id.slice(0, 40)}`);
    const [result] = await this.runtime.redriveMany([id], by);
    return { redriven: single(result, id).id };
  }

  /** Discards (deletes) an open dead letter: 404 if there is none, 409 if it was redriven (it is history then). */
  @Post('rsm/dead-letters/:id/discard')
  @HttpCode(200)
  @AdminRoute('Discards one open dead letter; 404 unknown, 409 redriven already; audited.', [])
  async discard(@Param('id') id: string, @Req() request: Request) {
    const by = actorOf(request);
    if (!isRowId(id)) throw new NotFoundException(`no dead letter ${id.slice(0, 40)}`);
    const [result] = await this.runtime.discardDeadLetters([id], by);
    return { discarded: single(result, id).id };
  }

  /** Pairs waiting for a missing sequence number longer than `olderThanMs` (default `delivery.gapAfterMs`), `limit` <= 1000. */
  @Get('rsm/gaps')
  @AdminRoute('Pairs waiting for a missing sequence number.', ['limit', 'olderThanMs'])
  async gaps(@Query() query: unknown) {
    const { limit, olderThanMs } = parseInput(gapsQuery, query, 'query');
    return this.runtime.gaps({ limit: limit ?? 100, ...(olderThanMs === undefined ? {} : { olderThanMs }) });
  }

  /** The gap of one pair, whatever its age: 404 when it has none. */
  @Get('rsm/gaps/:senderType/:senderId/:receiverType/:receiverId')
  @AdminRoute('The gap of one pair, whatever its age; 404 when it has none.', [])
  async gapOf(@Param('senderType') senderType: string, @Param('senderId') senderId: string, @Param('receiverType') receiverType: string, @Param('receiverId') receiverId: string) {
    const { sender, receiver } = pairOf(senderType, senderId, receiverType, receiverId);
    const gap = await this.runtime.gapOf(sender, receiver);
    if (gap === undefined) throw new NotFoundException(`no gap between ${senderType.slice(0, 200)}/${senderId.slice(0, 200)} and ${receiverType.slice(0, 200)}/${receiverId.slice(0, 200)}`);
    return gap;
  }

  /**
   * Skips a gap whose messages are gone for good, with a record: body `{ by, reason, epoch, fromSeq,
   * toSeq }`, the numbers of the gap as listed. 404 when the pair has no gap, 409 (with the current
   * gap) when its gap is not the one named; a repeat of a skip that committed answers 200 with
   * `repeated: true` and does nothing.
   */
  @Post('rsm/gaps/:senderType/:senderId/:receiverType/:receiverId/skip')
  @HttpCode(200)
  @AdminRoute('Skips the gap named in the body { by, reason, epoch, fromSeq, toSeq }; 404 when there is no gap, 409 when it changed; audited.', [])
  async skipGap(
    @Param('senderType') senderType: string,
    @Param('senderId') senderId: string,
    @Param('receiverType') receiverType: string,
    @Param('receiverId') receiverId: string,
    @Body() body: unknown,
    @Req() request: Request,
  ) {
    const { sender, receiver } = pairOf(senderType, senderId, receiverType, receiverId);
    const { by, reason, epoch, fromSeq, toSeq } = parseInput(gapSkipBody, body, 'body');
    const skipped = await this.runtime.skipGap(sender, receiver, { by, reason, gap: { epoch, fromSeq, toSeq } }, actorOf(request, by)).catch((error: unknown) => {
      if (!(error instanceof GapChangedError)) throw error;
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: error.message, current: error.current });
    });
    if (skipped === undefined) throw new NotFoundException(`no gap between ${senderType.slice(0, 200)}/${senderId.slice(0, 200)} and ${receiverType.slice(0, 200)}/${receiverId.slice(0, 200)}`);
    return skipped;
  }

  /** The operators' audit log, newest first (`action`, `limit` <= 500, `after` = a page's `next`). */
  @Get('rsm/audit')
  @AdminRoute("The operators' audit log, newest first, paged.", ['action', 'limit', 'after'])
  async audit(@Query() query: unknown) {
    return this.runtime.auditLog(parseInput(auditQuery, query, 'query')).catch(cursorRefused);
  }

  /**
   * 200 while Postgres answers, `degraded` included (Redis down: intake still commits and the
   * outbox sweeper publishes later, so taking every pod out of service would only add an outage);
   * 503 when Postgres does not answer within the health deadline or the runtime stopped.
   */
  @Get('health/ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<HealthReport> {
    // The route is open to anyone and each check takes a pooled connection: callers that come while
    // one runs share its answer, so a flood of probes queues no queries ahead of real requests.
    this.readyCheck ??= this.runtime.health().finally(() => {
      this.readyCheck = undefined;
    });
    const report = await this.readyCheck;
    if (report.status === 'error') throw unavailable(response, report);
    return report;
  }

  private readyCheck: Promise<HealthReport> | undefined;
}
