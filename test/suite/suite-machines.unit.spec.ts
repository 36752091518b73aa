import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestRuntime } from '#rsm/testing';
import { FLEET_ID, fingerprint, type DeliveryRequest } from '#contracts';
import { DeliveryRequestMachine } from '../../apps/ingestion/src/requests/delivery-request.machine.js';
import { DeliverySaga, type SagaData } from '../../apps/workflow/src/saga/delivery-saga.machine.js';
import { Package } from '../../apps/package/src/packages/package.machine.js';
import { Fleet, seedNeeded, type FleetData } from '../../apps/drone-scheduler/src/fleet/fleet.machine.js';
import { Drone, type DroneData } from '../../apps/drone-scheduler/src/drones/drone.machine.js';
import { Utilization } from '../../apps/drone-scheduler/src/fleet/utilization.machine.js';
import { Delivery, type DeliveryData } from '../../apps/delivery/src/deliveries/delivery.machine.js';

/** Every machine of the suite in one in-memory runtime, with the drone simulator played by the test. */
async function suite(drones = 2) {
  const rt = new TestRuntime([DeliveryRequestMachine, DeliverySaga, Package, Fleet, Drone, Utilization, Delivery]);
  await rt.create(Fleet.ref(FLEET_ID), { type: 'Seed', droneIds: Array.from({ length: drones }, (_, i) => `drone-${i + 1}`) });
  return rt;
}

let n = 0;
function request(overrides: Partial<DeliveryRequest> = {}, weight = 2): DeliveryRequest {
  n += 1;
  return {
    deliveryId: `d${n}`,
    ownerId: 'owner-1',
    pickupLocation: 'A',
    dropOffLocation: 'B',
    pickupTime: '2026-01-01T00:00:00Z',
    deadline: '2026-01-01T01:00:00Z',
    expedited: false,
    confirmationRequired: 'None',
    packageInfo: { packageId: `p${n}`, size: 'Small', weight, tag: 't' },
    ...overrides,
  };
}

const sagaOf = (rt: TestRuntime, id: string) => rt.get(DeliverySaga.ref(id)) as { state: string; data: SagaData };
const deliveryOf = (rt: TestRuntime, id: string) => rt.get(Delivery.ref(id)) as { state: string; data: DeliveryData } | undefined;
const fleetOf = (rt: TestRuntime) => rt.get(Fleet.ref(FLEET_ID))?.data as FleetData;
const monthsOf = (rt: TestRuntime, owner: string) => rt.get(Utilization.ref(owner))?.data.months ?? {};

/** Plays the simulator: reports the flight of the drone that serves `deliveryId`. */
async function fly(rt: TestRuntime, deliveryId: string, until: 'PickedUp' | 'Delivered' | 'Returned' = 'Returned') {
  const droneId = sagaOf(rt, deliveryId).data.droneId as string;
  for (const status of ['PickedUp', 'Delivered', 'Returned'] as const) {
    const answer = await rt.request(Drone.ref(droneId), { type: 'Status', deliveryId, status });
    assert.deepEqual((answer as { ok: boolean }).ok, true, `drone accepted ${status}`);
    if (status === 'Delivered') await rt.request(Delivery.ref(deliveryId), { type: 'Confirm', confirmationType: 'None' });
    if (status === until) return;
  }
}

