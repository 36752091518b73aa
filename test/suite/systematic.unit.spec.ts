import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, type AnyMachineDefinition, type Json, type MachineRef, type RsmEvent } from '#rsm';
import { describeFailure, envActor, envRequest, explore, formatCoverage, pairCount, simulate, type EnvActorSpec, type ExploreReport, type Monitor, type SimulationSetup, type WorldView } from '#rsm/testing';
import { DELIVERY_TRANSITIONS, FLEET_ID, TERMINAL_SAGA_STATES, fingerprint, type DeliveryRequest, type DeliveryStage } from '#contracts';
import { DeliveryRequestMachine } from '../../apps/ingestion/src/requests/delivery-request.machine.js';
import { DeliverySaga, type SagaData } from '../../apps/workflow/src/saga/delivery-saga.machine.js';
import { Package } from '../../apps/package/src/packages/package.machine.js';
import { Fleet, type FleetData } from '../../apps/drone-scheduler/src/fleet/fleet.machine.js';
import { Drone, type DroneData } from '../../apps/drone-scheduler/src/drones/drone.machine.js';
import { Utilization } from '../../apps/drone-scheduler/src/fleet/utilization.machine.js';
import { Delivery, type DeliveryData } from '../../apps/delivery/src/deliveries/delivery.machine.js';

const terminal = new Set<string>(TERMINAL_SAGA_STATES);

function request(id: string, packageId: string): DeliveryRequest {
  return {
    deliveryId: id, ownerId: 'o', pickupLocation: 'A', dropOffLocation: 'B', pickupTime: '2026-01-01T00:00:00Z',
    deadline: '2026-01-01T01:00:00Z', expedited: false, confirmationRequired: 'None', packageInfo: { packageId, size: 'Small', weight: 2, tag: 't' },
  };
}

