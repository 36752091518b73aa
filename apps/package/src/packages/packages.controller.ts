import { Body, Controller, Get, Inject, NotFoundException, Param, Patch, Put, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { RsmRuntime, type MachineView } from '#rsm';
import { packagePatchSchema, packageUpsertSchema, type PackageUpsert } from '#contracts';
import { Package, type PackageData } from './package.machine.js';

const listQuery = z.object({ after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });
const view = (machine: MachineView) => {
  const data = machine.data as PackageData;
  return { id: machine.id, state: machine.state, deliveryId: data.deliveryId, ...data.info, history: data.history };
};

@ApiTags('packages')
@Controller('api/packages')
export class PackagesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Put(':id')
  @ApiOperation({ summary: '201 when created, 204 when an existing package was updated.' })
  async upsert(@Param('id') id: string, @Body({ schema: packageUpsertSchema }) info: PackageUpsert, @Res({ passthrough: true }) response: Response) {
    const { created } = await this.rsm.create(Package.ref(id), { type: 'Register', info });
    if (created) {
      response.status(201);
      return this.get(id);
    }
    await this.rsm.request(Package.ref(id), { type: 'Update', changes: info });
    response.status(204);
    return undefined;
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Changes a registered package; 409 once it is linked to a delivery.' })
  async patch(@Param('id') id: string, @Body({ schema: packagePatchSchema }) changes: Partial<PackageUpsert>) {
    await this.rsm.request(Package.ref(id), { type: 'Update', changes });
    return this.get(id);
  }

  @Get()
  async list(@Query({ schema: listQuery }) query: z.infer<typeof listQuery>) {
    return (await this.rsm.list('Package', { limit: query.limit, ...(query.after ? { afterId: query.after } : {}) })).map(view);
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const machine = await this.rsm.get(Package.ref(id));
    if (machine === undefined) throw new NotFoundException(`no package ${id}`);
    return view(machine);
  }
}
