import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnyMachineDefinition, RsmEvent } from '#rsm';
import type { DeliveryRequest } from '#contracts';
import { DeliveryRequestMachine } from '../../apps/ingestion/src/requests/delivery-request.machine.js';
import { DeliverySaga, type SagaData } from '../../apps/workflow/src/saga/delivery-saga.machine.js';
import { Package, type PackageData } from '../../apps/package/src/packages/package.machine.js';
import { Fleet, type FleetData } from '../../apps/drone-scheduler/src/fleet/fleet.machine.js';
import { Drone, type DroneData } from '../../apps/drone-scheduler/src/drones/drone.machine.js';
import { Utilization, type UtilizationData } from '../../apps/drone-scheduler/src/fleet/utilization.machine.js';
import { Delivery, type DeliveryData } from '../../apps/delivery/src/deliveries/delivery.machine.js';
import { runTransitionTable, tableProblems } from '../support/transition-table.js';

const request: DeliveryRequest = {
  deliveryId: 'm1',
  ownerId: 'o1',
  pickupLocation: 'A',
  dropOffLocation: 'B',
  pickupTime: '2026-01-01T00:00:00Z',
  deadline: '2026-01-01T01:00:00Z',
  expedited: false,
  confirmationRequired: 'None',
  packageInfo: { packageId: 'p1', size: 'Small', weight: 2, tag: 't' },
};

type Samples = Record<string, (data: unknown, state: string) => RsmEvent>;
const timeout = (name: string) => () => ({ type: 'Timeout', name }) as RsmEvent;
const activity = (name: string, ok: boolean) => () =>
  (ok ? { type: 'ActivityCompleted', activity: name, callId: `${name}#1`, output: null } : { type: 'ActivityFailed', activity: name, callId: `${name}#1`, error: 'e', attempts: 3 }) as unknown as RsmEvent;

async function check(definition: AnyMachineDefinition, dataFor: (state: string) => unknown, samples: Samples) {
  const outcomes = await runTransitionTable(definition, dataFor, samples);
  assert.deepEqual(tableProblems(definition, outcomes, samples), []);
  const declared = outcomes.filter((o) => o.declared).length;
  const refused = outcomes.filter((o) => !o.declared).length;
  assert.equal(declared, definition.transitions().length, 'every declared transition ran');
  return { declared, refused };
}

