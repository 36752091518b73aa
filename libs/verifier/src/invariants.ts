import { DELIVERY_TRANSITIONS, TERMINAL_SAGA_STATES, type DeliveryStage } from '#contracts';
import type { DeadLetterView, SuiteSnapshot } from './suite-snapshot.js';

/** The verdict on one invariant of `tailspin.md`. */
export interface InvariantResult {
  readonly id: number;
  readonly name: string;
  readonly ok: boolean;
  readonly counts: Record<string, number>;
  /** What is wrong, at most 20 lines. */
  readonly problems: string[];
}

export interface VerifyOptions {
  /** Delivery ids the load driver saw accepted (202); when given, sagas must match them exactly. */
  readonly accepted?: ReadonlySet<string>;
  /**
   * Delivery ids a client sent but got no answer for (it gave up after a timeout or a lost
   * connection): the request may have committed, so a saga for one is allowed, not required.
   */
  readonly unconfirmed?: (deliveryId: string) => boolean;
  /** Dead letters the run injected on purpose (poison input). */
  readonly expectedDeadLetter?: (letter: DeadLetterView, service: string) => boolean;
}

const terminal = new Set<string>(TERMINAL_SAGA_STATES);
// InFlight is v1's name of Airborne: a snapshot taken during a rolling upgrade has both.
const LINKED_SAGA_STATES = new Set(['PackagePending', 'DronePending', 'DeliveryPending', 'Scheduled', 'Airborne', 'InFlight']);

function result(id: number, name: string, problems: string[], counts: Record<string, number> = {}): InvariantResult {
  return { id, name, ok: problems.length === 0, counts, problems: problems.slice(0, 20).concat(problems.length > 20 ? [`... and ${problems.length - 20} more`] : []) };
}

/**
 * Checks the seven invariants of the suite on a snapshot taken when the system is quiet. Pure:
 * the same snapshot always gives the same verdict.
 */
