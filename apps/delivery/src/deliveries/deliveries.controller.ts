import { Body, ConflictException, Controller, Delete, Get, Headers, HttpCode, HttpException, HttpStatus, Inject, NotFoundException, Param, Patch, Post, Query, Res, UnprocessableEntityException } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { confirmationBodySchema, idSchema, notifyMeSchema, rescheduleSchema, type Reschedule } from '#contracts';
import { Allow, Caller, canAccessOwner, prefersMinimal, type Principal } from '#service-kit';
import type { DeliveryConfig } from '../config.js';
import { DELIVERY_CONFIG } from '../tokens.js';
import { Delivery, type DeliveryData, type DeliveryReplies } from './delivery.machine.js';
import { LookupsBusyError, webhookRefusal } from './webhook-policy.js';

const STAGES = ['Created', 'Rescheduled', 'HeadedToPickup', 'HeadedToDropoff', 'Completed', 'Cancelled'] as const;
const listQuery = z.object({ stage: z.enum(STAGES).optional(), after: idSchema.optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) }).strict();
const view = (machine: MachineView<DeliveryData>) => {
  const { data } = machine;
  return {
    id: machine.id,
    stage: machine.state,
    droneId: data.droneId,
    ownerId: data.request?.ownerId ?? null,
    packageId: data.request?.packageInfo.packageId ?? null,
    pickupLocation: data.request?.pickupLocation ?? null,
    dropOffLocation: data.request?.dropOffLocation ?? null,
    pickupTime: data.request?.pickupTime ?? null,
    deadline: data.request?.deadline ?? null,
    confirmationRequired: data.request?.confirmationRequired ?? null,
    confirmation: data.confirmation,
    stages: data.stages,
    refused: data.refused,
    refusedCount: data.refusedCount ?? data.refused.length,
  };
};

/** A refusal the machine answered: 409 when the delivery moved on, 422 when the request does not fit it. */
function refused(id: string, answer: DeliveryReplies['Confirm' | 'RequestReschedule'] | undefined, stage: string): void {
  if (answer === undefined || !('refused' in answer)) return;
  const { refused: reason, kind, fields } = answer;
  if (kind === 'invalid') throw new UnprocessableEntityException({ statusCode: 422, error: 'Unprocessable Entity', message: `delivery ${id}: ${reason}`, ...(fields !== undefined ? { fields } : {}) });
  throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `delivery ${id}: ${reason}`, currentState: stage });
}

@ApiTags('deliveries')
@ApiBearerAuth()
@Controller('api/deliveries')
export class DeliveriesController {
  constructor(
    @Inject(RsmRuntime) private readonly rsm: RsmRuntime,
    @Inject(DELIVERY_CONFIG) private readonly config: DeliveryConfig,
  ) {}

  /** The delivery, if the caller may see it: a customer sees its own owners' only (404 for others'). */
  private async find(id: string, caller: Principal): Promise<MachineView<DeliveryData>> {
    const machine = await this.rsm.get(Delivery.ref(id));
    if (machine === undefined || !canAccessOwner(caller, machine.data.request?.ownerId)) throw new NotFoundException(`no delivery ${id}`);
    return machine;
  }

