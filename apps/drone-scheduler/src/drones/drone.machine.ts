import { defineMachine, type StepContext } from '#rsm';
import { appendBounded, fleetRef, flyActivity, sagaRef, utilizationRef, type ConfirmationKind, type DroneEvents, type SagaEvents } from '#contracts';
import type { VersionOf } from '#rsm';
import type { DroneV1 } from './drone.v1.machine.js';

export type DroneState = 'Idle' | 'Reserved' | 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning' | 'Offline';

export interface DroneData {
  deliveryId: string | null;
  ownerId: string | null;
  /** Whether a saga booked this drone and waits for its news (false for a booking over REST). */
  viaSaga: boolean;
  pickupLocation: string | null;
  dropOffLocation: string | null;
  /** What the drop-off confirmation of this flight must be (absent in drones stored before it existed). */
  confirmationRequired?: ConfirmationKind;
  deliveries: number;
  /** When this drone last picked a package up (v2; null until then, and for drones stored at v1). */
  lastPickupAt: string | null;
  /** The last {@link IGNORED_LIMIT} requests that did not concern this drone's delivery, kept for inspection. */
  ignored: string[];
  ignoredCount?: number;
  history: { at: string; state: DroneState; deliveryId: string | null }[];
  /** This reservation's flight watchdog, from the Fleet (absent in drones stored before it existed). */
  watchdogMs?: number;
  /** The fly call not yet answered, if any: a watchdog does not ask again while it is on its way. */
  flyCall?: string | null;
  /** Watchdogs fired since the flight last made progress: each waits twice as long as the last. */
  watchdogStrikes?: number;
}

export const IGNORED_LIMIT = 20;
/**
 * State changes a drone keeps: two flights. The drone's data is copied, serialized and written on
 * every one of its steps (about six a delivery), so each entry kept costs on every step.
 */
export const HISTORY_LIMIT = 10;

/** What a release over REST answers its caller (the service that booked the drone). */
export type ReleaseAnswer = { released: string | null } | { refused: string; state: DroneState };
/** What a status report from the simulator gets back: applied, or why not. */
export type StatusAnswer = { ok: boolean; state: DroneState; reason?: string };

/** What each request answers. */
export type DroneReplies = { Release: ReleaseAnswer; Status: StatusAnswer };

function ignore(data: DroneData, text: string): void {
  appendBounded(data.ignored, text, IGNORED_LIMIT);
  data.ignoredCount = (data.ignoredCount ?? 0) + 1;
}

/** A flight with no news for this long is asked of the simulator again, unless the Fleet says otherwise. */
export const WATCHDOG_MS = 15_000;

/** Doublings of the watchdog while a flight makes no progress: at most 8 times the first wait. */
const MAX_STRIKES = 3;

const startWatchdog = (data: DroneData, ctx: StepContext<DroneState>) =>
  ctx.startTimer('watchdog', (data.watchdogMs ?? WATCHDOG_MS) * 2 ** Math.min(data.watchdogStrikes ?? 0, MAX_STRIKES));

/** The flight moved on (dispatched, or a leg reported): the next watchdog waits the first wait again. */
function progressed(data: DroneData, ctx: StepContext<DroneState>): void {
  data.watchdogStrikes = 0;
  startWatchdog(data, ctx);
}


/** Tells the delivery's saga, if a saga booked this drone. */
function tellSaga(viaSaga: boolean, ctx: StepContext<DroneState>, deliveryId: string, event: SagaEvents): void {
  if (viaSaga) ctx.send(sagaRef(deliveryId), event);
}

function move(data: DroneData, ctx: StepContext<DroneState>, state: DroneState): void {
  appendBounded(data.history, { at: ctx.now.toISOString(), state, deliveryId: data.deliveryId }, HISTORY_LIMIT);
  ctx.goto(state);
}

function fly(data: DroneData, ctx: StepContext<DroneState>, from: 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning'): void {
  data.flyCall = ctx.call(flyActivity, { droneId: ctx.self.id, deliveryId: data.deliveryId, pickupLocation: data.pickupLocation, dropOffLocation: data.dropOffLocation, confirmationRequired: data.confirmationRequired ?? 'None', from });
}

/**
 * No news of the flight for a while: the simulator may have lost it (it keeps nothing durable), so
 * it is asked again, from the leg the drone is on. Not while the last call is still on its way:
 * that call is retried (by another process, if this one died holding it), and a second one would
 * only queue behind it. Under a backlog every flight is late, and asking again for each would add
 * to the backlog that made it late. Each watchdog without progress waits twice as long as the last.
 */
function watchdog(data: DroneData, ctx: StepContext<DroneState>, from: 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning'): void {
  data.watchdogStrikes = (data.watchdogStrikes ?? 0) + 1;
  if (data.flyCall === undefined || data.flyCall === null) fly(data, ctx, from);
  startWatchdog(data, ctx);
}