/** The invariants of tailspin.md as monitors over the simulated machines. */
const monitors: Monitor[] = [
  {
    name: 'one drone per live delivery, one live delivery per drone',
    safety: (w) => {
      const holders = new Map<string, string>();
      for (const d of w.ofType('Drone')) {
        const data = d.data as DroneData;
        if (data.deliveryId === null) continue;
        const other = holders.get(data.deliveryId);
        if (other !== undefined) return `delivery ${data.deliveryId} holds ${other} and ${d.id}`;
        holders.set(data.deliveryId, d.id);
      }
      const fleet = w.get('Fleet', FLEET_ID)?.data as FleetData | undefined;
      const assigned = Object.values(fleet?.assignments ?? {});
      if (new Set(assigned).size !== assigned.length) return `fleet gives a drone twice: ${JSON.stringify(fleet?.assignments)}`;
      for (const saga of w.ofType('DeliverySaga')) {
        const data = saga.data as SagaData;
        if (!['DeliveryPending', 'Scheduled', 'Airborne'].includes(saga.state) || data.droneId === null) continue;
        // In flight, the drone may already be home once the delivery is confirmed and the saga lags.
        if (saga.state === 'Airborne' && w.get('Delivery', saga.id)?.state === 'Completed') continue;
        const drone = w.get('Drone', data.droneId)?.data as DroneData | undefined;
        if (drone?.deliveryId !== saga.id) return `saga ${saga.id} (${saga.state}) counts on ${data.droneId}, which serves ${drone?.deliveryId ?? 'nobody'}`;
      }
      return undefined;
    },
  },
  {
    name: 'a package is linked to at most one live delivery',
    safety: (w) => {
      const live = new Map<string, string[]>();
      for (const saga of w.ofType('DeliverySaga')) {
        if (!['DronePending', 'DeliveryPending', 'Scheduled', 'Airborne'].includes(saga.state)) continue;
        const pkg = (saga.data as SagaData).request?.packageInfo.packageId ?? '';
        live.set(pkg, [...(live.get(pkg) ?? []), saga.id]);
      }
      for (const [pkg, sagas] of live) if (sagas.length > 1) return `package ${pkg} in live deliveries ${sagas.join(', ')}`;
      return undefined;
    },
  },
  {
    name: 'every delivery history is a path of the Delivery machine',
    safety: (w) => {
      for (const d of w.ofType('Delivery')) {
        const stages = (d.data as DeliveryData).stages.map((s) => s.stage);
        for (let i = 1; i < stages.length; i += 1) {
          if (!DELIVERY_TRANSITIONS[stages[i - 1] as DeliveryStage].includes(stages[i] as DeliveryStage)) return `delivery ${d.id}: ${stages.join(' -> ')}`;
        }
      }
      return undefined;
    },
  },
  {
    // The route that once rescheduled the Delivery alone showed the customer a drop-off the drone never flew to.
    name: 'a delivery under way shows where its drone flies',
    safety: (w) => {
      for (const d of w.ofType('Delivery')) {
        if (!['HeadedToPickup', 'HeadedToDropoff', 'Completed'].includes(d.state)) continue;
        const flown = (w.get('DeliverySaga', d.id)?.data as SagaData | undefined)?.request;
        const shown = (d.data as DeliveryData).request;
        if (flown?.pickupLocation !== shown?.pickupLocation || flown?.dropOffLocation !== shown?.dropOffLocation) {
          return `delivery ${d.id} (${d.state}) shows ${shown?.pickupLocation} -> ${shown?.dropOffLocation}, its saga flies ${flown?.pickupLocation} -> ${flown?.dropOffLocation}`;
        }
      }
      return undefined;
    },
  },
  { name: 'nothing silent: no dead letters', safety: (w) => (w.deadLetters[0] ? `${w.deadLetters[0].machine}: ${w.deadLetters[0].reason}` : undefined) },
  {
    name: 'every saga ends, agreeing with its delivery, with no drone left held',
    liveness: (w) => {
      for (const saga of w.ofType('DeliverySaga')) {
        if (!terminal.has(saga.state)) return `saga ${saga.id} is stuck in ${saga.state} (awaiting ${JSON.stringify((saga.data as SagaData).awaiting)})`;
        const delivery = w.get('Delivery', saga.id);
        if (saga.state === 'Completed' && delivery?.state !== 'Completed') return `saga ${saga.id} Completed, delivery ${delivery?.state ?? 'missing'}`;
        if (saga.state !== 'Completed' && delivery !== undefined && delivery.state !== 'Cancelled') return `saga ${saga.id} ${saga.state}, delivery ${delivery.state}`;
      }
      for (const d of w.ofType('Drone')) {
        const held = (d.data as DroneData).deliveryId;
        if (held !== null && held.startsWith('d')) return `drone ${d.id} still holds ${held} (${d.state})`;
      }
      return undefined;
    },
  },
];

const DRONES = ['drone-1', 'drone-2'];

/**
 * A client of one delivery: submits it, then at any moment may cancel it (over either API), submit
 * it again, reschedule it (over either API), change its package, ask to be told of its completion, or walk away. Or it
 * waits for the drone to be dispatched and only then acts: a client acting late in the workflow.
 */
