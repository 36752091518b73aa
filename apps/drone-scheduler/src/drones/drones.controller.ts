import { Body, ConflictException, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { droneStatusSchema, idSchema, type DroneStatus } from '#contracts';
import { Allow } from '#service-kit';
import { Drone, type DroneData } from './drone.machine.js';

const DRONE_STATES = ['Idle', 'Reserved', 'EnRouteToPickup', 'EnRouteToDropoff', 'Returning', 'Offline'] as const;
const listQuery = z.object({ state: z.enum(DRONE_STATES).optional(), after: idSchema.optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) }).strict();
const view = (machine: MachineView<DroneData>) => {
  const { data } = machine;
  return { id: machine.id, state: machine.state, deliveryId: data.deliveryId, deliveries: data.deliveries, ignored: data.ignored, ignoredCount: data.ignoredCount ?? data.ignored.length, history: data.history };
};

@ApiTags('drones')
@ApiBearerAuth()
@Allow('service', 'operator')
@Controller('api/drones')
export class DronesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Get()
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    return (await this.rsm.list(Drone, { limit: query.limit, ...(query.state ? { state: query.state } : {}), ...(query.after ? { afterId: query.after } : {}) })).map(view);
  }

  @Get(':id')
  async get(@Param('id', { schema: idSchema }) id: string) {
    const machine = await this.rsm.get(Drone.ref(id));
    if (machine === undefined) throw new NotFoundException(`no drone ${id}`);
    return view(machine);
  }

  @Post(':id/status')
  @HttpCode(200)
  @Allow('service')
  @ApiOperation({ summary: 'A drone reports progress (the simulator); 409 when it does not fit the drone’s flight.' })
  async status(@Param('id', { schema: idSchema }) id: string, @Body({ schema: droneStatusSchema }) status: DroneStatus) {
    const answer = await this.rsm.request(Drone.ref(id), { type: 'Status', ...status });
    if (answer === undefined || !answer.ok) throw new ConflictException({ statusCode: 409, error: 'Conflict', message: answer?.reason ?? 'refused', currentState: answer?.state ?? null });
    return answer;
  }
}
