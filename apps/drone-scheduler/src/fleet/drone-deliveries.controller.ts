import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { RsmRuntime } from '#rsm';
import { droneDeliverySchema, FLEET_ID, utilizationQuerySchema, type FleetEvents } from '#contracts';
import { Fleet, type FleetData } from './fleet.machine.js';

@ApiTags('drone deliveries')
@Controller('api')
export class DroneDeliveriesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Put('dronedeliveries/:deliveryId')
  @ApiOperation({ summary: 'Books a drone for a delivery: 200 with the drone, the same one on retry; 202 when queued for the next free drone.' })
  async assign(@Param('deliveryId') deliveryId: string, @Body({ schema: droneDeliverySchema }) body: { ownerId: string }, @Res({ passthrough: true }) response: Response) {
    const answer = await this.rsm.request<{ droneId: string | null; queued: boolean }, FleetEvents>(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId, ownerId: body.ownerId, viaSaga: false });
    if (answer?.queued === true) response.status(202);
    return { deliveryId, droneId: answer?.droneId ?? null, queued: answer?.queued ?? false };
  }

  @Delete('dronedeliveries/:deliveryId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Releases the drone booked for a delivery, or takes it out of the queue.' })
  async release(@Param('deliveryId') deliveryId: string) {
    const answer = await this.rsm.request<{ released: string | null }, FleetEvents>(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId });
    return { deliveryId, released: answer?.released ?? null };
  }

  @Get('dronedeliveries/utilization')
  @ApiOperation({ summary: 'Deliveries completed for an owner in a month.' })
  async utilization(@Query({ schema: utilizationQuerySchema }) query: z.infer<typeof utilizationQuerySchema>) {
    const fleet = (await this.rsm.get(Fleet.ref(FLEET_ID)))?.data as FleetData | undefined;
    const month = `${query.year}-${String(query.month).padStart(2, '0')}`;
    return { ownerId: query.ownerId, year: query.year, month: query.month, deliveries: fleet?.utilization[query.ownerId]?.[month] ?? 0 };
  }

  @Get('fleet')
  @ApiOperation({ summary: 'Live assignments, queue and idle drones (for operators and the verifier).' })
  async fleet() {
    const fleet = (await this.rsm.get(Fleet.ref(FLEET_ID)))?.data as FleetData | undefined;
    return { assignments: fleet?.assignments ?? {}, waiting: fleet?.waiting ?? [], idle: fleet?.idle ?? [], drones: fleet?.drones.length ?? 0 };
  }
}