function client(id: string, packageId: string) {
  const req = DeliveryRequestMachine.ref(id);
  const body = request(id, packageId);
  const cancel = envRequest(req, { type: 'Cancel' });
  const sagaIn = (states: string[]) => (w: WorldView) => states.includes(w.get('DeliverySaga', id)?.state ?? '');
  const deliveryExists = (w: WorldView) => w.get('Delivery', id) !== undefined;
  return envActor({
    name: `client-${id}`,
    kind: 'client',
    initial: 'New',
    maxActions: 4,
    states: {
      New: [{ name: 'submit', request: envRequest(req, { type: 'Submit', request: body }, { create: true }), next: 'Submitted' }],
      Submitted: [
        { name: 'cancel', request: cancel, next: 'Cancelled' },
        { name: 'cancel over the delivery API', when: deliveryExists, request: envRequest(Delivery.ref(id), { type: 'RequestCancel' }), next: 'Cancelled' },
        // A repeated POST: the controller's create finds the request, then checks it is the same one.
        { name: 'submit again', request: envRequest(req, { type: 'Check', fingerprint: fingerprint(body) }) },
        { name: 'reschedule', request: envRequest(req, { type: 'Reschedule', changes: { dropOffLocation: 'C' } }) },
        // PATCH /api/deliveries/:id: checked by the Delivery until the drone is dispatched, then forwarded through the request and the saga.
        { name: 'reschedule over the delivery API', when: deliveryExists, request: envRequest(Delivery.ref(id), { type: 'RequestReschedule', changes: { dropOffLocation: 'E' } }) },
        { name: 'update the package', when: (w) => w.get('Package', packageId) !== undefined, request: envRequest(Package.ref(packageId), { type: 'Update', changes: { tag: `by ${id}` } }) },
        { name: 'ask to be notified', when: deliveryExists, request: envRequest(Delivery.ref(id), { type: 'NotifyMe', url: `https://client.example/${id}` }) },
        { name: 'wait for the drone', next: 'Waiting' },
        { name: 'leave', next: 'Gone' },
      ],
      // Nothing is enabled until the drone is on its way: then the client cancels or reschedules late.
      Waiting: [
        { name: 'cancel once dispatched', when: sagaIn(['Scheduled', 'Airborne']), request: cancel, next: 'Cancelled' },
        { name: 'cancel over the delivery API once dispatched', when: sagaIn(['Scheduled', 'Airborne']), request: envRequest(Delivery.ref(id), { type: 'RequestCancel' }), next: 'Cancelled' },
        { name: 'reschedule once dispatched', when: sagaIn(['Scheduled', 'Airborne']), request: envRequest(req, { type: 'Reschedule', changes: { dropOffLocation: 'D' } }) },
        { name: 'ask to be notified once dispatched', when: sagaIn(['Scheduled', 'Airborne']), request: envRequest(Delivery.ref(id), { type: 'NotifyMe', url: `https://client.example/${id}` }) },
        { name: 'leave once done', when: sagaIn(['Completed', 'Failed', 'Cancelled']), next: 'Gone' },
      ],
      Cancelled: [{ name: 'cancel again', request: cancel }, { name: 'leave', next: 'Gone' }],
      Gone: [],
    },
  });
}

/** An operator who may fault or repair any drone at any time (a fault is refused unless the drone is idle). */
const operator = envActor({
  name: 'operator',
  kind: 'operator',
  initial: 'OnDuty',
  maxActions: 4,
  states: {
    OnDuty: DRONES.flatMap((id) => [
      { name: `fault ${id}`, when: (w: WorldView) => w.get('Drone', id) !== undefined, request: envRequest(Drone.ref(id), { type: 'Fault' }) },
      { name: `repair ${id}`, when: (w: WorldView) => w.get('Drone', id) !== undefined, request: envRequest(Drone.ref(id), { type: 'Repair' }) },
    ]),
  },
});

/** A drone's radio: it may repeat its last report, or deliver a report of its previous flight late. */
function device(droneId: string) {
  const drone = Drone.ref(droneId);
  const repeated: Record<string, 'PickedUp' | 'Delivered'> = { EnRouteToDropoff: 'PickedUp', Returning: 'Delivered' };
  return envActor({
    name: `device-${droneId}`,
    kind: 'device',
    initial: 'On',
    maxActions: 2,
    states: {
      On: [
        {
          name: 'repeat its last report',
          request: (w) => {
            const machine = w.get('Drone', droneId);
            const status = repeated[machine?.state ?? ''];
            const deliveryId = (machine?.data as DroneData | undefined)?.deliveryId;
            return status === undefined || deliveryId == null ? undefined : envRequest(drone, { type: 'Status', deliveryId, status });
          },
        },
        {
          name: 'report an earlier flight late',
          request: (w) => {
            const data = w.get('Drone', droneId)?.data as DroneData | undefined;
            const earlier = data?.history.findLast((h) => h.deliveryId !== null && h.deliveryId !== data.deliveryId)?.deliveryId;
            return earlier == null ? undefined : envRequest(drone, { type: 'Status', deliveryId: earlier, status: 'Returned' });
          },
        },
      ],
    },
  });
}

