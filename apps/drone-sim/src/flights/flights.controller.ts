import { Body, Controller, Get, HttpCode, HttpException, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { flightSchema, type Flight } from '#contracts';
import { Allow } from '#service-kit';
import { FlightSimulator } from './flight-simulator.js';

@ApiTags('flights')
@ApiBearerAuth()
@Controller('api/flights')
export class FlightsController {
  constructor(@Inject(FlightSimulator) private readonly simulator: FlightSimulator) {}

  @Post()
  @HttpCode(202)
  @Allow('service')
  @ApiOperation({ summary: 'Flies a drone for a delivery (idempotent while the flight is in the air); 429 when MAX_FLIGHTS are in the air.' })
  start(@Body({ schema: flightSchema }) flight: Flight, @Res({ passthrough: true }) response: Response) {
    const result = this.simulator.start(flight);
    if (result === 'full') {
      // A flight lasts a few legs: a slot is likely free again within a second.
      response.setHeader('Retry-After', '1');
      throw new HttpException({ statusCode: 429, error: 'Too Many Requests', message: 'the simulator flies as many drones as it may; retry later' }, HttpStatus.TOO_MANY_REQUESTS);
    }
    return { result };
  }

  @Get()
  @Allow('service', 'operator')
  list() {
    return { active: this.simulator.flights(), flown: this.simulator.flown, abandoned: this.simulator.abandoned, resumed: this.simulator.resumed };
  }
}
