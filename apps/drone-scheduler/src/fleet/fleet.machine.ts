import { defineMachine, type MachineVersion, type StepContext } from '#rsm';
import { droneRef, ownDelete, ownGet, ownHas, ownSet, sagaRef, type FleetEvents } from '#contracts';

export interface FleetData {
  /** Drones that can take a delivery now, in the order they became free. */
  idle: string[];
  /** Live assignments: deliveryId -> droneId (read and written with own-property helpers only). */
  assignments: Record<string, string>;
  /**
   * Who each waiting delivery belongs to, and whether a saga waits for answers; kept after the
   * assignment only for bookings over REST (which are counted). A saga's entry goes once its drone
   * is reserved: the Fleet's data is rewritten on every step, so it holds no more than it must.
   * (Data stored before this kept every assigned delivery's entry; those go as the deliveries end.)
   */
  requests: Record<string, Booking>;
  /** Deliveries waiting for a drone, oldest first. */
  waiting: string[];
  /**
   * Completed deliveries per owner and month, from before they moved to the Utilization machines;
   * kept for reading, never written again, so the Fleet's data no longer grows with owners or time.
   */
  utilization?: Record<string, Record<string, number>>;
  /**
   * How many drones the largest seed named (v2). The ids themselves are not kept: the Fleet's data
   * is copied and written on every step, and the drones are machines of their own.
   */
  fleetSize: number;
  /** The flight watchdog handed to each drone with its reservation (the last Seed's). */
  watchdogMs?: number;
}

/**
 * Bookings over REST (not by a saga) held or waiting at once. Each is a row of the Fleet's data,
 * rewritten on every Fleet step, so they are bounded: the next one is refused (429).
 */
export const MAX_REST_BOOKINGS = 200;

/** The Fleet before v2: it kept every drone id it had seeded. */
export type FleetV1 = MachineVersion<Omit<FleetData, 'fleetSize'> & { drones: string[] }, 'Active', FleetEvents>;
/** The Fleet v2: the same data; its drones ended a flight's assignment with DeliveryFinished. */
export type FleetV2 = MachineVersion<FleetData, 'Active', FleetEvents>;

/**
 * Whether a starting process must send the Fleet a Seed: it does not exist yet, or it was seeded
 * with fewer drones or another flight watchdog. A restart with the same settings skips it: the
 * seed steps the Fleet, which after a crash has a backlog to work through first, and the app would
 * not listen until then.
 */
export function seedNeeded(fleet: FleetData | undefined, fleetSize: number, watchdogMs: number): boolean {
  return fleet === undefined || fleet.fleetSize < fleetSize || fleet.watchdogMs !== watchdogMs;
}

/**
 * What `AssignDrone` answers its caller: the drone (null while queued), `refused` when too many
 * REST bookings are held, `conflict` when the delivery id is a workflow's booking.
 */
export type AssignAnswer = { droneId: string | null; queued: boolean } | { refused: string } | { conflict: string };

/**
 * What `Release` answers a caller over REST: released (the drone, or null when nothing was held),
 * refused (a workflow's booking is its saga's to release), or the drone that holds the delivery now
 * (assigned since the caller looked): that drone decides, as it alone knows whether the package is
 * in the air.
 */
export type ReleaseAnswer = { released: string | null } | { refused: string } | { heldBy: string };

/** What each request answers. */
export type FleetReplies = { AssignDrone: AssignAnswer; Release: ReleaseAnswer };

/** Whom a delivery's drone is booked for. */
export interface Booking {
  ownerId: string;
  viaSaga: boolean;
  /** While it waits for a drone: since when (ms since the epoch). */
  since?: number;
}

/** Keeps a booking's entry while it waits, or for as long as it holds a drone if it came over REST. */
function keep(data: FleetData, deliveryId: string, booking: Booking, assigned: boolean, now: Date): void {
  if (assigned && booking.viaSaga) ownDelete(data.requests, deliveryId);
  else if (assigned) ownSet(data.requests, deliveryId, { ownerId: booking.ownerId, viaSaga: booking.viaSaga });
  else ownSet(data.requests, deliveryId, { ...booking, since: booking.since ?? now.getTime() });
}

/**
 * Deliveries waiting for a drone are work the Fleet holds in its data, out of sight of the inbox:
 * how long the oldest has waited is reported after every step, so that admission refuses new
 * deliveries while the fleet cannot keep up, instead of letting the queue grow.
 */
function reportBacklog(data: FleetData, ctx: StepContext): void {
  const oldest = data.waiting[0];
  const since = oldest === undefined ? undefined : ownGet(data.requests, oldest)?.since;
  ctx.backlog(since === undefined ? 0 : ctx.now.getTime() - since);
}