/** A service booking a drone over REST: it may repeat the booking, release it at the Fleet or at the drone, or keep it. */
const booker = envActor({
  name: 'booker',
  kind: 'booker',
  initial: 'Idle',
  maxActions: 3,
  states: {
    Idle: [{ name: 'book', request: envRequest(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'rest-1', ownerId: 'o', viaSaga: false }), next: 'Booked' }],
    Booked: [
      { name: 'book again', request: envRequest(Fleet.ref(FLEET_ID), { type: 'AssignDrone', deliveryId: 'rest-1', ownerId: 'o', viaSaga: false }) },
      // As the REST controller does: at the Fleet while it shows no drone for the booking (one
      // assigned meanwhile is named in the answer, and the booking kept), else at that drone.
      {
        name: 'release at the Fleet',
        request: (w) => {
          const held = (w.get('Fleet', FLEET_ID)?.data as FleetData | undefined)?.assignments['rest-1'];
          return held === undefined
            ? envRequest(Fleet.ref(FLEET_ID), { type: 'Release', deliveryId: 'rest-1' })
            : envRequest(Drone.ref(held), { type: 'Release', deliveryId: 'rest-1', viaSaga: false });
        },
        next: 'Done',
      },
      {
        name: 'release at the drone',
        request: (w) => {
          const held = w.ofType('Drone').find((d) => (d.data as DroneData).deliveryId === 'rest-1');
          return held === undefined ? undefined : envRequest(Drone.ref(held.id), { type: 'Release', deliveryId: 'rest-1', viaSaga: false });
        },
        next: 'Done',
      },
    ],
    Done: [],
  },
});

/**
 * Three deliveries on two drones (two share a package). The outside world is adversarial and acts at
 * any point: a client per delivery, a service booking a drone over REST, an operator faulting and
 * repairing drones, each drone's radio repeating or delaying reports, and a pilot (the simulator)
 * who flies each dispatched drone, retrying refused reports.
 */
function setup(machines: { fleet?: AnyMachineDefinition; drone?: AnyMachineDefinition; saga?: AnyMachineDefinition; delivery?: AnyMachineDefinition; pkg?: AnyMachineDefinition } = {}): SimulationSetup {
  const ref = (type: string, id: string): MachineRef => ({ type, id });
  // Actors are plain declarations: built once, started afresh in every run.
  const actors: EnvActorSpec[] = [client('d1', 'p1'), client('d2', 'p2'), client('d3', 'p1'), booker, operator, ...DRONES.map(device)];
  return {
    machines: [DeliveryRequestMachine, machines.saga ?? DeliverySaga, machines.pkg ?? Package, machines.fleet ?? Fleet, machines.drone ?? Drone, Utilization, machines.delivery ?? Delivery],
    monitors,
    activities: {
      // The drone simulator: flies from where the drone is, reports each leg (retrying refusals), and
      // gives up a confirmation the delivery can no longer take, as the real one stops after 409s.
      fly: (input, { env }) => {
        const { droneId, deliveryId, from } = input as { droneId: string; deliveryId: string; from: string };
        const drone = ref('Drone', droneId);
        const status = (status: string) => ({ to: drone, event: { type: 'Status', deliveryId, status } as RsmEvent });
        const confirm = {
          to: ref('Delivery', deliveryId),
          event: { type: 'Confirm', confirmationType: 'None' } as RsmEvent,
          skipIf: (machines: ReadonlyMap<string, { state: string }>) => ['Cancelled', 'Completed'].includes(machines.get(`Delivery/${deliveryId}`)?.state ?? ''),
        };
        // Resumed on the way back, it confirms the drop-off again first (the lost part may be that).
        const legs = { EnRouteToPickup: [status('PickedUp'), status('Delivered'), confirm, status('Returned')], EnRouteToDropoff: [status('Delivered'), confirm, status('Returned')], Returning: [confirm, status('Returned')] };
        env.script(`pilot:${droneId}:${deliveryId}`, legs[from as keyof typeof legs] ?? legs.EnRouteToPickup);
        return { ok: true };
      },
      notify: () => ({ status: 200 }),
    },
    init: (env) => {
      env.create(ref('Fleet', FLEET_ID), { type: 'Seed', droneIds: DRONES } as RsmEvent);
      for (const actor of actors) env.actor(actor);
    },
  };
}

