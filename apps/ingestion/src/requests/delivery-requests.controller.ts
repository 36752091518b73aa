import { createHash, randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, NotFoundException, Param, Patch, Post, Query, Res, UnprocessableEntityException } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RsmRuntime } from '#rsm';
import { deliveryRequestSchema, fingerprint, idempotencyKeySchema, idSchema, pageQuerySchema, rescheduleSchema, type DeliveryRequestDto, type Reschedule } from '#contracts';
import { Allow, assertOwnOwner, Caller, canAccessOwner, validationException, type Principal } from '#service-kit';
import { DeliveryRequestMachine, type RequestAnswer } from './delivery-request.machine.js';

const keyedId = (...parts: string[]) => `k-${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32)}`;

/**
 * A client-chosen idempotency key maps to one delivery id per owner, so repeats of the request are
 * the same delivery, and two customers who happen to choose the same key get two (one customer's
 * key never answers, refuses or reveals another's request).
 */
export function deliveryIdFor(body: DeliveryRequestDto, idempotencyKey: string | undefined): string {
  if (body.deliveryId !== undefined) return body.deliveryId;
  if (idempotencyKey !== undefined && idempotencyKey !== '') return keyedId(body.ownerId, idempotencyKey);
  return randomUUID();
}

/** The id a key mapped to before ids were per owner: requests stored then keep it. */
const legacyKeyedId = (idempotencyKey: string) => keyedId(idempotencyKey);

/** The key under which a customer's cancel is remembered: per customer, so no one else's answer is replayed to it. */
export function cancelKey(id: string, caller: Principal, key: string): string {
  const who = caller.role === 'customer' ? createHash('sha256').update([...caller.owners].sort().join('|')).digest('hex').slice(0, 16) : caller.role;
  return `cancel:${id}:${who}:${key}`;
}

function headerValue(name: string, value: string | undefined): string | undefined {
  const parsed = idempotencyKeySchema.safeParse(value);
  if (!parsed.success) throw validationException(parsed.error.issues.map((issue) => ({ ...issue, path: [name] })));
  return parsed.data;
}

const owners = (caller: Principal) => (caller.role === 'customer' ? [...caller.owners] : undefined);

/** 404 for a request that is not the customer's, 422 for changes that do not fit it. */
function answer(id: string, reply: RequestAnswer | undefined): void {
  if (reply === undefined || reply.accepted) return;
  if (reply.reason === 'not-found') throw new NotFoundException(`no delivery request ${id}`);
  throw new UnprocessableEntityException({ statusCode: 422, error: 'Unprocessable Entity', message: 'the changes do not fit the delivery request', fields: reply.fields });
}

