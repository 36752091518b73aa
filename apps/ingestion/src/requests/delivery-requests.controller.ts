import { createHash, randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, NotFoundException, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { RsmRuntime } from '#rsm';
import { deliveryRequestSchema, rescheduleSchema, type DeliveryRequestDto, type Reschedule } from '#contracts';
import { DeliveryRequestMachine } from './delivery-request.machine.js';

const idParam = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a delivery id');
const listQuery = z.object({ after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });

/** A client-chosen idempotency key maps to one delivery id, so repeats of the request are the same delivery. */
export function deliveryIdFor(body: DeliveryRequestDto, idempotencyKey: string | undefined): string {
  if (body.deliveryId !== undefined) return body.deliveryId;
  if (idempotencyKey !== undefined && idempotencyKey !== '') return `k-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
  return randomUUID();
}

@ApiTags('delivery requests')
@Controller('api/deliveryrequests')
export class DeliveryRequestsController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Accept a delivery request; 202 only once it is committed. Repeats return the same answer.' })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  async create(
    @Body({ schema: deliveryRequestSchema }) body: DeliveryRequestDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ deliveryId: string; created: boolean }> {
    const deliveryId = deliveryIdFor(body, idempotencyKey);
    const { created } = await this.rsm.create(DeliveryRequestMachine.ref(deliveryId), { type: 'Submit', request: { ...body, deliveryId } });
    response.setHeader('Location', `/api/deliveryrequests/${deliveryId}`);
    return { deliveryId, created };
  }

  @Get()
  @ApiOperation({ summary: 'Accepted requests in id order (for the verifier).' })
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    const machines = await this.rsm.list('DeliveryRequest', { limit: query.limit, ...(query.after !== undefined ? { afterId: query.after } : {}) });
    return machines.map((m) => ({ deliveryId: m.id, state: m.state, createdAt: m.createdAt }));
  }

  @Get(':id')
  async get(@Param('id', { schema: idParam }) id: string) {
    const machine = await this.rsm.get(DeliveryRequestMachine.ref(id));
    if (machine === undefined) throw new NotFoundException(`no delivery request ${id}`);
    return { deliveryId: id, state: machine.state, ...(machine.data as object) };
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel: forwarded to the workflow, which cancels before pickup and refuses after.' })
  async cancel(@Param('id', { schema: idParam }) id: string, @Headers('idempotency-key') key: string | undefined) {
    await this.rsm.request(DeliveryRequestMachine.ref(id), { type: 'Cancel' }, key ? { key: `cancel:${id}:${key}` } : {});
    return { deliveryId: id, cancel: 'accepted' };
  }

  @Patch(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Reschedule: forwarded to the workflow.' })
  async reschedule(@Param('id', { schema: idParam }) id: string, @Body({ schema: rescheduleSchema }) changes: Reschedule) {
    await this.rsm.request(DeliveryRequestMachine.ref(id), { type: 'Reschedule', changes });
    return { deliveryId: id, reschedule: 'accepted' };
  }
}