/**
 * A definition with some handlers replaced: a known-bad variant of a correct machine. A bad handler
 * that goes where the declaration forbids is stopped by the runtime (the step fails), so `targets`
 * declares the bad transitions too: the exploration must find what such a bug breaks downstream.
 */
function variant(
  definition: AnyMachineDefinition,
  patch: Record<string, Record<string, (...args: never[]) => unknown>>,
  targets: Record<string, Record<string, string>> = {},
): AnyMachineDefinition {
  const states = Object.fromEntries(
    Object.entries(definition.spec.states as Record<string, { on?: object; targets?: object }>).map(([state, spec]) => [
      state,
      { ...spec, on: { ...spec.on, ...patch[state] }, targets: { ...spec.targets, ...targets[state] } },
    ]),
  );
  return defineMachine<unknown, RsmEvent>()({ ...(definition.spec as object), states } as never) as AnyMachineDefinition;
}

const CI = { runs: 3_000, seed: 1, maxSteps: 3_000 } as const;

/**
 * (machine, state, event) pairs the exploration with fixed scripts (clients cancelling once, at
 * fixed points) never reached in 5,000 runs; the environment actors must reach each of them.
 */
const NEVER_REACHED_BY_SCRIPTS: [string, string, string][] = [
  ['DeliveryRequest', 'Forwarded', 'Check'], // a client submitting the same delivery again
  ['DeliverySaga', 'Scheduled', 'Reschedule'], // a reschedule after dispatch, refused
  ['DeliverySaga', 'Airborne', 'Reschedule'], // a reschedule after pickup, refused
  ['DeliverySaga', 'Cancelled', 'Cancel'], // a cancel repeated after the undo finished
  ['Delivery', 'HeadedToPickup', 'RequestReschedule'], // a reschedule over the delivery API once the drone has left
  ['Delivery', 'HeadedToPickup', 'RequestCancel'], // a late cancel over the delivery API
  // (No delivery is Rescheduled here: the saga creates it in the step that dispatches the drone, and
  // the HeadedToPickup follows its Create, so a reschedule reaches the saga before the delivery
  // exists or is refused once the drone is dispatched. Only a saga of the release before, which
  // waited for the delivery's answer, forwarded one in between: suite-machines.unit.spec.ts runs
  // that, and transitions.unit.spec.ts covers every transition of Rescheduled.)
  ['Delivery', 'Completed', 'NotifyMe'],
  ['Drone', 'Idle', 'Dispatch'], // a dispatch overtaken by a release
  ['Fleet', 'Active', 'BookingReleased'], // a REST booking released at the drone
  ['Package', 'Registered', 'Update'],
];

let correctRun: Promise<ExploreReport> | undefined;
/**
 * The exploration of the correct machines, shared by the tests that judge its verdict and its
 * coverage. 10,000 runs: the rarest required pair of the saga before v5 (a dispatch reaching a
 * delivery rescheduled in the short window after its creation) came up in 5,000 runs only by the
 * luck of the seed, and a change of the Fleet's REST release (which reorders the runs' messages)
 * lost it; the rare pairs left are as sensitive to the seed.
 */
