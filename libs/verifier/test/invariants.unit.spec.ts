import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkInvariants, isQuiet, type SuiteSnapshot } from '#verifier';

/** A quiet, healthy suite with one completed and one cancelled delivery. */
function healthy(): SuiteSnapshot {
  return {
    requests: [{ deliveryId: 'd1', state: 'Forwarded' }, { deliveryId: 'd2', state: 'Forwarded' }],
    sagas: [
      { deliveryId: 'd1', state: 'Completed', droneId: 'drone-1', packageId: 'p1', awaiting: [], reason: null, history: [{ state: 'PackagePending', event: 'Start' }] },
      { deliveryId: 'd2', state: 'Cancelled', droneId: null, packageId: 'p2', awaiting: [], reason: 'cancelled', history: [{ state: 'PackagePending', event: 'Start' }] },
    ],
    deliveries: [{ id: 'd1', stage: 'Completed', droneId: 'drone-1', packageId: 'p1', stages: ['Created', 'HeadedToPickup', 'HeadedToDropoff', 'Completed'].map((stage) => ({ stage, at: '' })) }],
    packages: [{ id: 'p1', state: 'Delivered', deliveryId: 'd1' }, { id: 'p2', state: 'Registered', deliveryId: null }],
    drones: [{ id: 'drone-1', state: 'Idle', deliveryId: null, history: [{ state: 'Reserved', deliveryId: 'd1' }, { state: 'EnRouteToPickup', deliveryId: 'd1' }, { state: 'Idle', deliveryId: null }] }],
    fleet: { assignments: {}, waiting: [], idle: ['drone-1'] },
    deadLetters: { ingestion: [], workflow: [] },
  };
}

const failing = (s: SuiteSnapshot) => checkInvariants(s).filter((r) => !r.ok).map((r) => r.id);