function assign(data: FleetData, ctx: StepContext, deliveryId: string, booking: Booking): string | null {
  const existing = ownGet(data.assignments, deliveryId);
  if (existing !== undefined) {
    keep(data, deliveryId, booking, true, ctx.now);
    return existing;
  }
  const free = data.idle.shift();
  if (free === undefined) {
    if (!data.waiting.includes(deliveryId)) data.waiting.push(deliveryId);
    keep(data, deliveryId, booking, false, ctx.now);
    return null;
  }
  ownSet(data.assignments, deliveryId, free);
  keep(data, deliveryId, booking, true, ctx.now);
  ctx.send(droneRef(free), { type: 'Reserve', deliveryId, ownerId: booking.ownerId, viaSaga: booking.viaSaga, ...(data.watchdogMs !== undefined ? { watchdogMs: data.watchdogMs } : {}) });
  return free;
}

/**
 * Whether `droneId` holds `deliveryId`'s assignment and the event comes from that drone. Only a
 * drone ends, refuses or frees its own assignment: the same event from another sender (forged, or
 * naming another drone) changes nothing.
 */
function heldBySender(data: FleetData, ctx: StepContext, deliveryId: string, droneId: string): boolean {
  return sentBy(ctx, droneId) && ownGet(data.assignments, deliveryId) === droneId;
}

const sentBy = (ctx: StepContext, droneId: string) => ctx.sender?.type === 'Drone' && ctx.sender.id === droneId;

/** Drops what the Fleet holds for a delivery whose drone is free again or that finished. */
function forget(data: FleetData, deliveryId: string): void {
  ownDelete(data.assignments, deliveryId);
  ownDelete(data.requests, deliveryId);
}

/**
 * The one place where drones are given to deliveries. Being a single machine, it has one writer at
 * a time however many drone-scheduler processes run, so no drone can be given to two live
 * deliveries; the Drone machine refuses a second reservation too, as a second line of defence.
 * Its data is bounded by the fleet and the live deliveries: utilization lives in one Utilization
 * machine per owner, REST bookings are capped.
 */