describe('every transition of every suite machine, and every refused one', () => {
  it('DeliveryRequest', async () => {
    await check(DeliveryRequestMachine, () => ({ request, cancels: 0, reschedules: 0 }), {
      Submit: () => ({ type: 'Submit', request }) as RsmEvent,
      Cancel: () => ({ type: 'Cancel' }),
      Reschedule: () => ({ type: 'Reschedule', changes: { dropOffLocation: 'C' } }) as RsmEvent,
      Check: () => ({ type: 'Check', fingerprint: 'f' }) as RsmEvent,
    });
  });

  it('Utilization', async () => {
    await check(Utilization, (): UtilizationData => ({ months: { '2026-01': 1 } }), {
      Open: () => ({ type: 'Open' }),
      Delivered: () => ({ type: 'Delivered', deliveryId: 'm1', at: '2026-01-02T00:00:00Z' }) as RsmEvent,
    });
  });

  it('DeliverySaga', async () => {
    const dataFor = (state: string): SagaData => ({
      request: structuredClone(request),
      droneId: ['Received', 'PackagePending', 'DronePending'].includes(state) ? null : 'drone-1',
      pickedUpAt: ['Airborne', 'Completed'].includes(state) ? '2026-01-01T00:30:00Z' : null,
      done: { package: state !== 'Received', drone: !['Received', 'PackagePending'].includes(state), delivery: !['Received', 'PackagePending', 'DronePending'].includes(state) },
      awaiting: state === 'Compensating' || state === 'Cancelling' ? ['package', 'drone'] : [],
      reason: null,
      history: [],
    });
    const { declared, refused } = await check(DeliverySaga, dataFor, {
      Start: () => ({ type: 'Start', request }) as RsmEvent,
      Cancel: () => ({ type: 'Cancel', source: 'test' }) as RsmEvent,
      Reschedule: () => ({ type: 'Reschedule', changes: { dropOffLocation: 'C' } }) as RsmEvent,
      PackageLinked: () => ({ type: 'PackageLinked', packageId: 'p1' }) as RsmEvent,
      PackageRejected: () => ({ type: 'PackageRejected', packageId: 'p1', reason: 'heavy' }) as RsmEvent,
      PackageUnlinked: () => ({ type: 'PackageUnlinked', packageId: 'p1' }) as RsmEvent,
      DroneAssigned: () => ({ type: 'DroneAssigned', droneId: 'drone-1' }) as RsmEvent,
      DroneReleased: () => ({ type: 'DroneReleased', droneId: 'drone-1' }) as RsmEvent,
      DroneEnRoute: () => ({ type: 'DroneEnRoute', droneId: 'drone-1' }) as RsmEvent,
      DronePickedUp: () => ({ type: 'DronePickedUp', droneId: 'drone-1' }) as RsmEvent,
      DeliveryCreated: () => ({ type: 'DeliveryCreated' }),
      DeliveryCompleted: () => ({ type: 'DeliveryCompleted' }),
      DeliveryCancelled: () => ({ type: 'DeliveryCancelled' }),
      Timeout: timeout('deadline'),
    });
    assert.ok(declared >= 70 && refused > 50);
  });

  it('Package', async () => {
    await check(Package, (state): PackageData => ({ info: { size: 'Small', weight: 2, tag: 't' }, deliveryId: state === 'Registered' ? null : 'm1', history: [{ at: '', state, deliveryId: null }] }), {
      Register: () => ({ type: 'Register', info: { size: 'Small', weight: 2, tag: 't' } }) as RsmEvent,
      Update: () => ({ type: 'Update', changes: { tag: 'u' } }) as RsmEvent,
      Link: () => ({ type: 'Link', deliveryId: 'm1' }) as RsmEvent,
      Unlink: () => ({ type: 'Unlink', deliveryId: 'm1' }) as RsmEvent,
      PickedUp: () => ({ type: 'PickedUp', deliveryId: 'm1' }) as RsmEvent,
      Delivered: () => ({ type: 'Delivered', deliveryId: 'm1' }) as RsmEvent,
    });
  });

  it('Fleet', async () => {
    await check(Fleet, (): FleetData => ({ idle: ['drone-2'], assignments: { m1: 'drone-1' }, requests: { m1: { ownerId: 'o1', viaSaga: true } }, waiting: ['m9'], utilization: {}, fleetSize: 2 }), {
      Seed: () => ({ type: 'Seed', droneIds: ['drone-1', 'drone-3'] }) as RsmEvent,
      AssignDrone: () => ({ type: 'AssignDrone', deliveryId: 'm2', ownerId: 'o1', viaSaga: true }) as RsmEvent,
      Release: () => ({ type: 'Release', deliveryId: 'm1' }) as RsmEvent,
      DroneAvailable: () => ({ type: 'DroneAvailable', droneId: 'drone-3' }) as RsmEvent,
      BookingReleased: () => ({ type: 'BookingReleased', droneId: 'drone-1', deliveryId: 'm1' }) as RsmEvent,
      ReservationRefused: () => ({ type: 'ReservationRefused', droneId: 'drone-1', deliveryId: 'm1' }) as RsmEvent,
      DeliveryFinished: () => ({ type: 'DeliveryFinished', droneId: 'drone-1', deliveryId: 'm1', ownerId: 'o1', at: '2026-01-01T00:00:00Z' }) as RsmEvent,
    });
  });

  it('Drone', async () => {
    const statusFor: Record<string, string> = { EnRouteToPickup: 'PickedUp', EnRouteToDropoff: 'Delivered', Returning: 'Returned' };
    await check(
      Drone,
      (state): DroneData => ({ deliveryId: state === 'Idle' || state === 'Offline' ? null : 'm1', ownerId: 'o1', viaSaga: true, pickupLocation: 'A', dropOffLocation: 'B', deliveries: 0, lastPickupAt: null, ignored: [], history: [] }),
      {
        Commission: () => ({ type: 'Commission' }),
        Reserve: () => ({ type: 'Reserve', deliveryId: 'm1', ownerId: 'o1', viaSaga: true }) as RsmEvent,
        Release: () => ({ type: 'Release', deliveryId: 'm1', viaSaga: true }) as RsmEvent,
        Dispatch: () => ({ type: 'Dispatch', deliveryId: 'm1', pickupLocation: 'A', dropOffLocation: 'B' }) as RsmEvent,
        // The status that fits the state where one fits; elsewhere any status (refused or answered).
        Status: (_data, state) => ({ type: 'Status', deliveryId: 'm1', status: statusFor[state] ?? 'PickedUp' }) as RsmEvent,
        Fault: () => ({ type: 'Fault' }),
        Repair: () => ({ type: 'Repair' }),
        Timeout: timeout('watchdog'),
        ActivityCompleted: activity('fly', true),
        ActivityFailed: activity('fly', false),
      },
    );
  });

  it('Delivery', async () => {
    await check(
      Delivery,
      (state): DeliveryData => ({ request: structuredClone(request), droneId: 'drone-1', stages: [{ stage: state as DeliveryData['stages'][number]['stage'], at: '' }], confirmation: null, refused: [], webhook: 'http://hook', notified: false }),
      {
        Create: () => ({ type: 'Create', request, droneId: 'drone-1' }) as RsmEvent,
        Reschedule: () => ({ type: 'Reschedule', changes: { dropOffLocation: 'C' } }) as RsmEvent,
        HeadedToPickup: () => ({ type: 'HeadedToPickup' }),
        PickedUp: () => ({ type: 'PickedUp' }),
        Confirm: () => ({ type: 'Confirm', confirmationType: 'None' }) as RsmEvent,
        Cancel: () => ({ type: 'Cancel' }),
        RequestCancel: () => ({ type: 'RequestCancel' }),
        RequestReschedule: () => ({ type: 'RequestReschedule', changes: { dropOffLocation: 'C' } }) as RsmEvent,
        NotifyMe: () => ({ type: 'NotifyMe', url: 'http://hook' }) as RsmEvent,
        ActivityCompleted: activity('notify', true),
        ActivityFailed: activity('notify', false),
      },
    );
  });
});
