import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { flightSchema, type Flight } from '#contracts';
import { FlightSimulator } from './flight-simulator.js';

@ApiTags('flights')
@Controller('api/flights')
export class FlightsController {
  constructor(@Inject(FlightSimulator) private readonly simulator: FlightSimulator) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Flies a drone for a delivery (idempotent while the flight is in the air).' })
  start(@Body({ schema: flightSchema }) flight: Flight) {
    return { result: this.simulator.start(flight) };
  }

  @Get()
  list() {
    return { active: this.simulator.flights(), flown: this.simulator.flown, abandoned: this.simulator.abandoned };
  }
}