  @Get()
  @Allow('operator')
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    return (await this.rsm.list(Delivery, { limit: query.limit, ...(query.stage ? { state: query.stage } : {}), ...(query.after ? { afterId: query.after } : {}) })).map(view);
  }

  @Get(':id')
  @Allow('customer', 'service', 'operator')
  @ApiOperation({ summary: 'A delivery with its history of stages.' })
  async get(@Param('id', { schema: idSchema }) id: string, @Caller() caller: Principal) {
    return view(await this.find(id, caller));
  }

  @Get(':id/status')
  @Allow('customer', 'service', 'operator')
  async status(@Param('id', { schema: idSchema }) id: string, @Caller() caller: Principal) {
    const machine = await this.find(id, caller);
    return { id, stage: machine.state, droneId: machine.data.droneId, updatedAt: machine.updatedAt };
  }

  @Patch(':id')
  @HttpCode(202)
  @Allow('customer')
  @ApiOperation({
    summary:
      'Reschedules before the drone leaves: checked against the delivery (422 naming the fields that no longer fit), then forwarded to its request and the workflow, which reschedules the delivery unless the drone was dispatched meanwhile; 409 with the current stage once the drone is on its way.',
  })
  async reschedule(@Param('id', { schema: idSchema }) id: string, @Body({ schema: rescheduleSchema }) changes: Reschedule, @Caller() caller: Principal) {
    const machine = await this.find(id, caller);
    // It adds work downstream: it waits while the suite is behind (429 with Retry-After).
    const answer = await this.rsm.request(Delivery.ref(id), { type: 'RequestReschedule', changes }, { admission: true });
    refused(id, answer, machine.state);
    return { id, reschedule: 'accepted', stage: answer !== undefined && 'stage' in answer ? answer.stage : machine.state };
  }

  @Delete(':id')
  @HttpCode(202)
  @Allow('customer')
  @ApiOperation({ summary: 'Asks the workflow to cancel (before pickup); 409 with the current stage after pickup.' })
  async cancel(@Param('id', { schema: idSchema }) id: string, @Caller() caller: Principal) {
    await this.find(id, caller);
    await this.rsm.request(Delivery.ref(id), { type: 'RequestCancel' });
    return { id, cancel: 'accepted' };
  }

  @Post(':id/confirmations')
  @HttpCode(201)
  @Allow('service')
  @ApiOperation({ summary: 'The drone confirms the drop-off (the simulator): completes the delivery; 409 unless it is headed to drop-off, 422 unless the confirmation is the one required.' })
  @ApiHeader({ name: 'Prefer', required: false, description: '`return=minimal`: answer `{ id, stage }` (with `Preference-Applied`) instead of the whole delivery' })
  async confirm(
    @Param('id', { schema: idSchema }) id: string,
    @Body({ schema: confirmationBodySchema }) body: z.infer<typeof confirmationBodySchema>,
    @Caller() caller: Principal,
    @Headers('prefer') prefer: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ) {
    const machine = await this.find(id, caller);
    // Only a delivery headed to drop-off takes a confirmation. A drone often lands before the news
    // of its pickup reaches this service: its confirmation is refused here, from the read above,
    // instead of costing the machine a step (the device asks again; a stale read only means that).
    if (machine.state !== 'HeadedToDropoff') throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `delivery ${id} is ${machine.state}: only a delivery headed to drop-off takes a confirmation`, currentState: machine.state });
    const answer = await this.rsm.request(Delivery.ref(id), { type: 'Confirm', confirmationType: body.confirmationType });
    refused(id, answer, machine.state);
    // A device that asked for no representation (the simulator does) is spared reading it back.
    if (prefersMinimal(prefer) && answer !== undefined && 'stage' in answer) {
      response.setHeader('Preference-Applied', 'return=minimal');
      return { id, stage: answer.stage };
    }
    return view(await this.find(id, caller));
  }

  @Post(':id/notifymerequests')
  @HttpCode(201)
  @Allow('customer')
  @ApiOperation({ summary: 'Registers the owner\'s webhook, called once with an idempotency key when the delivery completes: https, a public address, no redirects.' })
  async notifyMe(@Param('id', { schema: idSchema }) id: string, @Body({ schema: notifyMeSchema }) body: { url: string }, @Caller() caller: Principal, @Res({ passthrough: true }) response: Response) {
    await this.find(id, caller);
    const refusal = await webhookRefusal(body.url, this.config).catch((error: unknown) => {
      if (!(error instanceof LookupsBusyError)) throw error;
      // Slow names hold the lookups registration may use: nothing was written, try again shortly.
      response.setHeader('Retry-After', '2');
      throw new HttpException({ statusCode: 503, error: 'Service Unavailable', message: error.message }, HttpStatus.SERVICE_UNAVAILABLE, { cause: error });
    });
    if (refusal !== undefined) throw new UnprocessableEntityException({ statusCode: 422, error: 'Unprocessable Entity', message: `webhook refused: ${refusal}`, fields: [{ path: 'url', message: refusal }] });
    await this.rsm.request(Delivery.ref(id), { type: 'NotifyMe', url: body.url });
    return { id, url: body.url };
  }
}
