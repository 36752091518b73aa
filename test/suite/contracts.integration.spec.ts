import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { defineMachine, RequestRejectedError, RsmRuntime, type RsmLogger } from '#rsm';
import { EVENT_CONTRACTS, FLEET_ID, MACHINE_ROUTES, type FleetEvents } from '#contracts';
import { Fleet, type FleetData } from '../../apps/drone-scheduler/src/fleet/fleet.machine.js';
import { Drone } from '../../apps/drone-scheduler/src/drones/drone.machine.js';
import { suiteTestConfig } from '../support/config.js';

const quiet: RsmLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };
const SIGNING_KEYS = ['contracts-test-signing-key-0123456789abcdef'];

/** A peer that sends whatever it is told to the Fleet: a buggy or compromised service. */
const Forger = defineMachine<Record<string, never>, { type: 'Go'; event: Record<string, unknown> }>()({
  type: 'Forger',
  initial: 'Ready',
  initialData: () => ({}),
  states: { Ready: { on: { Go: (_d, event, ctx) => ctx.send({ type: 'Fleet', id: FLEET_ID }, event.event as unknown as FleetEvents) } } },
});

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('contracts are enforced at the receiver', () => {
  const run = randomBytes(4).toString('hex');
  const schemas = { scheduler: `t_ctr_sched_${run}`, forger: `t_ctr_forge_${run}` };
  const prefix = `rsmtest-contracts-${run}`;
  const runtime = (service: string, schema: string, machines: Parameters<RsmRuntime['register']>[0][]) =>
    new RsmRuntime(
      { service, postgres: { url: suiteTestConfig.DATABASE_URL, schema, poolSize: 4 }, redis: { url: suiteTestConfig.REDIS_URL, prefix, signingKeys: SIGNING_KEYS }, routes: MACHINE_ROUTES },
      { machines, logger: quiet, contracts: EVENT_CONTRACTS },
    );
  const scheduler = runtime('drone-scheduler', schemas.scheduler, [Fleet, Drone]);
  const forger = runtime('workflow', schemas.forger, [Forger]);

  before(async () => {
    await scheduler.start();
    await forger.start();
    await scheduler.create(Fleet.ref(FLEET_ID), { type: 'Seed', droneIds: [] });
  });

  after(async () => {
    await scheduler.stop();
    await forger.stop();
    const pool = new pg.Pool({ connectionString: suiteTestConfig.DATABASE_URL, max: 1 });
    for (const schema of Object.values(schemas)) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('dead-letters a forged AssignDrone with no fields, and the Fleet goes on', async () => {
    await forger.create(Forger.ref('f1'), { type: 'Go', event: { type: 'AssignDrone' } });
    const letter = await waitFor('the forged AssignDrone to be dead-lettered', async () => (await scheduler.deadLetters({ type: 'Fleet' })).find((l) => l.event.type === 'AssignDrone'));
    assert.match(letter.reason, /invalid AssignDrone: deliveryId: .*ownerId: .*viaSaga: /);
    assert.deepEqual(letter.event, { type: 'AssignDrone' });
    assert.deepEqual({ sender: letter.senderType, id: letter.senderId }, { sender: 'Forger', id: 'f1' });
    const fleet = (await scheduler.get(Fleet.ref(FLEET_ID)))?.data as FleetData;
    assert.deepEqual({ waiting: fleet.waiting, requests: fleet.requests }, { waiting: [], requests: {} }, 'nothing of the forged event reached the data');
    // Not poisoned: a valid event is handled next, and an invalid request is refused to its caller.
    assert.deepEqual(await scheduler.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'd1', ownerId: 'o1', viaSaga: false }), { droneId: null, queued: true });
    await assert.rejects(scheduler.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'd2' } as unknown as FleetEvents), (error: unknown) => {
      assert.ok(error instanceof RequestRejectedError);
      assert.match(error.reason, /invalid AssignDrone: ownerId/);
      return true;
    });
    assert.deepEqual(((await scheduler.get(Fleet.ref(FLEET_ID)))?.data as FleetData).waiting, ['d1']);
  });

  it('dead-letters a mistyped field as well as a missing one', async () => {
    await forger.create(Forger.ref('f2'), { type: 'Go', event: { type: 'Release', deliveryId: null } });
    const letter = await waitFor('the mistyped Release to be dead-lettered', async () => (await scheduler.deadLetters({ type: 'Fleet' })).find((l) => l.event.type === 'Release'));
    assert.match(letter.reason, /invalid Release: deliveryId/);
  });
});