export function checkInvariants(s: SuiteSnapshot, options: VerifyOptions = {}): InvariantResult[] {
  const sagas = new Map(s.sagas.map((saga) => [saga.deliveryId, saga]));
  const deliveries = new Map(s.deliveries.map((d) => [d.id, d]));
  const requests = new Set(s.requests.map((r) => r.deliveryId));
  const results: InvariantResult[] = [];

  // 1. Conservation
  {
    const problems: string[] = [];
    const accepted = options.accepted ?? requests;
    for (const id of accepted) if (!sagas.has(id)) problems.push(`accepted ${id} has no saga`);
    for (const id of requests) if (!sagas.has(id)) problems.push(`request ${id} has no saga`);
    let unconfirmed = 0;
    for (const saga of s.sagas) {
      if (!accepted.has(saga.deliveryId)) {
        if (options.unconfirmed?.(saga.deliveryId) === true) unconfirmed += 1;
        else problems.push(`saga ${saga.deliveryId} without a 202`);
      }
      if (!terminal.has(saga.state)) problems.push(`saga ${saga.deliveryId} is still ${saga.state}`);
    }
    const by = (state: string) => s.sagas.filter((x) => x.state === state).length;
    const counts = { accepted: accepted.size, unconfirmed, sagas: s.sagas.length, completed: by('Completed'), cancelled: by('Cancelled'), failed: by('Failed') };
    const ended = counts.completed + counts.cancelled + counts.failed;
    if (ended !== counts.accepted + unconfirmed) problems.push(`accepted ${counts.accepted}${unconfirmed > 0 ? ` + ${unconfirmed} committed without an answer` : ''} != completed + cancelled + failed ${ended}`);
    results.push(result(1, 'conservation: every 202 has one saga, and every saga is terminal', problems, counts));
  }

  // 2. Agreement
  {
    const problems: string[] = [];
    for (const saga of s.sagas) {
      const delivery = deliveries.get(saga.deliveryId);
      if (saga.state === 'Completed' && delivery?.stage !== 'Completed') problems.push(`saga ${saga.deliveryId} Completed, delivery ${delivery?.stage ?? 'missing'}`);
      if ((saga.state === 'Cancelled' || saga.state === 'Failed') && delivery !== undefined && delivery.stage !== 'Cancelled') problems.push(`saga ${saga.deliveryId} ${saga.state}, delivery ${delivery.stage}`);
    }
    for (const d of s.deliveries) if (!sagas.has(d.id)) problems.push(`delivery ${d.id} has no saga`);
    results.push(result(2, "agreement: each delivery's terminal stage matches its saga", problems, { deliveries: s.deliveries.length }));
  }

  // 3. Valid histories
  {
    const problems: string[] = [];
    for (const d of s.deliveries) {
      const stages = d.stages.map((x) => x.stage);
      if (stages[0] !== 'Created') problems.push(`delivery ${d.id} starts at ${stages[0] ?? 'nothing'}`);
      for (let i = 1; i < stages.length; i += 1) {
        const from = stages[i - 1] as DeliveryStage;
        if (!(DELIVERY_TRANSITIONS[from] ?? []).includes(stages[i] as DeliveryStage)) problems.push(`delivery ${d.id}: ${from} -> ${stages[i]} is not a path of the Delivery machine`);
      }
      if (stages.at(-1) !== d.stage) problems.push(`delivery ${d.id} is ${d.stage} but its history ends at ${stages.at(-1)}`);
    }
    results.push(result(3, 'valid histories: every stage history is a path of the Delivery machine', problems, { histories: s.deliveries.length }));
  }

  // 4. Drones
  {
    const problems: string[] = [];
    const holders = new Map<string, string>();
    for (const [deliveryId, droneId] of Object.entries(s.fleet.assignments)) {
      const other = holders.get(droneId);
      if (other !== undefined) problems.push(`drone ${droneId} assigned to ${other} and ${deliveryId}`);
      holders.set(droneId, deliveryId);
      if (terminal.has(sagas.get(deliveryId)?.state ?? 'Completed')) problems.push(`fleet still assigns ${droneId} to finished delivery ${deliveryId}`);
    }
    for (const id of s.fleet.waiting) if (terminal.has(sagas.get(id)?.state ?? 'Completed')) problems.push(`finished delivery ${id} still waits for a drone`);
    for (const drone of s.drones) {
      if (drone.deliveryId !== null && terminal.has(sagas.get(drone.deliveryId)?.state ?? '')) problems.push(`drone ${drone.id} (${drone.state}) still holds finished delivery ${drone.deliveryId}`);
      // Over the kept history: a drone is reserved again only after it was Idle.
      let serving: string | null = null;
      for (const entry of drone.history) {
        if (entry.state === 'Reserved') {
          if (serving !== null && serving !== entry.deliveryId) problems.push(`drone ${drone.id} reserved for ${entry.deliveryId} while serving ${serving}`);
          serving = entry.deliveryId;
        } else if (entry.state === 'Idle' || entry.state === 'Offline') {
          serving = null;
        }
      }
    }
    // Over the whole run, whatever the drones kept: a drone serves a completed delivery from its
    // creation (after the reservation) to its completion (before the drone is home and free), so two
    // completed deliveries of one drone never overlap. Both times are the delivery service's clock.
    const flights = new Map<string, { id: string; from: number; to: number }[]>();
    for (const d of s.deliveries) {
      if (d.stage !== 'Completed' || d.droneId === null) continue;
      const from = Date.parse(d.stages.find((x) => x.stage === 'Created')?.at ?? '');
      const to = Date.parse(d.stages.findLast((x) => x.stage === 'Completed')?.at ?? '');
      if (Number.isNaN(from) || Number.isNaN(to)) continue;
      flights.set(d.droneId, [...(flights.get(d.droneId) ?? []), { id: d.id, from, to }]);
    }
    for (const [droneId, list] of flights) {
      list.sort((a, b) => a.from - b.from);
      let latest: { id: string; to: number } | undefined;
      for (const flight of list) {
        if (latest !== undefined && flight.from < latest.to) problems.push(`drone ${droneId} served ${flight.id} (created ${new Date(flight.from).toISOString()}) before ${latest.id} completed (${new Date(latest.to).toISOString()})`);
        if (latest === undefined || flight.to > latest.to) latest = flight;
      }
    }
    let completed = 0;
    for (const saga of s.sagas.filter((x) => x.state === 'Completed')) {
      completed += 1;
      const delivery = deliveries.get(saga.deliveryId);
      if (saga.droneId === null) problems.push(`completed ${saga.deliveryId} had no drone`);
      else if (delivery !== undefined && delivery.droneId !== saga.droneId) problems.push(`completed ${saga.deliveryId}: saga drone ${saga.droneId}, delivery drone ${delivery.droneId}`);
    }
    results.push(result(4, 'drones: never two live deliveries on one drone, none held by a finished delivery, one drone per completed delivery', problems, { drones: s.drones.length, assignments: holders.size, completed }));
  }

  // 5. Packages
  {
    const problems: string[] = [];
    const liveByPackage = new Map<string, string[]>();
    for (const saga of s.sagas) {
      if (saga.packageId === null || !LINKED_SAGA_STATES.has(saga.state)) continue;
      liveByPackage.set(saga.packageId, [...(liveByPackage.get(saga.packageId) ?? []), saga.deliveryId]);
    }
    for (const [packageId, live] of liveByPackage) if (live.length > 1) problems.push(`package ${packageId} in ${live.length} live deliveries: ${live.join(', ')}`);
    const ids = new Set<string>();
    for (const p of s.packages) {
      if (ids.has(p.id)) problems.push(`package ${p.id} listed twice`);
      ids.add(p.id);
      if ((p.state === 'Linked' || p.state === 'PickedUp') && (p.deliveryId === null || terminal.has(sagas.get(p.deliveryId)?.state ?? 'Completed'))) {
        problems.push(`package ${p.id} ${p.state} to ${p.deliveryId ?? 'nothing'}, which is not live`);
      }
    }
    // Once the system is quiet no saga is live: a package two deliveries both took shows only in
    // the completed ones (a delivered package refuses every later link).
    const packages = new Map(s.packages.map((p) => [p.id, p]));
    const completedByPackage = new Map<string, string[]>();
    for (const saga of s.sagas.filter((x) => x.state === 'Completed' && x.packageId !== null)) {
      const packageId = saga.packageId as string;
      const p = packages.get(packageId);
      if (p?.state !== 'Delivered') problems.push(`completed ${saga.deliveryId}: package ${packageId} is ${p?.state ?? 'missing'}`);
      completedByPackage.set(packageId, [...(completedByPackage.get(packageId) ?? []), saga.deliveryId]);
    }
    for (const [packageId, completed] of completedByPackage) if (completed.length > 1) problems.push(`package ${packageId} delivered by ${completed.length} deliveries: ${completed.join(', ')}`);
    results.push(result(5, 'packages: one per packageId, linked to at most one live delivery', problems, { packages: s.packages.length }));
  }

  // 6. Idempotence
  {
    const problems: string[] = [];
    const reservations = new Map<string, number>();
    for (const drone of s.drones) for (const entry of drone.history) if (entry.state === 'Reserved' && entry.deliveryId !== null) reservations.set(entry.deliveryId, (reservations.get(entry.deliveryId) ?? 0) + 1);
    for (const [deliveryId, n] of reservations) if (n > 1) problems.push(`delivery ${deliveryId} reserved ${n} times`);
    for (const d of s.deliveries) {
      const completions = d.stages.filter((x) => x.stage === 'Completed').length;
      if (completions > 1) problems.push(`delivery ${d.id} completed ${completions} times`);
    }
    for (const saga of s.sagas) {
      const starts = saga.history.filter((h) => h.event === 'Start').length;
      // A saga keeps its last 50 entries: one with dropped entries (refused cancels and reschedules
      // after the end) may have dropped its Start, but any Start it kept is counted.
      if (starts > 1 || (starts === 0 && (saga.historyDropped ?? 0) === 0)) problems.push(`saga ${saga.deliveryId} started ${starts} times`);
    }
    results.push(result(6, 'idempotence: one delivery, one reservation, one completion per deliveryId', problems, { reservations: reservations.size }));
  }

  // 7. Nothing silent
  {
    const problems: string[] = [];
    let injected = 0;
    for (const [service, letters] of Object.entries(s.deadLetters)) {
      for (const letter of letters) {
        if (options.expectedDeadLetter?.(letter, service) === true) injected += 1;
        else problems.push(`${service}: dead letter ${letter.machineType}/${letter.machineId} ${letter.event.type}: ${letter.reason}`);
      }
    }
    results.push(result(7, 'nothing silent: dead letters only where the run injected poison', problems, { injected }));
  }
  return results;
}

/** One line per invariant, then its problems; for people and for CI logs. */
export function formatResults(results: readonly InvariantResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const counts = Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`${r.ok ? 'PASS' : 'FAIL'} ${r.id}. ${r.name}${counts ? ` (${counts})` : ''}`);
    for (const problem of r.problems) lines.push(`     - ${problem}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  lines.push(`${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}