const exploreCorrect = () => (correctRun ??= explore(setup(), { ...CI, runs: 10_000, stopAtFirstFailure: true }));

describe('systematic exploration of the TailSpin machines', { concurrency: false }, () => {
  it('keeps every invariant over thousands of runs with crashes, duplicates and adversarial order', async () => {
    const report = await exploreCorrect();
    assert.equal(report.failures.length, 0, report.failures[0] && describeFailure(report.failures[0]));
    console.log(formatCoverage(report.coverage));
    console.log(`# correct machines: ${report.runs} runs in ${report.seconds.toFixed(1)} s (${report.runsPerSecond.toFixed(0)} runs/s), no violation`);
  });

  it('reaches what fixed scripts never did: late cancels and reschedules, duplicates, REST releases', async () => {
    const { coverage } = await exploreCorrect();
    const missed = NEVER_REACHED_BY_SCRIPTS.filter(([type, state, event]) => pairCount(coverage, type, state, event) === 0);
    assert.deepEqual(missed, [], formatCoverage(coverage, { detail: true }));
    // A cancel after pickup: once in 5,000 runs with the scripts; clients who wait for the drone act late.
    assert.ok(pairCount(coverage, 'DeliverySaga', 'Airborne', 'Cancel') >= 5, 'clients cancel after pickup');
    for (const actor of coverage.actors) assert.deepEqual(actor.unreached, [], `every move of ${actor.type} is made`);
    const reached = coverage.machines.reduce((n, m) => n + m.reachedPairs, 0);
    const declared = coverage.machines.reduce((n, m) => n + m.declaredPairs, 0);
    // The scripts reached 81 of the 166 pairs declared then; the exploration at least 110 until the
    // saga created the delivery in the step that dispatches the drone (v5), and 100 of 173 since: the
    // pairs it lost are reached only by sagas of the release before (the saga's DeliveryPending, the
    // delivery's Rescheduled, and its Created with a reschedule or a cancel), which it does not run;
    // suite-machines.unit.spec.ts runs such a saga, and transitions.unit.spec.ts every transition.
    assert.ok(reached >= 98, `${reached}/${declared} pairs reached`);
  });

  it('replays a run exactly from its seed', async () => {
    const a = await simulate(setup(), 4242, { runs: 1 });
    const b = await simulate(setup(), 4242, { runs: 1 });
    assert.deepEqual(b.trace, a.trace);
    assert.ok(a.trace.length > 20);
    assert.ok(a.trace.some((t) => t.outcome === 'env' && t.machine === 'client-d1'), 'the clients\' moves are in the trace');
  });

  const badVariants: [string, () => SimulationSetup, RegExp][] = [
    [
      'a drone reservation that is not idempotent',
      () => setup({
        fleet: variant(Fleet, {
          Active: {
            AssignDrone: ((data: FleetData, event: { deliveryId: string; ownerId: string; viaSaga: boolean }, ctx: { send: (to: MachineRef, e: RsmEvent) => void; reply: (v: Json) => void }) => {
              // Bug: a repeated request takes another drone instead of returning the one it has.
              data.requests[event.deliveryId] = { ownerId: event.ownerId, viaSaga: event.viaSaga };
              const free = data.idle.shift();
              if (free === undefined) {
                data.waiting.push(event.deliveryId);
                return ctx.reply({ droneId: null, queued: true });
              }
              data.assignments[`${event.deliveryId}#${free}`] = free;
              ctx.send({ type: 'Drone', id: free }, { type: 'Reserve', deliveryId: event.deliveryId, ownerId: event.ownerId, viaSaga: event.viaSaga } as RsmEvent);
              return ctx.reply({ droneId: free, queued: false });
            }),
          },
        }),
      }),
      /one drone per live delivery|no drone left held/,
    ],
    [
      'a saga that forgets to release the drone on cancel',
      () => setup({
        saga: variant(DeliverySaga, Object.fromEntries(['DronePending', 'DeliveryPending', 'Scheduled'].map((state) => [state, {
          Cancel: ((data: SagaData, _event: unknown, ctx: { goto: (s: string) => void; send: (to: MachineRef, e: RsmEvent) => void; self: MachineRef; cancelTimer: (n: string) => void }) => {
            // Bug: undoes the package and the delivery, forgets the drone.
            ctx.cancelTimer('deadline');
            if (data.done.delivery) ctx.send({ type: 'Delivery', id: ctx.self.id }, { type: 'Cancel' });
            ctx.send({ type: 'Package', id: data.request?.packageInfo.packageId ?? '' }, { type: 'Unlink', deliveryId: ctx.self.id } as RsmEvent);
            data.awaiting = data.done.delivery ? ['package', 'delivery'] : ['package'];
            ctx.goto('Cancelling');
          }) as never,
        }]))),
      }),
      /no drone left held|one drone per live delivery/,
    ],
    [
      'a Delivery that accepts a confirmation after cancel',
      () => setup({
        delivery: variant(Delivery, {
          Cancelled: {
            Confirm: ((data: DeliveryData, _event: unknown, ctx: { goto: (s: string) => void; now: Date }) => {
              data.stages.push({ stage: 'Completed', at: ctx.now.toISOString() });
              ctx.goto('Completed');
            }),
          },
        }, { Cancelled: { Confirm: 'Completed' } }),
      }),
      /path of the Delivery machine|agreeing with its delivery/,
    ],
    [
      // Only a client acting late reaches this: the fixed scripts cancelled after pickup once in 5,000 runs.
      'a saga that undoes a delivery already picked up',
      () => setup({
        saga: variant(DeliverySaga, {
          Airborne: {
            Cancel: ((data: SagaData, _event: unknown, ctx: { goto: (s: string) => void; send: (to: MachineRef, e: RsmEvent) => void; self: MachineRef }) => {
              // Bug: compensates as before pickup, though the package is in the air.
              ctx.send({ type: 'Delivery', id: ctx.self.id }, { type: 'Cancel' });
              ctx.send({ type: 'Fleet', id: FLEET_ID }, { type: 'Release', deliveryId: ctx.self.id } as RsmEvent);
              ctx.send({ type: 'Package', id: data.request?.packageInfo.packageId ?? '' }, { type: 'Unlink', deliveryId: ctx.self.id } as RsmEvent);
              data.awaiting = ['delivery', 'drone', 'package'];
              ctx.goto('Cancelling');
            }),
          },
        }, { Airborne: { Cancel: 'Cancelling' } }),
      }),
      /no dead letters|agreeing with its delivery|one drone per live delivery/,
    ],
    [
      'a handler that sends before checking state',
      () => setup({
        pkg: variant(Package, {
          Linked: {
            Link: ((data: { deliveryId: string | null }, event: { deliveryId: string }, ctx: { send: (to: MachineRef, e: RsmEvent) => void; self: MachineRef }) => {
              // Bug: confirms the link first, then notices the package serves another delivery.
              ctx.send({ type: 'DeliverySaga', id: event.deliveryId }, { type: 'PackageLinked', packageId: ctx.self.id } as RsmEvent);
              if (event.deliveryId !== data.deliveryId) data.deliveryId = event.deliveryId;
            }),
          },
        }),
      }),
      /package is linked to at most one live delivery/,
    ],
  ];

  for (const [name, build, expected] of badVariants) {
    it(`finds ${name}`, async () => {
      const report = await explore(build(), { ...CI });
      const failure = report.failures[0];
      assert.ok(failure !== undefined, `no violation in ${report.runs} runs`);
      assert.match(failure.failure ?? '', expected, describeFailure(failure));
      console.log(`# ${name}: found after ${report.runsToFirstFailure} runs (seed ${failure.seed}): ${failure.failure?.split('\n')[0]}`);
      // The seed replays the same failure.
      const again = await simulate(build(), failure.seed, { ...CI });
      assert.equal(again.failure, failure.failure);
    });
  }
});

