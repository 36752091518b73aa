import { BadRequestException, Body, Controller, Get, Inject, NotFoundException, Param, Patch, Put, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RsmRuntime, type MachineView } from '#rsm';
import { idSchema, packagePatchSchema, packagePutSchema, pageQuerySchema, type PackagePut, type PackageUpsert } from '#contracts';
import { Allow, assertOwnOwner, Caller, canAccessOwner, type Principal } from '#service-kit';
import { Package, type PackageData } from './package.machine.js';

const view = (machine: MachineView<PackageData>) => {
  const { data } = machine;
  return { id: machine.id, state: machine.state, ownerId: data.ownerId ?? null, deliveryId: data.deliveryId, ...data.info, history: data.history };
};

/** The owner a customer registers a package for: the one named, or the key's only owner. */
function ownerFor(caller: Principal, named: string | undefined): string | undefined {
  if (named !== undefined) {
    assertOwnOwner(caller, named);
    return named;
  }
  if (caller.role !== 'customer') return undefined;
  if (caller.owners.size === 1) return [...caller.owners][0];
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'Validation failed', fields: [{ path: 'ownerId', message: 'required: this key acts for several owners' }] });
}

@ApiTags('packages')
@ApiBearerAuth()
@Controller('api/packages')
export class PackagesController {
  constructor(@Inject(RsmRuntime) private readonly rsm: RsmRuntime) {}

  @Put(':id')
  @Allow('customer')
  @ApiOperation({ summary: '201 when created, 204 when an existing package of the same owner was updated; 404 for another owner\'s.' })
  async upsert(@Param('id', { schema: idSchema }) id: string, @Body({ schema: packagePutSchema }) body: PackagePut, @Caller() caller: Principal, @Res({ passthrough: true }) response: Response) {
    const { ownerId: named, ...info } = body;
    const ownerId = ownerFor(caller, named);
    const { created } = await this.rsm.create(Package.ref(id), { type: 'Register', info, ...(ownerId !== undefined ? { ownerId } : {}) });
    if (created) {
      response.status(201);
      return this.get(id, caller);
    }
    await this.update(id, info, caller);
    response.status(204);
    return undefined;
  }

  @Patch(':id')
  @Allow('customer')
  @ApiOperation({ summary: 'Changes a registered package of this customer; 409 once it is linked to a delivery.' })
  async patch(@Param('id', { schema: idSchema }) id: string, @Body({ schema: packagePatchSchema }) changes: Partial<PackageUpsert>, @Caller() caller: Principal) {
    await this.update(id, changes, caller);
    return this.get(id, caller);
  }

  @Get()
  @Allow('operator')
  async list(@Query({ schema: pageQuerySchema }) query: { after?: string | undefined; limit: number }) {
    return (await this.rsm.list(Package, { limit: query.limit, ...(query.after ? { afterId: query.after } : {}) })).map(view);
  }

  @Get(':id')
  @Allow('customer', 'operator')
  async get(@Param('id', { schema: idSchema }) id: string, @Caller() caller: Principal) {
    const machine = await this.rsm.get(Package.ref(id));
    if (machine === undefined || !canAccessOwner(caller, machine.data.ownerId)) throw new NotFoundException(`no package ${id}`);
    return view(machine);
  }

  private async update(id: string, changes: Partial<PackageUpsert>, caller: Principal): Promise<void> {
    const machine = await this.rsm.get(Package.ref(id));
    if (machine === undefined || !canAccessOwner(caller, machine.data.ownerId)) throw new NotFoundException(`no package ${id}`);
    const owners = caller.role === 'customer' ? [...caller.owners] : undefined;
    const answer = await this.rsm.request(Package.ref(id), { type: 'Update', changes, ...(owners ? { owners } : {}) });
    if (answer !== undefined && 'notFound' in answer) throw new NotFoundException(`no package ${id}`);
  }
}
