import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RsmRuntime } from '#rsm';
import type { Flight } from '#contracts';
import { Allow } from '#service-kit';
import { Drone } from './drone.machine.js';

/** The states of a drone in the air, each the leg a resumed flight starts from. */
const FLYING = ['EnRouteToPickup', 'EnRouteToDropoff', 'Returning'] as const;
const PAGE = 1_000;

@ApiTags('drones')
@ApiBearerAuth()
@Controller('api/flights')
export class FlightsController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  /**
   * Every flight in the air as its drone knows it, from the leg it is on. A simulator keeps its
   * flights in memory: restarted, it reads this and flies them on at once, instead of each drone's
   * watchdog asking again seconds later. Read from committed state only; it changes nothing.
   */
  @Get()
  @Allow('service', 'operator')
  @ApiOperation({ summary: 'Every flight in the air (drones en route or returning), for a restarted simulator to resume.' })
  async list(): Promise<{ flights: Flight[] }> {
    const flights: Flight[] = [];
    // One pass in id order over the three states: a drone changing leg meanwhile is listed once.
    for (let afterId: string | undefined; ; ) {
      const page = await this.rsm.list(Drone, { state: FLYING, limit: PAGE, ...(afterId === undefined ? {} : { afterId }) });
      for (const { id, state, data } of page) {
        const from = FLYING.find((leg) => leg === state);
        if (from === undefined || data.deliveryId === null || data.pickupLocation === null || data.dropOffLocation === null) continue;
        flights.push({ droneId: id, deliveryId: data.deliveryId, pickupLocation: data.pickupLocation, dropOffLocation: data.dropOffLocation, confirmationRequired: data.confirmationRequired ?? 'None', from });
      }
      if (page.length < PAGE) break;
      afterId = page[page.length - 1]?.id;
    }
    return { flights };
  }
}