@ApiTags('delivery requests')
@ApiBearerAuth()
@Controller('api/deliveryrequests')
export class DeliveryRequestsController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Post()
  @HttpCode(202)
  @Allow('customer')
  @ApiOperation({ summary: 'Accept a delivery request; 202 only once it is committed. Repeats return the same answer; the same id or key with another body is 422. 429 with Retry-After while the suite is behind: nothing was written, try again then.' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  async create(
    @Body({ schema: deliveryRequestSchema }) body: DeliveryRequestDto,
    @Headers('idempotency-key') rawKey: string | undefined,
    @Caller() caller: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ deliveryId: string; created: boolean }> {
    const idempotencyKey = headerValue('Idempotency-Key', rawKey);
    assertOwnOwner(caller, body.ownerId);
    // New work waits while the suite is behind (429 with Retry-After), instead of deepening the
    // backlog: asked before the key's read, so that a refused request costs Postgres nothing.
    this.rsm.assertAdmitted();
    const deliveryId = await this.keyedBefore(body, idempotencyKey) ?? deliveryIdFor(body, idempotencyKey);
    const request = { ...body, deliveryId };
    const { created } = await this.rsm.create(DeliveryRequestMachine.ref(deliveryId), { type: 'Submit', request });
    if (!created) {
      // A repeat: the same request is answered as the first time; another one under the same id or key is a conflict.
      const check = await this.rsm.request(DeliveryRequestMachine.ref(deliveryId), { type: 'Check', fingerprint: fingerprint(request) });
      if (check?.same !== true) {
        throw new UnprocessableEntityException({
          statusCode: 422,
          error: 'Unprocessable Entity',
          message: `${body.deliveryId !== undefined ? 'deliveryId' : 'Idempotency-Key'} was already used for a different delivery request`,
          fields: [{ path: body.deliveryId !== undefined ? 'deliveryId' : 'Idempotency-Key', message: 'already used with another body' }],
        });
      }
    }
    response.setHeader('Location', `/api/deliveryrequests/${deliveryId}`);
    return { deliveryId, created };
  }

  /**
   * A repeat of a keyed request accepted before ids were per owner: its id from then, if a request
   * of the same owner is stored under it (one read, for keyed requests only).
   */
  private async keyedBefore(body: DeliveryRequestDto, idempotencyKey: string | undefined): Promise<string | undefined> {
    if (body.deliveryId !== undefined || idempotencyKey === undefined || idempotencyKey === '') return undefined;
    const legacy = legacyKeyedId(idempotencyKey);
    const stored = await this.rsm.get(DeliveryRequestMachine.ref(legacy));
    return stored?.data.request?.ownerId === body.ownerId ? legacy : undefined;
  }

  @Get()
  @Allow('operator')
  @ApiOperation({ summary: 'Accepted requests in id order (operators and the verifier).' })
  async list(@Query({ schema: pageQuerySchema }) query: { after?: string | undefined; limit: number }) {
    const machines = await this.rsm.list(DeliveryRequestMachine, { limit: query.limit, ...(query.after !== undefined ? { afterId: query.after } : {}) });
    return machines.map((m) => ({ deliveryId: m.id, state: m.state, createdAt: m.createdAt }));
  }

  @Get(':id')
  @Allow('customer', 'operator')
  async get(@Param('id', { schema: idSchema }) id: string, @Caller() caller: Principal) {
    const machine = await this.rsm.get(DeliveryRequestMachine.ref(id));
    if (machine === undefined || !canAccessOwner(caller, machine.data.request?.ownerId)) throw new NotFoundException(`no delivery request ${id}`);
    const { request, cancels, reschedules, refused = [] } = machine.data;
    return { deliveryId: id, state: machine.state, request, cancels, reschedules, refused };
  }

  @Delete(':id')
  @HttpCode(202)
  @Allow('customer')
  @ApiOperation({ summary: 'Cancel: forwarded to the workflow, which cancels before pickup and refuses after.' })
  async cancel(@Param('id', { schema: idSchema }) id: string, @Headers('idempotency-key') rawKey: string | undefined, @Caller() caller: Principal) {
    const key = headerValue('Idempotency-Key', rawKey);
    // An unknown id is MachineNotFoundError, answered 404 by the error filter: no read first.
    const ownerList = owners(caller);
    answer(id, await this.rsm.request(DeliveryRequestMachine.ref(id), { type: 'Cancel', ...(ownerList ? { owners: ownerList } : {}) }, key ? { key: cancelKey(id, caller, key) } : {}));
    return { deliveryId: id, cancel: 'accepted' };
  }

  @Patch(':id')
  @HttpCode(202)
  @Allow('customer')
  @ApiOperation({ summary: 'Reschedule: forwarded to the workflow.' })
  async reschedule(@Param('id', { schema: idSchema }) id: string, @Body({ schema: rescheduleSchema }) changes: Reschedule, @Caller() caller: Principal) {
    const ownerList = owners(caller);
    // A reschedule adds work downstream (unlike a cancel, which sheds it): it waits while the suite is behind.
    answer(id, await this.rsm.request(DeliveryRequestMachine.ref(id), { type: 'Reschedule', changes, ...(ownerList ? { owners: ownerList } : {}) }, { admission: true }));
    return { deliveryId: id, reschedule: 'accepted' };
  }
}