/** Release of this drone's delivery before drop-off: back to Idle, and tell whoever waits. */
function release(data: DroneData, event: { deliveryId: string; viaSaga: boolean }, ctx: StepContext<DroneState>): void {
  if (event.deliveryId !== data.deliveryId) {
    // Not this drone's delivery (it refused the reservation): a no-op, but the saga still waits.
    ignore(data, `Release ${event.deliveryId} while serving ${data.deliveryId ?? 'nobody'}`);
    tellSaga(event.viaSaga, ctx, event.deliveryId, { type: 'DroneReleased', droneId: null });
    ctx.reply({ released: null } satisfies ReleaseAnswer);
    return;
  }
  if (!event.viaSaga && data.viaSaga) {
    // Over REST, only a REST booking: a saga's drone is released by cancelling its delivery.
    ctx.reply({ refused: `booked by the workflow of delivery ${event.deliveryId}: cancel the delivery instead`, state: ctx.state } satisfies ReleaseAnswer);
    return;
  }
  const viaSaga = data.viaSaga;
  data.deliveryId = null;
  data.ownerId = null;
  ctx.cancelTimer('watchdog');
  move(data, ctx, 'Idle');
  tellSaga(viaSaga, ctx, event.deliveryId, { type: 'DroneReleased', droneId: ctx.self.id });
  // Asked directly (over REST), not by the Fleet: the Fleet still holds the booking.
  if (ctx.sender === undefined) ctx.send(fleetRef, { type: 'BookingReleased', droneId: ctx.self.id, deliveryId: event.deliveryId });
  ctx.send(fleetRef, { type: 'DroneAvailable', droneId: ctx.self.id });
  ctx.reply({ released: ctx.self.id } satisfies ReleaseAnswer);
}

/**
 * After pickup the package is in the air: the drone is not released. A saga (lagging behind the
 * flight) still gets its answer; a REST caller is refused with the drone's state (409).
 */
function refuseRelease(data: DroneData, event: { deliveryId: string; viaSaga: boolean }, ctx: StepContext<DroneState>): void {
  ignore(data, `Release ${event.deliveryId} while ${ctx.state}`);
  tellSaga(event.viaSaga, ctx, event.deliveryId, { type: 'DroneReleased', droneId: null });
  ctx.reply({ refused: event.deliveryId === data.deliveryId ? 'the package was picked up' : `not serving delivery ${event.deliveryId}`, state: ctx.state } satisfies ReleaseAnswer);
}

/** A status report that does not fit this drone's flight is answered, not applied. */
function mismatch(data: DroneData, event: { deliveryId: string; status: string }, ctx: StepContext<DroneState>, expected: string): boolean {
  if (event.deliveryId === data.deliveryId && event.status === expected) return false;
  ctx.reply({ ok: false, state: ctx.state, reason: event.deliveryId === data.deliveryId ? `status ${event.status} while ${ctx.state}` : `not flying delivery ${event.deliveryId}` });
  return true;
}

function refuse(data: DroneData, event: { deliveryId: string; ownerId: string; viaSaga: boolean }, ctx: StepContext<DroneState>): void {
  if (event.deliveryId === data.deliveryId) {
    tellSaga(data.viaSaga, ctx, event.deliveryId, { type: 'DroneAssigned', droneId: ctx.self.id });
  } else {
    ctx.send(fleetRef, { type: 'ReservationRefused', droneId: ctx.self.id, deliveryId: event.deliveryId, ownerId: event.ownerId, viaSaga: event.viaSaga });
  }
}

/**
 * A dispatch for a delivery this drone no longer serves: the saga sent it before a release from
 * the Fleet overtook it (events from different senders have no order). Recorded, not applied.
 */
const staleDispatch = (data: DroneData, event: { deliveryId: string }, ctx: StepContext<DroneState>) =>
  ignore(data, `Dispatch ${event.deliveryId} while ${ctx.state}${data.deliveryId !== null ? ` serving ${data.deliveryId}` : ''}`);

const activityOutcome = (data: DroneData, event: { type: string; callId: string }) => {
  if (event.callId === data.flyCall) data.flyCall = null;
  if (event.type === 'ActivityFailed') ignore(data, `fly ${event.callId} failed`);
};