export const Fleet = defineMachine<FleetData, FleetEvents, FleetReplies>()({
  type: 'Fleet',
  // v2: the seeded drone ids are no longer kept, only how many there are.
  // v3: a drone back from a flight ends its assignment with DroneAvailable (`finished`), which a
  // v2 Fleet would take for a stale announcement. The data is the same; the version is raised so
  // that processes of the previous release leave the Fleet alone once a process of this one has
  // stepped it (they defer it, as they defer any machine of a newer version).
  version: 3,
  migrations: (current) =>
    current.from<FleetV2>(2, { data: (old) => old }).from<FleetV1>(1, { data: ({ drones, ...rest }) => ({ ...rest, fleetSize: drones.length }) }),
  initial: 'Active',
  initialData: () => ({ idle: [], assignments: {}, requests: {}, waiting: [], fleetSize: 0 }),
  states: {
    Active: {
      on: {
        Seed: (data, event, ctx) => {
          if (event.watchdogMs !== undefined) data.watchdogMs = event.watchdogMs;
          // Creation is idempotent: a drone that exists is left as it is and not commissioned again.
          const ids = new Set(event.droneIds);
          for (const id of ids) ctx.create(droneRef(id), { type: 'Commission' });
          data.fleetSize = Math.max(data.fleetSize, ids.size);
          reportBacklog(data, ctx);
        },
        AssignDrone: (data, event, ctx) => {
          // Bookings are keyed by delivery id, which clients choose. A workflow's booking (waiting,
          // or assigned: its entry then left `requests`) is not taken over by a REST booking, which
          // would turn it into one: the drone would no longer tell the saga anything.
          const booked = ownGet(data.requests, event.deliveryId);
          if (!event.viaSaga && (booked?.viaSaga === true || (booked === undefined && ownHas(data.assignments, event.deliveryId)))) {
            reportBacklog(data, ctx);
            return ctx.reply({ conflict: `delivery ${event.deliveryId} is booked by its workflow` } satisfies AssignAnswer);
          }
          if (!event.viaSaga && !ownHas(data.requests, event.deliveryId)) {
            const restBookings = Object.values(data.requests).filter((r) => !r.viaSaga).length;
            if (restBookings >= MAX_REST_BOOKINGS) {
              reportBacklog(data, ctx);
              return ctx.reply({ refused: `${restBookings} drone bookings over REST are held or waiting, the most allowed` } satisfies AssignAnswer);
            }
          }
          const droneId = assign(data, ctx, event.deliveryId, ownGet(data.requests, event.deliveryId) ?? { ownerId: event.ownerId, viaSaga: event.viaSaga });
          ctx.reply({ droneId, queued: droneId === null } satisfies AssignAnswer);
          reportBacklog(data, ctx);
        },
        Release: (data, event, ctx) => {
          const droneId = ownGet(data.assignments, event.deliveryId);
          // Whoever asked gets the answer: a saga waits for DroneReleased even when the assignment is
          // already gone (the drone delivered while the saga, lagging, accepted a cancel).
          const sagaWaits = ctx.sender?.type === 'DeliverySaga';
          if (!sagaWaits) {
            // Over REST the Fleet only takes a REST booking out of the queue. A held drone is its
            // own to release (the Fleet would forget an assignment its drone keeps), and a
            // workflow's booking its saga's (the saga would wait for a drone that never comes).
            if (droneId !== undefined) return ctx.reply({ heldBy: droneId } satisfies ReleaseAnswer);
            if (ownGet(data.requests, event.deliveryId)?.viaSaga === true) {
              return ctx.reply({ refused: `delivery ${event.deliveryId} waits for a drone for its workflow, which alone releases it` } satisfies ReleaseAnswer);
            }
          }
          // A saga never releases a REST booking that holds its delivery id (a service booked that
          // id before the saga asked, so the saga never got a drone): it hears that nothing was held.
          if (sagaWaits && ownGet(data.requests, event.deliveryId)?.viaSaga === false) {
            ctx.send(sagaRef(event.deliveryId), { type: 'DroneReleased', droneId: null });
            ctx.reply({ released: null } satisfies ReleaseAnswer);
            return reportBacklog(data, ctx);
          }
          data.waiting = data.waiting.filter((id) => id !== event.deliveryId);
          ownDelete(data.requests, event.deliveryId);
          if (droneId === undefined) {
            if (sagaWaits) ctx.send(sagaRef(event.deliveryId), { type: 'DroneReleased', droneId: null });
          } else {
            ownDelete(data.assignments, event.deliveryId);
            ctx.send(droneRef(droneId), { type: 'Release', deliveryId: event.deliveryId, viaSaga: sagaWaits });
          }
          ctx.reply({ released: droneId ?? null });
          reportBacklog(data, ctx);
        },
        BookingReleased: (data, event, ctx) => {
          // A drone released over REST (it answered its caller itself): the booking ends. Its
          // DroneAvailable follows (same sender, so in order) and makes it idle.
          if (heldBySender(data, ctx, event.deliveryId, event.droneId)) forget(data, event.deliveryId);
          reportBacklog(data, ctx);
        },
        DroneAvailable: (data, event, ctx) => {
          // Back from a flight: that delivery's assignment ends here (unless a release ended it already).
          if (event.finished !== undefined && heldBySender(data, ctx, event.finished, event.droneId)) forget(data, event.finished);
          // A drone still assigned is not free: this is an older announcement overtaken by its reservation.
          if (!Object.values(data.assignments).includes(event.droneId) && !data.idle.includes(event.droneId)) {
            data.idle.push(event.droneId);
            const next = data.waiting.shift();
            // A waiting delivery always has its entry; the fallback only keeps the types honest.
            if (next !== undefined) assign(data, ctx, next, ownGet(data.requests, next) ?? { ownerId: '', viaSaga: true });
          }
          reportBacklog(data, ctx);
        },
        ReservationRefused: (data, event, ctx) => {
          // The drone was not idle after all: give the delivery the next one.
          if (heldBySender(data, ctx, event.deliveryId, event.droneId)) {
            ownDelete(data.assignments, event.deliveryId);
            // A saga's booking left `requests` when the drone was reserved: the refusal brings it
            // back. A drone from before it did (a rolling deploy) sends neither; only a saga's
            // booking can be missing, so that is what it was.
            const booking = ownGet(data.requests, event.deliveryId) ?? { ownerId: event.ownerId ?? '', viaSaga: event.viaSaga ?? true };
            assign(data, ctx, event.deliveryId, booking);
          }
          reportBacklog(data, ctx);
        },
        // From drones of before `DroneAvailable.finished` (a rolling deploy); today's drones do not send it.
        DeliveryFinished: (data, event, ctx) => {
          if (sentBy(ctx, event.droneId)) {
            if (ownGet(data.assignments, event.deliveryId) === event.droneId) ownDelete(data.assignments, event.deliveryId);
            ownDelete(data.requests, event.deliveryId);
          }
          reportBacklog(data, ctx);
        },
      },
    },
  },
});
