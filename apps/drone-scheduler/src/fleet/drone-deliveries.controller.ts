import { Body, ConflictException, Controller, Delete, Get, HttpCode, HttpException, HttpStatus, Inject, NotFoundException, Param, Put, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { RsmRuntime } from '#rsm';
import { droneDeliverySchema, FLEET_ID, idSchema, ownGet, utilizationQuerySchema } from '#contracts';
import { Allow, Caller, canAccessOwner, type Principal } from '#service-kit';
import { Drone } from '../drones/drone.machine.js';
import { Fleet } from './fleet.machine.js';
import { Utilization } from './utilization.machine.js';

@ApiTags('drone deliveries')
@ApiBearerAuth()
@Controller('api')
export class DroneDeliveriesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Put('dronedeliveries/:deliveryId')
  @Allow('service')
  @ApiOperation({ summary: 'Books a drone for a delivery: 200 with the drone, the same one on retry; 202 when queued for the next free drone; 429 when too many REST bookings are held; 409 for a delivery id its workflow booked.' })
  async assign(@Param('deliveryId', { schema: idSchema }) deliveryId: string, @Body({ schema: droneDeliverySchema }) body: { ownerId: string }, @Res({ passthrough: true }) response: Response) {
    const answer = await this.rsm.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId, ownerId: body.ownerId, viaSaga: false });
    if (answer !== undefined && 'refused' in answer) {
      // The bookings held end only when their services release them: ask again in a while.
      response.setHeader('Retry-After', '30');
      throw new HttpException({ statusCode: 429, error: 'Too Many Requests', message: answer.refused }, HttpStatus.TOO_MANY_REQUESTS);
    }
    if (answer !== undefined && 'conflict' in answer) throw new ConflictException({ statusCode: 409, error: 'Conflict', message: answer.conflict });
    if (answer?.queued === true) response.status(202);
    return { deliveryId, droneId: answer?.droneId ?? null, queued: answer?.queued ?? false };
  }

  @Delete('dronedeliveries/:deliveryId')
  @HttpCode(200)
  @Allow('service')
  @ApiOperation({ summary: 'Releases the drone booked over REST for a delivery, or takes it out of the queue; 409 with the drone state once the package is picked up, or for a workflow\'s booking.' })
  async release(@Param('deliveryId', { schema: idSchema }) deliveryId: string) {
    const fleet = (await this.rsm.get(Fleet.ref(FLEET_ID)))?.data;
    let droneId = fleet === undefined ? undefined : ownGet(fleet.assignments, deliveryId);
    if (droneId === undefined) {
      // No drone yet: take it out of the queue, if it waits there (the Fleet refuses a workflow's
      // booking, and names the drone if one was assigned since the read above).
      const answer = await this.rsm.request(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId });
      if (answer !== undefined && 'refused' in answer) throw new ConflictException({ statusCode: 409, error: 'Conflict', message: answer.refused, currentState: 'DronePending' });
      if (answer === undefined || !('heldBy' in answer)) return { deliveryId, released: answer?.released ?? null };
      droneId = answer.heldBy;
    }
    // The drone decides: it alone knows whether the package is already in the air.
    const answer = await this.rsm.request(Drone.ref(droneId), { type: 'Release', deliveryId, viaSaga: false });
    if (answer !== undefined && 'refused' in answer) throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `drone ${droneId} not released: ${answer.refused}`, currentState: answer.state });
    return { deliveryId, released: answer?.released ?? null };
  }

  @Get('dronedeliveries/utilization')
  @Allow('customer', 'operator')
  @ApiOperation({ summary: 'Deliveries completed for an owner in a month (a customer asks for its own owners).' })
  async utilization(@Query({ schema: utilizationQuerySchema }) query: z.infer<typeof utilizationQuerySchema>, @Caller() caller: Principal) {
    const month = `${query.year}-${String(query.month).padStart(2, '0')}`;
    if (!canAccessOwner(caller, query.ownerId)) throw new NotFoundException(`no owner ${query.ownerId} for this key`);
    const counts = (await this.rsm.get(Utilization.ref(query.ownerId)))?.data;
    const legacy = (await this.rsm.get(Fleet.ref(FLEET_ID)))?.data.utilization;
    const before = legacy === undefined ? 0 : (ownGet(ownGet(legacy, query.ownerId) ?? {}, month) ?? 0);
    return { ownerId: query.ownerId, year: query.year, month: query.month, deliveries: (counts === undefined ? 0 : (ownGet(counts.months, month) ?? 0)) + before };
  }

  @Get('fleet')
  @Allow('operator')
  @ApiOperation({ summary: 'Live assignments, queue and idle drones (for operators and the verifier).' })
  async fleet() {
    const fleet = (await this.rsm.get(Fleet.ref(FLEET_ID)))?.data;
    return { assignments: fleet?.assignments ?? {}, waiting: fleet?.waiting ?? [], idle: fleet?.idle ?? [], drones: fleet?.fleetSize ?? 0 };
  }
}