describe('the suite machines together', () => {
  it('treats names of Object.prototype as ordinary ids: deliveries, owners and packages', async () => {
    // Ids the API accepts (letters first): each would read or replace prototype members if a
    // machine indexed its data with it.
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'prototype', 'toLocaleString'];
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const rt = await suite(names.length);
    for (const name of names) {
      const r = request({ deliveryId: name, ownerId: name, packageInfo: { packageId: name, size: 'Small', weight: 2, tag: 't' } });
      await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
      assert.equal(sagaOf(rt, name).state, 'Scheduled', `${name} is scheduled`);
    }
    for (const name of names) await fly(rt, name);
    for (const name of names) {
      assert.equal(sagaOf(rt, name).state, 'Completed', `${name} completes`);
      assert.deepEqual(monthsOf(rt, name), { '2026-01': 1 }, `${name}'s utilization`);
    }
    // A booking released over REST with such an id, and one cancelled while waiting.
    const free = fleetOf(rt).idle[0];
    assert.ok(free !== undefined);
    assert.deepEqual(await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'constructor', ownerId: 'x', viaSaga: false }), { droneId: free, queued: false });
    assert.deepEqual(await rt.request(Drone.ref(free), { type: 'Release', deliveryId: 'constructor', viaSaga: false }), { released: free });
    assert.deepEqual(fleetOf(rt).assignments, {}, 'the booking released over REST is gone from the Fleet');
    assert.ok(fleetOf(rt).idle.includes(free), 'its drone is free again');
    assert.deepEqual(await rt.request(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId: 'toString' }), { released: null });
    assert.deepEqual(fleetOf(rt).waiting, []);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), before, 'Object.prototype untouched');
    assert.equal(({} as { constructor: unknown }).constructor, Object);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('takes a delivery to Completed and frees its drone', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Scheduled');
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'HeadedToPickup');
    assert.equal(rt.pendingCalls.filter((c) => c.activity === 'fly').length, 1, 'the drone asked the simulator to fly');
    await fly(rt, r.deliveryId);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Completed');
    assert.deepEqual(deliveryOf(rt, r.deliveryId)?.data.stages.map((s) => s.stage), ['Created', 'HeadedToPickup', 'HeadedToDropoff', 'Completed']);
    assert.equal(rt.stateOf(Package.ref(r.packageInfo.packageId)), 'Delivered');
    assert.equal(rt.stateOf(Drone.ref(sagaOf(rt, r.deliveryId).data.droneId as string)), 'Idle');
    assert.deepEqual(monthsOf(rt, 'owner-1'), { '2026-01': 1 });
    assert.equal(fleetOf(rt).utilization, undefined, 'the Fleet keeps no per-owner data');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('tells the delivery its drone is headed to pickup when it dispatches, without news from the drone', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    await fly(rt, r.deliveryId);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Completed');
    assert.deepEqual(rt.trace.filter((t) => t.event.type === 'DroneEnRoute'), [], 'no DroneEnRoute was sent');
    const sagaSteps = rt.trace.filter((t) => t.machine === `DeliverySaga/${r.deliveryId}`).map((t) => t.event.type);
    assert.deepEqual(sagaSteps, ['Start', 'PackageLinked', 'DroneAssigned', 'DronePickedUp', 'DeliveryCompleted']);
    assert.deepEqual(rt.trace.filter((t) => t.event.type === 'DeliveryCreated'), [], 'the delivery was asked for no acknowledgement');
    assert.deepEqual(sagaOf(rt, r.deliveryId).data.history.map((h) => h.state), ['PackagePending', 'DronePending', 'Scheduled', 'Airborne', 'Completed']);
    assert.deepEqual(deliveryOf(rt, r.deliveryId)?.data.stages.map((s) => s.stage), ['Created', 'HeadedToPickup', 'HeadedToDropoff', 'Completed']);
  });

  it('still forwards DroneEnRoute across a rolling deploy: a dispatch without the flag, a saga dispatched before it', async () => {
    const rt = await suite();
    const reserved = { deliveryId: 'd-old', ownerId: 'o', viaSaga: true, pickupLocation: null, dropOffLocation: null, deliveries: 0, lastPickupAt: null, ignored: [], history: [] };
    rt.seed(Drone.ref('drone-1'), { state: 'Reserved', data: reserved });
    const request_ = request({ deliveryId: 'd-old' });
    const scheduled: SagaData = { request: request_, droneId: 'drone-1', pickedUpAt: null, done: { package: true, drone: true, delivery: true }, awaiting: [], reason: null, history: [] };
    // A saga stored at v2 (dispatched by the release before): it migrates with its next step.
    rt.seed(DeliverySaga.ref('d-old'), { state: 'Scheduled', data: scheduled, version: 2 });
    rt.seed(Delivery.ref('d-old'), { state: 'Created', data: { request: request_, droneId: 'drone-1', stages: [{ stage: 'Created', at: rt.now.toISOString() }], confirmation: null, refused: [], webhook: null, notified: false } satisfies DeliveryData });
    // A saga of the release before dispatches without the flag: the drone sends DroneEnRoute, and
    // the saga, which has not told the delivery, forwards it.
    await rt.send(Drone.ref('drone-1'), { type: 'Dispatch', deliveryId: 'd-old', pickupLocation: 'A', dropOffLocation: 'B' });
    assert.equal(rt.trace.filter((t) => t.event.type === 'DroneEnRoute').length, 1);
    assert.equal(deliveryOf(rt, 'd-old')?.state, 'HeadedToPickup');
    assert.equal(rt.get(DeliverySaga.ref('d-old'))?.version, 5, 'migrated by its step');
    // A saga that told the delivery itself ignores a DroneEnRoute (from a drone of the release before).
    rt.seed(DeliverySaga.ref('d-old'), { state: 'Scheduled', data: { ...sagaOf(rt, 'd-old').data, headedAtDispatch: true } });
    const before = rt.trace.filter((t) => t.event.type === 'HeadedToPickup').length;
    await rt.send(DeliverySaga.ref('d-old'), { type: 'DroneEnRoute', droneId: 'drone-1' });
    assert.equal(rt.trace.filter((t) => t.event.type === 'HeadedToPickup').length, before, 'no second HeadedToPickup');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('creates the delivery and dispatches the drone in one step, and works with either side of the release before', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    const saga = DeliverySaga.ref(r.deliveryId);
    const dispatching = rt.trace.find((t) => t.machine === `DeliverySaga/${r.deliveryId}` && t.event.type === 'DroneAssigned');
    assert.equal(dispatching?.to, 'Scheduled');
    assert.deepEqual(deliveryOf(rt, r.deliveryId)?.data.stages.map((s) => s.stage), ['Created', 'HeadedToPickup']);
    // Between its Create and the HeadedToPickup behind it, a reschedule over REST is refused at once:
    // the saga, which dispatched the drone, would refuse it.
    rt.seed(Delivery.ref(r.deliveryId), { state: 'Created', data: { ...(deliveryOf(rt, r.deliveryId)?.data as DeliveryData), stages: [] } });
    assert.deepEqual(await rt.request(Delivery.ref(r.deliveryId), { type: 'RequestReschedule', changes: { dropOffLocation: 'C' } }), { refused: 'the drone is already headed to pickup', kind: 'conflict' });
    assert.equal(rt.trace.filter((t) => t.event.type === 'Reschedule').length, 0, 'nothing forwarded');
    // A delivery process of the release before answers every Create: a Scheduled saga ignores it.
    const before = rt.trace.length;
    await rt.send(saga, { type: 'DeliveryCreated' }, Delivery.ref(r.deliveryId));
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Scheduled');
    assert.deepEqual(rt.trace.slice(before).flatMap((t) => t.effects.filter((e) => e.kind === 'send' || e.kind === 'create')), [], 'nothing sent');
    // A saga of the release before asks for no flag: the delivery still answers its Create.
    const old = request({ deliveryId: 'd-v4' });
    rt.seed(DeliverySaga.ref('d-v4'), { state: 'Scheduled', data: { ...sagaOf(rt, r.deliveryId).data, request: old }, version: 4 });
    await rt.create(Delivery.ref('d-v4'), { type: 'Create', request: old, droneId: 'drone-1' });
    const sent = rt.trace.find((t) => t.machine === 'Delivery/d-v4')?.effects.flatMap((e) => (e.kind === 'send' ? [`${e.to.type}/${e.to.id} ${e.event.type}`] : []));
    assert.deepEqual(sent, ['DeliverySaga/d-v4 DeliveryCreated']);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('refuses a reschedule once it dispatched the drone, as the delivery does, and keeps the request it flies', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Scheduled');
    await rt.request(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Reschedule', changes: { dropOffLocation: 'C' } });
    const saga = sagaOf(rt, r.deliveryId).data;
    assert.equal(saga.request?.dropOffLocation, 'B', 'the saga keeps the request the drone flies');
    assert.equal(saga.history.at(-1)?.note, 'refused: the drone was dispatched');
    assert.equal(rt.trace.filter((t) => t.machine === `Delivery/${r.deliveryId}` && t.event.type === 'Reschedule').length, 0, 'nothing forwarded');
    assert.equal(deliveryOf(rt, r.deliveryId)?.data.request?.dropOffLocation, 'B');
  });

  it('checks a reschedule against the times earlier ones set, and moves the deadline the saga waits for', async () => {
    const rt = await suite(0); // no drone: the saga waits in DronePending with its deadline timer
    const r = request({ pickupTime: '2026-01-01T00:01:00Z', deadline: '2026-01-01T00:10:00Z' });
    const ref = DeliveryRequestMachine.ref(r.deliveryId);
    await rt.create(ref, { type: 'Submit', request: r });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'DronePending');
    assert.deepEqual(await rt.request(ref, { type: 'Reschedule', changes: { pickupTime: '2026-01-01T05:00:00Z', deadline: '2026-01-01T06:00:00Z' } }), { accepted: true });
    // A deadline before the pickup the first reschedule set: refused, though it is after the submitted one.
    const refused = await rt.request(ref, { type: 'Reschedule', changes: { deadline: '2026-01-01T02:00:00Z' } });
    assert.deepEqual(refused, { accepted: false, reason: 'invalid', fields: [{ path: 'deadline', message: 'not after pickupTime' }] });
    const stored = rt.get(ref)?.data as { request: DeliveryRequest; reschedules: number };
    assert.deepEqual([stored.request.pickupTime, stored.request.deadline, stored.reschedules], ['2026-01-01T05:00:00Z', '2026-01-01T06:00:00Z', 1]);
    // The submission repeated is still the same request; a body with the rescheduled times is not.
    assert.deepEqual(await rt.request(ref, { type: 'Check', fingerprint: fingerprint(r) }), { same: true });
    assert.deepEqual(await rt.request(ref, { type: 'Check', fingerprint: fingerprint(stored.request) }), { same: false });
    // Past the submitted deadline the saga still waits: its timer moved to the new one.
    await rt.advance(60 * 60_000);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'DronePending');
    await rt.advance(6 * 60 * 60_000);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Failed', 'and fails at the new deadline');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('asks the simulator again only when its last fly call was answered, waiting twice as long each time', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    const drone = Drone.ref(sagaOf(rt, r.deliveryId).data.droneId as string);
    const flyCalls = () => rt.pendingCalls.filter((c) => c.activity === 'fly');
    const watchdogIn = () => (rt.timersOf(drone).find((t) => t.name === 'watchdog')?.fireAt.getTime() ?? NaN) - rt.now.getTime();
    assert.equal(flyCalls().length, 1);
    assert.equal(watchdogIn(), 15_000, 'the first wait');
    // The call has not been answered (a backlog, or a process that died holding it): no second call.
    await rt.advance(15_000);
    assert.equal(flyCalls().length, 1, 'no second call while the first is on its way');
    assert.equal(watchdogIn(), 30_000, 'the next watchdog waits twice as long');
    // Answered, and still no news of the flight: the simulator lost it, and is asked again.
    await rt.completeActivity(flyCalls()[0]?.callId as string, { status: 202 });
    await rt.advance(30_000);
    assert.equal(flyCalls().length, 1, 'asked again');
    assert.equal((flyCalls()[0]?.input as { from?: string } | undefined)?.from, 'EnRouteToPickup');
    assert.equal(watchdogIn(), 60_000);
    await rt.advance(60_000);
    await rt.advance(120_000);
    assert.equal(watchdogIn(), 120_000, 'at most eight times the first wait');
    assert.equal(flyCalls().length, 1, 'still one call on its way');
    // News of the flight: the next watchdog waits the first wait again, and the flight completes.
    await fly(rt, r.deliveryId, 'PickedUp');
    assert.equal(watchdogIn(), 15_000);
    await rt.completeActivity(flyCalls()[0]?.callId as string, { status: 202 });
    for (const status of ['Delivered', 'Returned'] as const) {
      assert.equal((await rt.request(drone, { type: 'Status', deliveryId: r.deliveryId, status })).ok, true);
      if (status === 'Delivered') await rt.request(Delivery.ref(r.deliveryId), { type: 'Confirm', confirmationType: 'None' });
    }
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Completed');
    assert.deepEqual(rt.timersOf(drone), [], 'no watchdog once back');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('hears once from a drone per delivery: back from its flight, it ends the assignment and is free again', async () => {
    const rt = await suite(1);
    const first = request();
    const second = request();
    await rt.create(DeliveryRequestMachine.ref(first.deliveryId), { type: 'Submit', request: first });
    await rt.create(DeliveryRequestMachine.ref(second.deliveryId), { type: 'Submit', request: second });
    assert.deepEqual(fleetOf(rt).waiting, [second.deliveryId], 'one drone: the second delivery waits');
    const fleetEvents = () => rt.trace.filter((t) => t.machine === `Fleet/${FLEET_ID}` && t.outcome === 'ok').map((t) => t.event.type);
    let before = fleetEvents().length;
    await fly(rt, first.deliveryId, 'Delivered');
    assert.deepEqual(fleetEvents().slice(before), [], 'nothing to the Fleet at pickup or drop-off');
    assert.deepEqual(fleetOf(rt).assignments, { [first.deliveryId]: 'drone-1' }, 'a returning drone is still the delivery\'s: not free');
    // Nobody but the drone ends its flight: the same event from elsewhere changes nothing.
    await rt.send(Fleet.ref(FLEET_ID), { type: 'DroneAvailable', droneId: 'drone-1', finished: first.deliveryId });
    await rt.send(Fleet.ref(FLEET_ID), { type: 'DroneAvailable', droneId: 'drone-1', finished: first.deliveryId }, Drone.ref('drone-2'));
    await rt.send(Fleet.ref(FLEET_ID), { type: 'BookingReleased', droneId: 'drone-1', deliveryId: first.deliveryId }, Drone.ref('drone-2'));
    await rt.send(Fleet.ref(FLEET_ID), { type: 'ReservationRefused', droneId: 'drone-1', deliveryId: first.deliveryId, ownerId: 'x', viaSaga: true });
    await rt.send(Fleet.ref(FLEET_ID), { type: 'DeliveryFinished', droneId: 'drone-1', deliveryId: first.deliveryId, ownerId: 'x', at: '2026-01-01T00:00:00Z' }, Drone.ref('drone-2'));
    assert.deepEqual(fleetOf(rt).assignments, { [first.deliveryId]: 'drone-1' }, 'a forged announcement ends nothing');
    assert.deepEqual(fleetOf(rt).waiting, [second.deliveryId], 'nor does a forged refusal queue the delivery again');
    assert.deepEqual(fleetOf(rt).idle, []);
    before = fleetEvents().length;
    assert.deepEqual(await rt.request(Drone.ref('drone-1'), { type: 'Status', deliveryId: first.deliveryId, status: 'Returned' }), { ok: true, state: 'Idle' });
    assert.deepEqual(fleetEvents().slice(before), ['DroneAvailable'], 'one event from the drone for the whole flight: on its return');
    assert.equal(sagaOf(rt, first.deliveryId).state, 'Completed');
    assert.equal(sagaOf(rt, second.deliveryId).state, 'Scheduled', 'the freed drone went to the waiting delivery');
    assert.deepEqual(fleetOf(rt).assignments, { [second.deliveryId]: 'drone-1' });
    await fly(rt, second.deliveryId);
    assert.deepEqual(fleetOf(rt).assignments, {});
    assert.deepEqual(fleetOf(rt).idle, ['drone-1']);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('still ends an assignment on DeliveryFinished, from drones of the previous release, and migrates a v2 Fleet', async () => {
    const rt = new TestRuntime([Fleet, Drone, Utilization]);
    rt.seed(Fleet.ref(FLEET_ID), { state: 'Active', data: { idle: [], assignments: { d1: 'drone-1' }, requests: {}, waiting: ['d2'], fleetSize: 1 } satisfies FleetData, version: 2 });
    rt.seed(Drone.ref('drone-1'), { state: 'Returning', data: { deliveryId: 'd1', ownerId: 'o', viaSaga: true, pickupLocation: 'A', dropOffLocation: 'B', deliveries: 1, lastPickupAt: null, ignored: [], history: [] } });
    await rt.send(Fleet.ref(FLEET_ID), { type: 'DeliveryFinished', droneId: 'drone-1', deliveryId: 'd1', ownerId: 'o', at: '2026-01-01T00:00:00Z' }, Drone.ref('drone-1'));
    assert.equal(rt.get(Fleet.ref(FLEET_ID))?.version, 3);
    assert.deepEqual(fleetOf(rt).assignments, {});
    // Its DroneAvailable (with `finished`, from today's code) is then a plain announcement.
    await rt.request(Drone.ref('drone-1'), { type: 'Status', deliveryId: 'd1', status: 'Returned' });
    assert.deepEqual(fleetOf(rt).assignments, { d2: 'drone-1' }, 'the freed drone went to the waiting delivery');
    assert.equal(rt.stateOf(Drone.ref('drone-1')), 'Reserved');
  });

  it('a v1 Fleet (every drone id kept) migrates to its size, and a re-seed commissions only new drones', async () => {
    const rt = new TestRuntime([Fleet, Drone, Utilization]);
    rt.seed(Fleet.ref(FLEET_ID), { state: 'Active', data: { idle: ['drone-1', 'drone-2'], assignments: {}, requests: {}, waiting: [], drones: ['drone-1', 'drone-2'] }, version: 1 });
    for (const id of ['drone-1', 'drone-2']) rt.seed(Drone.ref(id), { state: 'Idle', data: { deliveryId: null, ownerId: null, viaSaga: false, pickupLocation: null, dropOffLocation: null, deliveries: 4, lastPickupAt: null, ignored: [], history: [] } });
    await rt.send(Fleet.ref(FLEET_ID), { type: 'Seed', droneIds: ['drone-1', 'drone-2', 'drone-3', 'drone-3'] });
    const fleet = fleetOf(rt);
    assert.equal(fleet.fleetSize, 3);
    assert.equal('drones' in fleet, false, 'the ids are no longer kept');
    assert.deepEqual([...fleet.idle].sort(), ['drone-1', 'drone-2', 'drone-3'], 'the new drone was commissioned and announced itself once');
    assert.equal((rt.get(Drone.ref('drone-1'))?.data as { deliveries: number }).deliveries, 4, 'an existing drone is left as it was');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('a restart seeds the Fleet only when it is missing or its size or watchdog changed', async () => {
    assert.equal(seedNeeded(undefined, 3, 2_000), true, 'no Fleet yet');
    const rt = new TestRuntime([Fleet, Drone, Utilization]);
    await rt.create(Fleet.ref(FLEET_ID), { type: 'Seed', droneIds: ['drone-1', 'drone-2', 'drone-3'], watchdogMs: 2_000 });
    const fleet = fleetOf(rt);
    assert.equal(seedNeeded(fleet, 3, 2_000), false, 'the same settings: nothing to do, so the Fleet is not stepped');
    assert.equal(seedNeeded(fleet, 2, 2_000), false, 'a smaller fleet never shrinks it');
    assert.equal(seedNeeded(fleet, 4, 2_000), true, 'one more drone');
    assert.equal(seedNeeded(fleet, 3, 3_000), true, 'another watchdog');
  });

  it('fails a delivery whose package is rejected, with nothing left done', async () => {
    const rt = await suite();
    const r = request({}, 500);
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    const saga = sagaOf(rt, r.deliveryId);
    assert.equal(saga.state, 'Failed');
    assert.match(saga.data.reason ?? '', /package rejected: weighs 500 kg/);
    assert.equal(deliveryOf(rt, r.deliveryId), undefined);
    assert.deepEqual(fleetOf(rt).assignments, {});
    assert.deepEqual(rt.deadLetters, []);
  });

  it('reports how long its oldest waiting delivery has waited, so that admission sees the queue', async () => {
    const rt = await suite(1);
    const fleet = Fleet.ref(FLEET_ID);
    const [first, second, third] = [request(), request(), request()];
    await rt.create(DeliveryRequestMachine.ref(first.deliveryId), { type: 'Submit', request: first });
    assert.equal(rt.backlogOf(fleet), 0, 'nothing waits while a drone is free');
    await rt.create(DeliveryRequestMachine.ref(second.deliveryId), { type: 'Submit', request: second });
    assert.equal(rt.backlogOf(fleet), 0, 'the second has just started to wait');
    await rt.advance(2_000);
    await rt.create(DeliveryRequestMachine.ref(third.deliveryId), { type: 'Submit', request: third });
    assert.equal(rt.backlogOf(fleet), 2_000, 'the oldest waiting delivery, not the newest');
    assert.deepEqual(fleetOf(rt).waiting, [second.deliveryId, third.deliveryId]);
    await rt.advance(1_000);
    await fly(rt, first.deliveryId);
    assert.equal(sagaOf(rt, second.deliveryId).state, 'Scheduled');
    assert.equal(rt.backlogOf(fleet), 1_000, 'the drone went to the second: the third is the oldest now');
    assert.deepEqual(Object.keys(fleetOf(rt).requests), [third.deliveryId], 'an assigned saga booking leaves');
    assert.equal(fleetOf(rt).requests[third.deliveryId]?.since, rt.now.getTime() - 1_000);
    await fly(rt, second.deliveryId);
    assert.equal(rt.backlogOf(fleet), 0, 'nothing waits any more');
    await fly(rt, third.deliveryId);
    assert.equal(sagaOf(rt, third.deliveryId).state, 'Completed');
    assert.deepEqual(fleetOf(rt).requests, {}, 'no booking entry is left behind');
  });

  it('fails at the deadline when no drone frees up, and leaves nothing reserved', async () => {
    const rt = await suite(1);
    const first = request();
    await rt.create(DeliveryRequestMachine.ref(first.deliveryId), { type: 'Submit', request: first });
    const second = request({ deadline: '2026-01-01T00:00:05Z' });
    await rt.create(DeliveryRequestMachine.ref(second.deliveryId), { type: 'Submit', request: second });
    assert.equal(sagaOf(rt, second.deliveryId).state, 'DronePending');
    assert.deepEqual(fleetOf(rt).waiting, [second.deliveryId]);
    await rt.advance(10_000);
    assert.equal(sagaOf(rt, second.deliveryId).state, 'Failed');
    assert.deepEqual(fleetOf(rt).waiting, []);
    assert.equal(rt.stateOf(Package.ref(second.packageInfo.packageId)), 'Registered', 'package unlinked');
    assert.equal(Object.keys(fleetOf(rt).assignments).length, 1, 'only the first delivery holds a drone');
    assert.deepEqual(rt.deadLetters, []);
  });

  for (const at of ['DronePending', 'Scheduled'] as const) {
    it(`cancels before pickup (${at}) and undoes every step`, async () => {
      const rt = await suite(at === 'DronePending' ? 0 : 1);
      const r = request();
      await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
      assert.equal(sagaOf(rt, r.deliveryId).state, at);
      await rt.request(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Cancel' });
      assert.equal(sagaOf(rt, r.deliveryId).state, 'Cancelled');
      assert.equal(rt.stateOf(Package.ref(r.packageInfo.packageId)), 'Registered');
      if (at === 'Scheduled') {
        assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'Cancelled');
        assert.equal(rt.stateOf(Drone.ref('drone-1')), 'Idle');
        assert.deepEqual(fleetOf(rt).idle, ['drone-1']);
      }
      assert.deepEqual(fleetOf(rt).assignments, {});
      assert.deepEqual(rt.deadLetters, []);
    });
  }

  it('refuses a cancel after pickup, records it, and completes', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    await fly(rt, r.deliveryId, 'PickedUp');
    await rt.request(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Cancel' });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Airborne');
    assert.match(sagaOf(rt, r.deliveryId).data.history.at(-1)?.note ?? '', /refused: the package was picked up/);
    await assert.rejects(rt.request(Delivery.ref(r.deliveryId), { type: 'RequestCancel' }), /HeadedToDropoff of Delivery does not accept RequestCancel/);
    const droneId = sagaOf(rt, r.deliveryId).data.droneId as string;
    await rt.request(Drone.ref(droneId), { type: 'Status', deliveryId: r.deliveryId, status: 'Delivered' });
    await rt.request(Delivery.ref(r.deliveryId), { type: 'Confirm', confirmationType: 'None' });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Completed');
  });

  it('refuses a cancel that reached the saga before the news of the pickup, and undoes nothing', async () => {
    const rt = await suite(1);
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Scheduled');
    const drone = Drone.ref('drone-1');
    // The drone picked the package up; its DronePickedUp to the saga is still on the way.
    const flying = rt.get(drone)?.data as DroneData;
    rt.seed(drone, { state: 'EnRouteToDropoff', data: { ...flying, lastPickupAt: '2026-01-01T00:10:00Z' }, version: 2 });
    await rt.request(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Cancel' });
    // The saga asked for the drone first; the drone refused, so nothing else was undone.
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Scheduled');
    assert.match(sagaOf(rt, r.deliveryId).data.history.at(-1)?.note ?? '', /cancel refused: no drone holds the delivery any more/);
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'HeadedToPickup', 'the delivery was not cancelled');
    assert.equal(rt.stateOf(Package.ref(r.packageInfo.packageId)), 'Linked', 'the package was not unlinked');
    // The pickup's news arrives, and the delivery goes on to completion.
    await rt.send(DeliverySaga.ref(r.deliveryId), { type: 'DronePickedUp', droneId: 'drone-1', at: '2026-01-01T00:10:00Z' }, drone);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Airborne');
    await rt.request(drone, { type: 'Status', deliveryId: r.deliveryId, status: 'Delivered' });
    await rt.request(Delivery.ref(r.deliveryId), { type: 'Confirm', confirmationType: 'None' });
    await rt.request(drone, { type: 'Status', deliveryId: r.deliveryId, status: 'Returned' });
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Completed');
    assert.equal(rt.stateOf(Package.ref(r.packageInfo.packageId)), 'Delivered');
    assert.deepEqual(fleetOf(rt).idle, ['drone-1']);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('takes the pickup that comes before the drone refuses the release, and ignores the refusal', async () => {
    const rt = await suite(1);
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    const drone = Drone.ref('drone-1');
    const saga = DeliverySaga.ref(r.deliveryId);
    // A cancel waits for the drone's answer; the drone's DronePickedUp comes first (same sender).
    const waiting = sagaOf(rt, r.deliveryId);
    rt.seed(saga, { state: 'Cancelling', data: { ...waiting.data, releaseFirst: true, awaiting: ['drone'], reason: 'cancelled by customer' }, version: 4 });
    rt.seed(drone, { state: 'EnRouteToDropoff', data: { ...(rt.get(drone)?.data as DroneData), lastPickupAt: '2026-01-01T00:10:00Z' }, version: 2 });
    await rt.send(saga, { type: 'DronePickedUp', droneId: 'drone-1', at: '2026-01-01T00:10:00Z' }, drone);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Airborne');
    assert.match(sagaOf(rt, r.deliveryId).data.history.at(-1)?.note ?? '', /cancel refused: the package was picked up/);
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'HeadedToDropoff');
    await rt.send(saga, { type: 'DroneReleased', droneId: null }, drone);
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Airborne', 'the refusal that follows changes nothing');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('forwards a reschedule that reaches the saga while the delivery is being created', async () => {
    const rt = await suite(1);
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    // A saga of the release before (v4) waits in DeliveryPending for the delivery's DeliveryCreated.
    const saga = DeliverySaga.ref(r.deliveryId);
    rt.seed(saga, { state: 'DeliveryPending', data: { ...sagaOf(rt, r.deliveryId).data, history: [] }, version: 4 });
    rt.seed(Delivery.ref(r.deliveryId), { state: 'Created', data: { ...(deliveryOf(rt, r.deliveryId)?.data as DeliveryData), stages: [], dispatched: false } });
    await rt.send(saga, { type: 'Reschedule', changes: { dropOffLocation: 'Kirkland' } }, DeliveryRequestMachine.ref(r.deliveryId));
    assert.equal(sagaOf(rt, r.deliveryId).data.request?.dropOffLocation, 'Kirkland');
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'Rescheduled');
    assert.equal(deliveryOf(rt, r.deliveryId)?.data.request?.dropOffLocation, 'Kirkland', 'the delivery shows where the drone will fly');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('sends a reschedule asked over the delivery API through the request and the saga, so the drone flies it', async () => {
    const rt = await suite(1);
    const r = request({ pickupTime: '2026-01-01T00:30:00Z', deadline: '2026-01-01T02:00:00Z' });
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    // A saga of the release before (v4): the delivery exists and the saga has not heard so yet.
    const saga = DeliverySaga.ref(r.deliveryId);
    rt.seed(saga, { state: 'DeliveryPending', data: { ...sagaOf(rt, r.deliveryId).data, history: [] }, version: 4 });
    const created = { ...(deliveryOf(rt, r.deliveryId)?.data as DeliveryData), stages: [{ stage: 'Created' as const, at: rt.now.toISOString() }], dispatched: false };
    rt.seed(Delivery.ref(r.deliveryId), { state: 'Created', data: created });
    const delivery = Delivery.ref(r.deliveryId);
    // Times that do not fit the delivery's request are refused at once, naming the field, and go nowhere.
    const invalid = await rt.request(delivery, { type: 'RequestReschedule', changes: { deadline: '2026-01-01T00:20:00Z' } });
    assert.deepEqual(invalid, { refused: 'deadline: not after pickupTime', kind: 'invalid', fields: [{ path: 'deadline', message: 'not after pickupTime' }] });
    assert.equal((rt.get(DeliveryRequestMachine.ref(r.deliveryId))?.data as { reschedules: number }).reschedules, 0);
    assert.deepEqual(await rt.request(delivery, { type: 'RequestReschedule', changes: { dropOffLocation: 'Kirkland' } }), { stage: 'Created', rescheduling: true });
    assert.equal((rt.get(DeliveryRequestMachine.ref(r.deliveryId))?.data as { request: DeliveryRequest }).request.dropOffLocation, 'Kirkland', 'the request holds it');
    assert.equal(sagaOf(rt, r.deliveryId).data.request?.dropOffLocation, 'Kirkland', 'the saga holds it');
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'Rescheduled', 'the saga rescheduled the delivery');
    assert.equal(deliveryOf(rt, r.deliveryId)?.data.request?.dropOffLocation, 'Kirkland');
    // The drone is dispatched with the new drop-off once the saga hears the delivery exists.
    await rt.send(saga, { type: 'DeliveryCreated' }, delivery);
    const dispatch = rt.trace.findLast((t) => t.event.type === 'Dispatch' && (t.event as { deliveryId?: string }).deliveryId === r.deliveryId)?.event as { dropOffLocation: string } | undefined;
    assert.equal(dispatch?.dropOffLocation, 'Kirkland', 'the drone flies the reschedule');
    // Once the drone is on its way, the delivery refuses at once (409 over REST) and forwards nothing.
    assert.equal(deliveryOf(rt, r.deliveryId)?.state, 'HeadedToPickup');
    assert.deepEqual(await rt.request(delivery, { type: 'RequestReschedule', changes: { dropOffLocation: 'Redmond' } }), { refused: 'the drone is already headed to pickup', kind: 'conflict' });
    assert.equal((rt.get(DeliveryRequestMachine.ref(r.deliveryId))?.data as { reschedules: number }).reschedules, 1);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('forwards a cancel to the saga once, however often the client repeats it', async () => {
    const rt = await suite(0); // no drone: the saga waits, and the first cancel cancels it
    const r = request();
    const ref = DeliveryRequestMachine.ref(r.deliveryId);
    await rt.create(ref, { type: 'Submit', request: r });
    for (let i = 0; i < 5; i += 1) assert.deepEqual(await rt.request(ref, { type: 'Cancel' }), { accepted: true });
    assert.equal(rt.trace.filter((t) => t.machine === `DeliverySaga/${r.deliveryId}` && t.event.type === 'Cancel').length, 1, 'one Cancel reached the saga');
    assert.equal((rt.get(ref)?.data as { cancels: number }).cancels, 5, 'each is counted');
    assert.equal(sagaOf(rt, r.deliveryId).state, 'Cancelled');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('records a reschedule forwarded by the delivery that an earlier one made invalid', async () => {
    const rt = await suite(0);
    const r = request({ pickupTime: '2026-01-01T00:01:00Z', deadline: '2026-01-01T00:10:00Z' });
    const ref = DeliveryRequestMachine.ref(r.deliveryId);
    await rt.create(ref, { type: 'Submit', request: r });
    await rt.request(ref, { type: 'Reschedule', changes: { pickupTime: '2026-01-01T05:00:00Z', deadline: '2026-01-01T06:00:00Z' } });
    // Checked by the delivery against its copy, which the first had not reached yet: sent, not asked.
    await rt.send(ref, { type: 'Reschedule', changes: { deadline: '2026-01-01T02:00:00Z' } }, Delivery.ref(r.deliveryId));
    const stored = rt.get(ref)?.data as { request: DeliveryRequest; reschedules: number; refused?: string[] };
    assert.deepEqual([stored.request.deadline, stored.reschedules], ['2026-01-01T06:00:00Z', 1], 'nothing changed');
    assert.match(stored.refused?.[0] ?? '', /^Reschedule at .*: deadline not after pickupTime$/);
    assert.deepEqual(rt.deadLetters, []);
  });

  it("keeps a workflow's booking and a REST booking of the same delivery id apart", async () => {
    const rt = await suite(2);
    // A REST booking may not take over a workflow's booking (it would silence the drone towards the saga).
    const mine = request();
    await rt.create(DeliveryRequestMachine.ref(mine.deliveryId), { type: 'Submit', request: mine });
    assert.equal(sagaOf(rt, mine.deliveryId).state, 'Scheduled');
    const hijack = await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: mine.deliveryId, ownerId: 'someone', viaSaga: false });
    assert.match((hijack as { conflict?: string }).conflict ?? '', /booked by its workflow/);
    assert.equal(Object.hasOwn(fleetOf(rt).requests, mine.deliveryId), false, 'still a workflow booking');

    // A service booked an id over REST before a customer used it for a delivery: the saga gets no
    // drone, fails at its deadline, and its compensation leaves the REST booking alone.
    const taken = request({ deadline: '2026-01-01T00:30:00Z' });
    const booked = await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: taken.deliveryId, ownerId: 'service-owner', viaSaga: false });
    const restDrone = (booked as { droneId: string }).droneId;
    await rt.create(DeliveryRequestMachine.ref(taken.deliveryId), { type: 'Submit', request: taken });
    assert.equal(sagaOf(rt, taken.deliveryId).state, 'DronePending');
    await rt.advance(2 * 3_600_000);
    assert.equal(sagaOf(rt, taken.deliveryId).state, 'Failed', 'terminal, not stranded');
    assert.equal(rt.stateOf(Drone.ref(restDrone)), 'Reserved', "the REST booking's drone was not released by the saga");
    assert.equal(fleetOf(rt).assignments[taken.deliveryId], restDrone);
    assert.deepEqual(rt.deadLetters, []);
  });

  it("tells another owner's delivery nothing of a package's deliveries", async () => {
    const rt = await suite(2);
    const mine = request();
    await rt.create(DeliveryRequestMachine.ref(mine.deliveryId), { type: 'Submit', request: mine });
    assert.equal(rt.stateOf(Package.ref(mine.packageInfo.packageId)), 'Linked');
    const theirs = request({ ownerId: 'owner-2', packageInfo: { ...mine.packageInfo } });
    await rt.create(DeliveryRequestMachine.ref(theirs.deliveryId), { type: 'Submit', request: theirs });
    const saga = sagaOf(rt, theirs.deliveryId);
    assert.equal(saga.state, 'Failed');
    assert.match(saga.data.reason ?? '', /belongs to another owner/);
    assert.doesNotMatch(JSON.stringify(saga.data), new RegExp(mine.deliveryId + '\\b'), 'the other delivery is not named');
  });

  it('reschedules a scheduled delivery before the drone leaves', async () => {
    const rt = await suite(0);
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    await rt.request(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Reschedule', changes: { dropOffLocation: 'C' } });
    assert.equal(sagaOf(rt, r.deliveryId).data.request?.dropOffLocation, 'C');
  });

  it('never gives one drone to two live deliveries, and is idempotent on repeats', async () => {
    const rt = await suite(3);
    const requests = Array.from({ length: 8 }, () => request());
    for (const r of requests) await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    // The client repeats itself: nothing new is created.
    for (const r of requests) assert.deepEqual(await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r }), { created: false });
    const live = () => requests.filter((r) => !['Completed', 'Failed', 'Cancelled'].includes(sagaOf(rt, r.deliveryId).state));
    for (let round = 0; live().length > 0 && round < 10; round += 1) {
      const flying = live().filter((r) => sagaOf(rt, r.deliveryId).state === 'Scheduled');
      const drones = flying.map((r) => sagaOf(rt, r.deliveryId).data.droneId);
      assert.equal(new Set(drones).size, drones.length, `round ${round}: distinct drones ${drones.join(',')}`);
      assert.ok(flying.length <= 3);
      for (const r of flying) await fly(rt, r.deliveryId);
    }
    assert.deepEqual(live(), []);
    assert.equal(Object.values(monthsOf(rt, 'owner-1')).reduce((a, b) => a + b, 0), 8);
    const assigned = await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'extra', ownerId: 'o', viaSaga: false });
    assert.equal(await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'extra', ownerId: 'o', viaSaga: false }).then((a) => (a as { droneId: string }).droneId), (assigned as { droneId: string }).droneId);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('keeps a booking in the Fleet only while it waits (or comes over REST), and a refusal brings it back', async () => {
    const rt = await suite(2);
    const [a, b, c] = [request({ ownerId: 'owner-a' }), request({ ownerId: 'owner-b' }), request({ ownerId: 'owner-c' })];
    for (const r of [a, b, c]) await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    // Two drones: a and b hold them, c waits. Only c's booking is kept.
    assert.deepEqual(Object.keys(fleetOf(rt).requests), [c.deliveryId], 'only the waiting booking is kept');
    assert.deepEqual(fleetOf(rt).waiting, [c.deliveryId]);
    // A REST booking keeps its entry (it is counted against MAX_REST_BOOKINGS) once it has a drone.
    await fly(rt, a.deliveryId);
    assert.equal(sagaOf(rt, c.deliveryId).state, 'Scheduled', 'the waiting delivery got the freed drone');
    assert.deepEqual(fleetOf(rt).requests, {}, 'and its booking went with the assignment');
    await fly(rt, b.deliveryId);
    const rest = await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'rest-1', ownerId: 'owner-r', viaSaga: false });
    assert.equal((rest as { queued: boolean }).queued, false);
    assert.deepEqual(fleetOf(rt).requests, { 'rest-1': { ownerId: 'owner-r', viaSaga: false } });
    assert.deepEqual(rt.deadLetters, []);
  });

  it('over REST the Fleet releases only a REST booking that waits: a workflow\'s is refused, a held drone named', async () => {
    const rt = await suite(1);
    const [held, waits] = [request(), request()];
    for (const r of [held, waits]) await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    assert.equal(sagaOf(rt, waits.deliveryId).state, 'DronePending');
    const before = structuredClone(fleetOf(rt));
    // A workflow's booking that waits: its saga alone may take it out of the queue.
    const refused = await rt.request(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId: waits.deliveryId });
    assert.ok(refused !== undefined && 'refused' in refused, JSON.stringify(refused));
    // A drone assigned since the caller looked: the drone decides, and the Fleet keeps the assignment.
    const droneId = sagaOf(rt, held.deliveryId).data.droneId as string;
    assert.deepEqual(await rt.request(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId: held.deliveryId }), { heldBy: droneId });
    assert.deepEqual(fleetOf(rt), before, 'nothing changed');
    // A REST booking that waits is taken out of the queue.
    assert.deepEqual(await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'rest-w', ownerId: 'o', viaSaga: false }), { droneId: null, queued: true });
    assert.deepEqual(await rt.request(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId: 'rest-w' }), { released: null });
    assert.deepEqual(fleetOf(rt), before, 'the REST booking is gone, the rest is as it was');
    // The workflow still gets the drone when it frees up.
    await fly(rt, held.deliveryId);
    assert.equal(sagaOf(rt, waits.deliveryId).state, 'Scheduled');
    await fly(rt, waits.deliveryId);
    assert.equal(sagaOf(rt, waits.deliveryId).state, 'Completed');
    assert.deepEqual(rt.deadLetters, []);
  });

  it('a drone that was not idle after all refuses, and the refusal brings back whom the booking was for', async () => {
    const rt = await suite(2);
    await rt.request(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'rest-1', ownerId: 'owner-r', viaSaga: false });
    const [busy] = Object.values(fleetOf(rt).assignments);
    assert.ok(busy !== undefined);
    // The Fleet believes the reserved drone idle again, as an overtaken announcement could make it.
    rt.seed(Fleet.ref(FLEET_ID), { state: 'Active', data: { ...fleetOf(rt), idle: [busy, ...fleetOf(rt).idle] } });
    const d = request({ ownerId: 'owner-d' });
    await rt.create(DeliveryRequestMachine.ref(d.deliveryId), { type: 'Submit', request: d });
    const saga = sagaOf(rt, d.deliveryId);
    assert.equal(saga.state, 'Scheduled', 'the saga got a drone after the refusal');
    assert.notEqual(saga.data.droneId, busy);
    const drone = rt.get(Drone.ref(saga.data.droneId as string))?.data as { ownerId: string; viaSaga: boolean };
    assert.deepEqual({ ownerId: drone.ownerId, viaSaga: drone.viaSaga }, { ownerId: 'owner-d', viaSaga: true }, "the saga's owner, and the saga is told");
    assert.equal(Object.hasOwn(fleetOf(rt).requests, d.deliveryId), false);
    assert.deepEqual(rt.deadLetters, []);
  });

  it('a drone keeps the last ten changes of state, whatever it flew', async () => {
    const rt = await suite(1);
    for (let i = 0; i < 4; i += 1) {
      const r = request();
      await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
      await fly(rt, r.deliveryId);
    }
    const history = (rt.get(Drone.ref('drone-1'))?.data as { history: { state: string }[] }).history;
    assert.equal(history.length, 10);
    assert.deepEqual(history.slice(-5).map((h) => h.state), ['Reserved', 'EnRouteToPickup', 'EnRouteToDropoff', 'Returning', 'Idle']);
  });

  it('answers illegal delivery transitions with a refusal naming the stage', async () => {
    const rt = await suite();
    const r = request();
    await rt.create(DeliveryRequestMachine.ref(r.deliveryId), { type: 'Submit', request: r });
    await assert.rejects(rt.request(Delivery.ref(r.deliveryId), { type: 'Confirm', confirmationType: 'None' }), /state HeadedToPickup of Delivery does not accept Confirm/);
    const answer = await rt.request(Drone.ref('drone-1'), { type: 'Status', deliveryId: 'someone-else', status: 'PickedUp' });
    assert.deepEqual(answer, { ok: false, state: 'EnRouteToPickup', reason: 'not flying delivery someone-else' });
  });
});
