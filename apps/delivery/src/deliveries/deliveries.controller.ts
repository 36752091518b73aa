import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { confirmationBodySchema, notifyMeSchema, rescheduleSchema, type Reschedule } from '#contracts';
import { Delivery, type DeliveryData } from './delivery.machine.js';

const listQuery = z.object({ stage: z.string().optional(), after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });
const view = (machine: MachineView) => {
  const data = machine.data as DeliveryData;
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
    confirmation: data.confirmation,
    stages: data.stages,
    refused: data.refused,
  };
};

@ApiTags('deliveries')
@Controller('api/deliveries')
export class DeliveriesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  private async find(id: string): Promise<MachineView> {
    const machine = await this.rsm.get(Delivery.ref(id));
    if (machine === undefined) throw new NotFoundException(`no delivery ${id}`);
    return machine;
  }

  @Get()
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    return (await this.rsm.list('Delivery', { limit: query.limit, ...(query.stage ? { state: query.stage } : {}), ...(query.after ? { afterId: query.after } : {}) })).map(view);
  }

  @Get(':id')
  @ApiOperation({ summary: 'A delivery with its history of stages.' })
  async get(@Param('id') id: string) {
    return view(await this.find(id));
  }

  @Get(':id/status')
  async status(@Param('id') id: string) {
    const machine = await this.find(id);
    return { id, stage: machine.state, droneId: (machine.data as DeliveryData).droneId, updatedAt: machine.updatedAt };
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Reschedules before the drone leaves; 409 with the current stage after.' })
  async reschedule(@Param('id') id: string, @Body({ schema: rescheduleSchema }) changes: Reschedule) {
    await this.rsm.request(Delivery.ref(id), { type: 'Reschedule', changes });
    return view(await this.find(id));
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Asks the workflow to cancel (before pickup); 409 with the current stage after pickup.' })
  async cancel(@Param('id') id: string) {
    await this.rsm.request(Delivery.ref(id), { type: 'RequestCancel' });
    return { id, cancel: 'accepted' };
  }

  @Post(':id/confirmations')
  @HttpCode(201)
  @ApiOperation({ summary: 'Confirms the drop-off: completes the delivery; 409 unless it is headed to drop-off.' })
  async confirm(@Param('id') id: string, @Body({ schema: confirmationBodySchema }) body: z.infer<typeof confirmationBodySchema>) {
    await this.rsm.request(Delivery.ref(id), { type: 'Confirm', confirmationType: body.confirmationType });
    return view(await this.find(id));
  }

  @Post(':id/notifymerequests')
  @HttpCode(201)
  @ApiOperation({ summary: 'Registers a webhook called once, with an idempotency key, when the delivery completes.' })
  async notifyMe(@Param('id') id: string, @Body({ schema: notifyMeSchema }) body: { url: string }) {
    await this.rsm.request(Delivery.ref(id), { type: 'NotifyMe', url: body.url });
    return { id, url: body.url };
  }
}
