import { Controller, Get, Inject, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { idSchema } from '#contracts';
import { Allow, Caller, canAccessOwner, type Principal } from '#service-kit';
import { DeliverySaga, type SagaData } from './delivery-saga.machine.js';

const SAGA_STATES = ['Received', 'PackagePending', 'DronePending', 'DeliveryPending', 'Scheduled', 'Airborne', 'Completed', 'Compensating', 'Failed', 'Cancelling', 'Cancelled'] as const;
const listQuery = z.object({ state: z.enum(SAGA_STATES).optional(), after: idSchema.optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) }).strict();

const view = (machine: MachineView<SagaData>) => {
  const { data } = machine;
  return { deliveryId: machine.id, state: machine.state, reason: data.reason, droneId: data.droneId, pickedUpAt: data.pickedUpAt ?? null, packageId: data.request?.packageInfo.packageId ?? null, awaiting: data.awaiting, history: data.history, historyDropped: data.historyDropped ?? 0 };
};

@ApiTags('workflows')
@ApiBearerAuth()
@Controller('api/workflows')
export class WorkflowsController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Get()
  @Allow('operator')
  @ApiOperation({ summary: 'Sagas in id order, optionally in one state (operators and the verifier).' })
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    const machines = await this.rsm.list(DeliverySaga, { limit: query.limit, ...(query.state ? { state: query.state } : {}), ...(query.after ? { afterId: query.after } : {}) });
    return machines.map(view);
  }

  @Get(':deliveryId')
  @Allow('customer', 'operator')
  @ApiOperation({ summary: 'A delivery saga: its state and history (a customer sees its own).' })
  async get(@Param('deliveryId', { schema: idSchema }) deliveryId: string, @Caller() caller: Principal) {
    const machine = await this.rsm.get(DeliverySaga.ref(deliveryId));
    if (machine === undefined || !canAccessOwner(caller, machine.data.request?.ownerId)) throw new NotFoundException(`no workflow for delivery ${deliveryId}`);
    return view(machine);
  }
}
