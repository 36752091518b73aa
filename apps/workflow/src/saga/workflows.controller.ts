import { Controller, Get, Inject, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { DeliverySaga, type SagaData } from './delivery-saga.machine.js';

const listQuery = z.object({ state: z.string().optional(), after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });

const view = (machine: MachineView) => {
  const data = machine.data as SagaData;
  return { deliveryId: machine.id, state: machine.state, reason: data.reason, droneId: data.droneId, packageId: data.request?.packageInfo.packageId ?? null, awaiting: data.awaiting, history: data.history };
};

@ApiTags('workflows')
@Controller('api/workflows')
export class WorkflowsController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Get()
  @ApiOperation({ summary: 'Sagas in id order, optionally in one state (for the verifier).' })
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    const machines = await this.rsm.list('DeliverySaga', { limit: query.limit, ...(query.state ? { state: query.state } : {}), ...(query.after ? { afterId: query.after } : {}) });
    return machines.map(view);
  }

  @Get(':deliveryId')
  @ApiOperation({ summary: 'A delivery saga: its state and history.' })
  async get(@Param('deliveryId') deliveryId: string) {
    const machine = await this.rsm.get(DeliverySaga.ref(deliveryId));
    if (machine === undefined) throw new NotFoundException(`no workflow for delivery ${deliveryId}`);
    return view(machine);
  }
}