/** One drone: reserved from Idle only, flown by the simulator, back to Idle after its return. */
export const Drone = defineMachine<DroneData, DroneEvents, DroneReplies>()({
  type: 'Drone',
  // v2: a drone keeps when it last picked a package up, and tells the saga that time.
  version: 2,
  migrations: (current) => current.from<VersionOf<typeof DroneV1>>(1, { data: (old) => ({ ...old, lastPickupAt: null }) }),
  initial: 'Idle',
  initialData: () => ({ deliveryId: null, ownerId: null, viaSaga: false, pickupLocation: null, dropOffLocation: null, deliveries: 0, lastPickupAt: null, ignored: [], history: [] }),
  states: {
    Idle: {
      on: {
        Dispatch: staleDispatch,
        Commission: (_data, _event, ctx) => ctx.send(fleetRef, { type: 'DroneAvailable', droneId: ctx.self.id }),
        Reserve: (data, event, ctx) => {
          data.deliveryId = event.deliveryId;
          data.ownerId = event.ownerId;
          data.viaSaga = event.viaSaga;
          if (event.watchdogMs !== undefined) data.watchdogMs = event.watchdogMs;
          move(data, ctx, 'Reserved');
          tellSaga(event.viaSaga, ctx, event.deliveryId, { type: 'DroneAssigned', droneId: ctx.self.id });
        },
        Release: release,
        Fault: (data, _e, ctx) => move(data, ctx, 'Offline'),
        Timeout: () => undefined,
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Reserve: 'Reserved', Fault: 'Offline' },
    },
    Reserved: {
      on: {
        Reserve: refuse,
        Release: release,
        Dispatch: (data, event, ctx) => {
          if (event.deliveryId !== data.deliveryId) return staleDispatch(data, event, ctx);
          data.pickupLocation = event.pickupLocation;
          data.dropOffLocation = event.dropOffLocation;
          data.confirmationRequired = event.confirmationRequired ?? 'None';
          move(data, ctx, 'EnRouteToPickup');
          fly(data, ctx, 'EnRouteToPickup');
          progressed(data, ctx);
          // A saga that told the delivery itself wants no news of the departure: a step and an
          // event between services less per delivery. One from before it (no flag) still gets it.
          if (event.enRouteNews !== false) tellSaga(data.viaSaga, ctx, event.deliveryId, { type: 'DroneEnRoute', droneId: ctx.self.id });
        },
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Release: 'Idle', Dispatch: 'EnRouteToPickup' },
    },
    EnRouteToPickup: {
      on: {
        Dispatch: staleDispatch,
        Reserve: refuse,
        Release: release,
        Status: (data, event, ctx) => {
          if (mismatch(data, event, ctx, 'PickedUp')) return;
          data.lastPickupAt = ctx.now.toISOString();
          move(data, ctx, 'EnRouteToDropoff');
          progressed(data, ctx);
          tellSaga(data.viaSaga, ctx, event.deliveryId, { type: 'DronePickedUp', droneId: ctx.self.id, at: data.lastPickupAt });
          ctx.reply({ ok: true, state: 'EnRouteToDropoff' });
        },
        Timeout: (data, _e, ctx) => watchdog(data, ctx, 'EnRouteToPickup'),
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Status: 'EnRouteToDropoff', Release: 'Idle' },
    },
    EnRouteToDropoff: {
      on: {
        Dispatch: staleDispatch,
        Reserve: refuse,
        Release: refuseRelease,
        Status: (data, event, ctx) => {
          if (mismatch(data, event, ctx, 'Delivered')) return;
          data.deliveries += 1;
          move(data, ctx, 'Returning');
          progressed(data, ctx);
          if (data.ownerId !== null && data.ownerId !== '') {
            const utilization = utilizationRef(data.ownerId);
            ctx.create(utilization, { type: 'Open' });
            ctx.send(utilization, { type: 'Delivered', deliveryId: event.deliveryId, at: ctx.now.toISOString() });
          }
          ctx.reply({ ok: true, state: 'Returning' });
        },
        Timeout: (data, _e, ctx) => watchdog(data, ctx, 'EnRouteToDropoff'),
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Status: 'Returning' },
    },
    Returning: {
      on: {
        Dispatch: staleDispatch,
        Reserve: refuse,
        Release: refuseRelease,
        Status: (data, event, ctx) => {
          if (mismatch(data, event, ctx, 'Returned')) return;
          data.deliveryId = null;
          data.ownerId = null;
          ctx.cancelTimer('watchdog');
          move(data, ctx, 'Idle');
          // One event ends the flight's assignment and frees the drone: the Fleet, which every
          // delivery passes through, hears from the drone once per delivery instead of twice.
          ctx.send(fleetRef, { type: 'DroneAvailable', droneId: ctx.self.id, finished: event.deliveryId });
          ctx.reply({ ok: true, state: 'Idle' });
        },
        Timeout: (data, _e, ctx) => watchdog(data, ctx, 'Returning'),
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Status: 'Idle' },
    },
    Offline: {
      on: {
        Dispatch: staleDispatch,
        Reserve: refuse,
        Release: release,
        Repair: (data, _e, ctx) => {
          move(data, ctx, 'Idle');
          ctx.send(fleetRef, { type: 'DroneAvailable', droneId: ctx.self.id });
        },
        ActivityCompleted: activityOutcome,
        ActivityFailed: activityOutcome,
      },
      targets: { Repair: 'Idle', Release: 'Idle' },
    },
  },
});