describe('invariant verifier', () => {
  it('passes a healthy suite', () => {
    assert.deepEqual(failing(healthy()), []);
  });

  it('is not quiet while a completed delivery\'s package has not yet heard so', () => {
    assert.ok(isQuiet(healthy()));
    const late = healthy();
    (late.packages[0] as { state: string }).state = 'PickedUp';
    assert.ok(!isQuiet(late), 'the saga completed but its package is still PickedUp');
    const live = healthy();
    (live.sagas[1] as { state: string }).state = 'DronePending';
    assert.ok(!isQuiet(live));
    const unheard = healthy();
    unheard.fleet.idle = [];
    assert.ok(!isQuiet(unheard), 'the drone is Idle but the Fleet has not yet heard so');
    const older = healthy();
    delete older.fleet.idle;
    assert.ok(isQuiet(older), 'a drone-scheduler that does not show its idle list is judged without it');
  });

  it('catches each kind of violation with the invariant it breaks', () => {
    const cases: [string, (s: SuiteSnapshot) => void, number][] = [
      ['a live saga', (s) => void ((s.sagas[1] as { state: string }).state = 'DronePending'), 1],
      ['a saga without a 202', (s) => void s.sagas.push({ deliveryId: 'ghost', state: 'Failed', droneId: null, packageId: null, awaiting: [], reason: null, history: [{ state: 'x', event: 'Start' }] }), 1],
      ['disagreeing terminal stages', (s) => void ((s.deliveries[0] as { stage: string }).stage = 'Cancelled'), 2],
      ['an impossible stage path', (s) => void (s.deliveries[0] as { stages: { stage: string }[] }).stages.splice(1, 1), 3],
      ['a drone given twice', (s) => void (s.drones[0] as { history: unknown[] }).history.push({ state: 'Reserved', deliveryId: 'd7' }, { state: 'Reserved', deliveryId: 'd8' }), 4],
      ['a drone held by a finished delivery', (s) => void Object.assign(s.drones[0] as object, { state: 'Reserved', deliveryId: 'd1' }), 4],
      ['a package linked to a finished delivery', (s) => void Object.assign(s.packages[1] as object, { state: 'Linked', deliveryId: 'd2' }), 5],
      ['two completions', (s) => void (s.deliveries[0] as { stages: { stage: string; at: string }[] }).stages.push({ stage: 'Completed', at: '' }), 6],
      ['a saga started twice, though its history dropped entries', (s) => void Object.assign(s.sagas[0] as object, { historyDropped: 3, history: [{ state: 'PackagePending', event: 'Start' }, { state: 'PackagePending', event: 'Start' }] }), 6],
      ['a saga never started', (s) => void Object.assign(s.sagas[0] as object, { history: [] }), 6],
      ['one package delivered by two deliveries', (s) => void s.sagas.push({ ...(s.sagas[0] as SuiteSnapshot['sagas'][number]), deliveryId: 'd9' }), 5],
      ['an unexpected dead letter', (s) => void (s.deadLetters.workflow as unknown[]).push({ id: '1', machineType: 'DeliverySaga', machineId: 'd1', reason: 'boom', event: { type: 'X' } }), 7],
    ];
    for (const [name, breakIt, invariant] of cases) {
      const snapshot = healthy();
      breakIt(snapshot);
      assert.ok(failing(snapshot).includes(invariant), `${name} fails invariant ${invariant} (failed: ${failing(snapshot).join(', ') || 'none'})`);
    }
  });

  it('finds one drone serving two completed deliveries at once, though the drone kept no history of it', () => {
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
    const flight = (id: string, created: number, completed: number): SuiteSnapshot['deliveries'][number] => ({
      id,
      stage: 'Completed',
      droneId: 'drone-1',
      packageId: `p-${id}`,
      stages: [['Created', created], ['HeadedToPickup', created], ['HeadedToDropoff', created], ['Completed', completed]].map(([stage, minute]) => ({ stage: stage as string, at: at(minute as number) })),
    });
    const withFlights = (...list: SuiteSnapshot['deliveries']) => {
      const snapshot = { ...healthy(), deliveries: list };
      for (const d of list) {
        if (d.id === 'd1') continue;
        snapshot.requests.push({ deliveryId: d.id, state: 'Forwarded' });
        snapshot.sagas.push({ ...(snapshot.sagas[0] as SuiteSnapshot['sagas'][number]), deliveryId: d.id, packageId: d.packageId });
        snapshot.packages.push({ id: d.packageId as string, state: 'Delivered', deliveryId: d.id });
      }
      return snapshot;
    };
    // One after the other (the second created the minute the first completed): fine.
    assert.deepEqual(failing(withFlights(flight('d1', 0, 10), flight('d3', 10, 20), flight('d4', 30, 40))), []);
    // The second created while the first flew, or inside a long first flight after a short one.
    const overlapping = checkInvariants(withFlights(flight('d1', 0, 10), flight('d3', 5, 20))).find((r) => r.id === 4);
    assert.equal(overlapping?.ok, false);
    assert.match(overlapping?.problems[0] ?? '', /drone drone-1 served d3 \(created 2026-01-01T00:05:00.000Z\) before d1 completed/);
    assert.deepEqual(failing(withFlights(flight('d1', 0, 60), flight('d3', 5, 10), flight('d4', 20, 30))), [4]);
  });

  it("accepts a saga whose bounded history dropped its Start (a client's refused cancels after the end)", () => {
    const snapshot = healthy();
    const refused = Array.from({ length: 50 }, () => ({ state: 'Completed', event: 'Cancel', note: 'refused: completed' }));
    Object.assign(snapshot.sagas[0] as object, { history: refused, historyDropped: 4 });
    assert.deepEqual(failing(snapshot), []);
  });

  it('allows, without requiring, a saga for a request whose answer the client never got', () => {
    const snapshot = healthy();
    snapshot.sagas.push({ ...(snapshot.sagas[0] as SuiteSnapshot['sagas'][number]), deliveryId: 'lost-202', packageId: 'p3' });
    snapshot.packages.push({ id: 'p3', state: 'Delivered', deliveryId: 'lost-202' });
    snapshot.deliveries.push({ ...(snapshot.deliveries[0] as SuiteSnapshot['deliveries'][number]), id: 'lost-202', packageId: 'p3' });
    const accepted = new Set(['d1', 'd2']);
    assert.ok(checkInvariants(snapshot, { accepted }).some((r) => r.id === 1 && !r.ok), 'without the option: a saga without a 202');
    const results = checkInvariants(snapshot, { accepted, unconfirmed: (id) => id === 'lost-202' || id === 'never-committed' });
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.id}: ${r.problems.join('; ')}`), []);
  });

  it('accepts dead letters the run injected on purpose', () => {
    const snapshot = healthy();
    (snapshot.deadLetters.workflow as unknown[]).push({ id: '1', machineType: 'DeliverySaga', machineId: 'd1', reason: 'poison', event: { type: 'Poison' } });
    const results = checkInvariants(snapshot, { expectedDeadLetter: (letter) => letter.event.type === 'Poison' });
    assert.ok(results.every((r) => r.ok));
  });
});
