import { defineMachine, type StepContext } from '#rsm';
import { appendBounded, applyReschedule, deliveryRef, droneRef, fleetRef, packageRef, type Reschedule, type DeliveryRequest, type SagaEvents } from '#contracts';
import type { MachineVersion, VersionOf } from '#rsm';
import type { DeliverySagaV1 } from './delivery-saga.v1.machine.js';

export type SagaState =
  | 'Received' | 'PackagePending' | 'DronePending' | 'DeliveryPending' | 'Scheduled' | 'Airborne' | 'Completed'
  | 'Compensating' | 'Failed' | 'Cancelling' | 'Cancelled';

export interface SagaData {
  request: DeliveryRequest | null;
  droneId: string | null;
  /** When the drone reported the pickup (v2; null before it, and for sagas picked up under v1). */
  pickedUpAt: string | null;
  /** Steps whose command was sent, so compensation knows what to undo (commands are FIFO per pair). */
  done: { package: boolean; drone: boolean; delivery: boolean };
  /** Acknowledgements compensation still waits for. */
  awaiting: ('package' | 'drone' | 'delivery')[];
  reason: string | null;
  /**
   * Whether this saga told the delivery its drone is headed to pickup when it dispatched the drone
   * (and asked the drone for no `DroneEnRoute`). Absent for a saga dispatched before it: the drone's
   * `DroneEnRoute` is then forwarded, as it was.
   */
  headedAtDispatch?: boolean;
  /**
   * A cancel after dispatch waits for the drone's release before it undoes anything (v4): the drone
   * may be picking the package up, and only the drone knows. Set while that answer is awaited.
   */
  releaseFirst?: boolean;
  /** The last {@link HISTORY_LIMIT} entries; older ones are counted in `historyDropped`. */
  history: { at: string; state: string; event: string; note?: string }[];
  historyDropped?: number;
}

/** A saga's history is bounded: a client repeating a refused request cannot grow it without end. */
export const HISTORY_LIMIT = 50;

function note(data: SagaData, entry: SagaData['history'][number]): void {
  const dropped = appendBounded(data.history, entry, HISTORY_LIMIT);
  if (dropped > 0) data.historyDropped = (data.historyDropped ?? 0) + dropped;
}

/** How long a step may wait for its answer before the saga gives up and compensates. */
export const STEP_TIMEOUT_MS = 30_000;

const pkg = (d: SagaData) => packageRef(d.request?.packageInfo.packageId ?? '');
const delivery = (ctx: StepContext<SagaState>) => deliveryRef(ctx.self.id);

/**
 * Applies a reschedule to the request the saga holds. Given `ctx` (before the dispatch, while the
 * deadline timer runs), a new deadline moves that timer: the saga fails at the deadline it has now.
 */
function reschedule(data: SagaData, changes: Reschedule, ctx?: StepContext<SagaState>): void {
  if (data.request === null) return;
  data.request = applyReschedule(data.request, changes);
  if (ctx !== undefined && changes.deadline !== undefined) ctx.startTimer('deadline', Math.max(0, Date.parse(data.request.deadline) - ctx.now.getTime()));
}

function record(data: SagaData, ctx: StepContext<SagaState>, event: string, state: SagaState, text?: string): void {
  note(data, { at: ctx.now.toISOString(), state, event, ...(text ? { note: text } : {}) });
  ctx.goto(state);
}

type Step = 'package' | 'drone' | 'delivery';

/** Sends the command that undoes each of `steps` the saga did, in the order given, and awaits its acknowledgement. */
function undo(data: SagaData, ctx: StepContext<SagaState>, steps: readonly Step[]): void {
  for (const step of steps) {
    if (step === 'delivery' && data.done.delivery) ctx.send(delivery(ctx), { type: 'Cancel' });
    else if (step === 'drone' && data.done.drone) ctx.send(fleetRef, { type: 'Release', deliveryId: ctx.self.id });
    else if (step === 'package' && data.done.package) ctx.send(pkg(data), { type: 'Unlink', deliveryId: ctx.self.id });
    else continue;
    data.awaiting.push(step);
  }
}

/** Undoes the done steps in reverse order; the saga ends in `target` once every undo is acknowledged. */
function compensate(data: SagaData, ctx: StepContext<SagaState>, event: string, target: 'Failed' | 'Cancelled', reason: string): void {
  data.reason = reason;
  ctx.cancelTimer('deadline');
  ctx.cancelTimer('step');
  undo(data, ctx, ['delivery', 'drone', 'package']);
  if (data.awaiting.length === 0) record(data, ctx, event, target, reason);
  else record(data, ctx, event, target === 'Failed' ? 'Compensating' : 'Cancelling', reason);
}

function acknowledge(data: SagaData, ctx: StepContext<SagaState>, event: string, what: Step): void {
  data.awaiting = data.awaiting.filter((w) => w !== what);
  if (data.awaiting.length === 0) record(data, ctx, event, ctx.state === 'Compensating' ? 'Failed' : 'Cancelled');
}

/** Events that may still arrive after the saga moved on; they change nothing. */
const late = {
  PackageLinked: () => undefined,
  DroneAssigned: () => undefined,
  DroneEnRoute: () => undefined,
  DronePickedUp: () => undefined,
  DeliveryCreated: () => undefined,
  Timeout: () => undefined,
  Reschedule: () => undefined,
} as const;

/** While undoing (to Failed or to Cancelled): count the acknowledgements, ignore the rest. */
const undoing = {
  PackageUnlinked: (data: SagaData, _e: unknown, ctx: StepContext<SagaState>) => acknowledge(data, ctx, 'PackageUnlinked', 'package'),
  DroneReleased: (data: SagaData, _e: unknown, ctx: StepContext<SagaState>) => acknowledge(data, ctx, 'DroneReleased', 'drone'),
  DeliveryCancelled: (data: SagaData, _e: unknown, ctx: StepContext<SagaState>) => acknowledge(data, ctx, 'DeliveryCancelled', 'delivery'),
  PackageRejected: () => undefined,
  Cancel: () => undefined,
  ...late,
};

const cancelBeforePickup = (data: SagaData, event: { source: string }, ctx: StepContext<SagaState>) =>
  compensate(data, ctx, 'Cancel', 'Cancelled', `cancelled by ${event.source}`);

/**
 * A cancel once the drone is dispatched. The drone may be picking the package up at this moment,
 * and its news may still be on the way: the saga asks for the drone first (through the Fleet, as
 * every release), and cancels the delivery and unlinks the package only once the drone has let it
 * go. A drone that picked the package up refuses, and its `DronePickedUp` comes ahead of that
 * refusal (one sender, in order): the cancel is then refused, as any cancel after pickup.
 */
const cancelDispatched = (data: SagaData, event: { source: string }, ctx: StepContext<SagaState>) => {
  data.reason = `cancelled by ${event.source}`;
  data.releaseFirst = true;
  data.awaiting = ['drone'];
  ctx.send(fleetRef, { type: 'Release', deliveryId: ctx.self.id });
  record(data, ctx, 'Cancel', 'Cancelling', data.reason);
};

/** The drone picked the package up: the delivery and the package hear it, and the saga is Airborne. */
function pickedUp(data: SagaData, event: { at?: string | undefined }, ctx: StepContext<SagaState>, text?: string): void {
  // A v1 drone (an old pod in a rolling deploy) sends no time: the saga's own clock stands in.
  data.pickedUpAt = event.at ?? ctx.now.toISOString();
  ctx.send(delivery(ctx), { type: 'PickedUp' });
  ctx.send(pkg(data), { type: 'PickedUp', deliveryId: ctx.self.id });
  record(data, ctx, 'DronePickedUp', 'Airborne', text);
}

/** While a cancel after dispatch waits for the drone (see cancelDispatched); otherwise as any undo. */
const cancelling = {
  ...undoing,
  DroneReleased: (data: SagaData, event: { droneId: string | null }, ctx: StepContext<SagaState>) => {
    if (data.releaseFirst !== true) return acknowledge(data, ctx, 'DroneReleased', 'drone');
    delete data.releaseFirst;
    data.awaiting = [];
    if (event.droneId === null) {
      // No drone held the delivery any more: it picked the package up, and its news is on the way.
      data.reason = null;
      record(data, ctx, 'DroneReleased', 'Scheduled', 'cancel refused: no drone holds the delivery any more (the package was picked up)');
      return;
    }
    undo(data, ctx, ['delivery', 'package']);
    if (data.awaiting.length === 0) record(data, ctx, 'DroneReleased', 'Cancelled');
    else note(data, { at: ctx.now.toISOString(), state: 'Cancelling', event: 'DroneReleased', note: `drone ${event.droneId} released` });
  },
  DronePickedUp: (data: SagaData, event: { at?: string | undefined }, ctx: StepContext<SagaState>) => {
    if (data.releaseFirst !== true) return;
    // The pickup came first: the cancel is refused, and the drone's refusal of the release follows.
    delete data.releaseFirst;
    data.awaiting = [];
    data.reason = null;
    pickedUp(data, event, ctx, 'cancel refused: the package was picked up');
  },
};
const deadlinePassed = (data: SagaData, event: { name: string }, ctx: StepContext<SagaState>) =>
  compensate(data, ctx, `Timeout(${event.name})`, 'Failed', event.name === 'deadline' ? 'deadline passed before the delivery was scheduled' : 'a step got no answer in time');

/** Where the acknowledgements of an undo lead once none is awaited any more. */
const undoneTo = <S extends SagaState>(state: S) => ({ PackageUnlinked: state, DroneReleased: state, DeliveryCancelled: state });

/** The saga at v2: the same data, without `headedAtDispatch`. */
export type DeliverySagaV2 = MachineVersion<SagaData, SagaState, SagaEvents>;
/** The saga at v3: the same data, without `releaseFirst`. */
export type DeliverySagaV3 = MachineVersion<SagaData, SagaState, SagaEvents>;
/** The saga at v4: the same data; it waited in DeliveryPending for the delivery's DeliveryCreated. */
export type DeliverySagaV4 = MachineVersion<SagaData, SagaState, SagaEvents>;

/**
 * Sends the reserved drone on its way and tells the delivery that it is: the delivery hears it in
 * this step, not through the drone and another saga step. The deadline no longer applies (the
 * delivery is scheduled), nor does the step timer.
 */
function dispatch(data: SagaData, ctx: StepContext<SagaState>): void {
  const request = data.request as DeliveryRequest;
  ctx.send(droneRef(data.droneId as string), { type: 'Dispatch', deliveryId: ctx.self.id, pickupLocation: request.pickupLocation, dropOffLocation: request.dropOffLocation, confirmationRequired: request.confirmationRequired, enRouteNews: false });
  ctx.send(delivery(ctx), { type: 'HeadedToPickup' });
  data.headedAtDispatch = true;
  ctx.cancelTimer('deadline');
  ctx.cancelTimer('step');
}

/**
 * One delivery's workflow: package, then drone, then delivery, then the flight. Failure after any
 * step compensates the done steps in reverse order; a cancel before pickup does the same and ends
 * Cancelled; a cancel after pickup is refused and recorded.
 */
export const DeliverySaga = defineMachine<SagaData, SagaEvents>()({
  type: 'DeliverySaga',
  // v2: InFlight is called Airborne, and the saga keeps when the drone picked the package up.
  // v3: the saga tells the delivery its drone is headed to pickup when it dispatches the drone. The
  // data is unchanged (a v2 saga has no `headedAtDispatch`, so the drone's DroneEnRoute is forwarded
  // for it); the version keeps v2 processes off v3 sagas in a rolling deploy, because a v2 process
  // would forward a DroneEnRoute from a drone of the release before a second time, which the
  // delivery, already headed to pickup, does not accept.
  // v4: a cancel after dispatch waits for the drone's release (`releaseFirst`) before it undoes
  // the delivery and the package. A v3 process would take that release for the last acknowledgement
  // and end Cancelled with the delivery and the package never undone.
  // v5: the saga creates the delivery and dispatches the drone in one step, and asks the delivery
  // for no DeliveryCreated: an event between services and a saga step less per delivery. A v4
  // process would wait in DeliveryPending for an acknowledgement that never comes.
  version: 5,
  migrations: (current) =>
    current.from<DeliverySagaV4>(4, { data: (old) => old }).from<DeliverySagaV3>(3, { data: (old) => old }).from<DeliverySagaV2>(2, { data: (old) => old }).from<VersionOf<typeof DeliverySagaV1>>(1, {
      states: { InFlight: 'Airborne' },
      data: (old) => ({ ...old, pickedUpAt: null, history: old.history.map((h) => (h.state === 'InFlight' ? { ...h, state: 'Airborne' } : h)) }),
    }),
  initial: 'Received',
  initialData: () => ({ request: null, droneId: null, pickedUpAt: null, done: { package: false, drone: false, delivery: false }, awaiting: [], reason: null, history: [] }),
  states: {
    Received: {
      on: {
        Start: (data, event, ctx) => {
          data.request = event.request;
          const info = event.request.packageInfo;
          const ownerId = event.request.ownerId;
          ctx.create(pkg(data), { type: 'Register', info: { size: info.size, weight: info.weight, tag: info.tag }, ownerId });
          ctx.send(pkg(data), { type: 'Link', deliveryId: ctx.self.id, ownerId });
          data.done.package = true;
          ctx.startTimer('deadline', Math.max(0, Date.parse(event.request.deadline) - ctx.now.getTime()));
          ctx.startTimer('step', STEP_TIMEOUT_MS);
          record(data, ctx, 'Start', 'PackagePending');
        },
      },
      targets: { Start: 'PackagePending' },
    },
    PackagePending: {
      on: {
        PackageLinked: (data, _event, ctx) => {
          ctx.send(fleetRef, { type: 'AssignDrone', deliveryId: ctx.self.id, ownerId: data.request?.ownerId ?? '', viaSaga: true });
          data.done.drone = true;
          ctx.cancelTimer('step');
          record(data, ctx, 'PackageLinked', 'DronePending');
        },
        PackageRejected: (data, event, ctx) => {
          data.done.package = false; // nothing was linked
          compensate(data, ctx, 'PackageRejected', 'Failed', `package rejected: ${event.reason}`);
        },
        Cancel: cancelBeforePickup,
        Timeout: deadlinePassed,
        Reschedule: (data, event, ctx) => reschedule(data, event.changes, ctx),
      },
      // Nothing may be linked yet: a compensation with nothing to undo ends at once.
      targets: { PackageLinked: 'DronePending', PackageRejected: ['Compensating', 'Failed'], Cancel: ['Cancelling', 'Cancelled'], Timeout: ['Compensating', 'Failed'] },
    },
    DronePending: {
      on: {
        DroneAssigned: (data, event, ctx) => {
          data.droneId = event.droneId;
          // The delivery is created and the drone dispatched in this one step. The delivery hears
          // its Create before the HeadedToPickup that follows it (one sender, in order), and a
          // compensation that overtakes the dispatch cancels it, which it accepts from HeadedToPickup.
          ctx.create(delivery(ctx), { type: 'Create', request: data.request as DeliveryRequest, droneId: event.droneId, createdNews: false });
          data.done.delivery = true;
          dispatch(data, ctx);
          record(data, ctx, 'DroneAssigned', 'Scheduled', `drone ${event.droneId}`);
        },
        Cancel: cancelBeforePickup,
        Timeout: deadlinePassed,
        Reschedule: (data, event, ctx) => reschedule(data, event.changes, ctx),
      },
      targets: { DroneAssigned: 'Scheduled', Cancel: 'Cancelling', Timeout: 'Compensating' },
    },
    // Only sagas stored at v4 or before wait here: they created the delivery and wait for its answer.
    DeliveryPending: {
      on: {
        DeliveryCreated: (data, _event, ctx) => {
          dispatch(data, ctx);
          record(data, ctx, 'DeliveryCreated', 'Scheduled');
        },
        Cancel: cancelBeforePickup,
        Timeout: deadlinePassed,
        Reschedule: (data, event, ctx) => {
          reschedule(data, event.changes, ctx);
          // The delivery was asked to be created with the request before it: it hears this one too
          // (after its Create, one sender), or it would show times and places the drone does not fly.
          ctx.send(delivery(ctx), { type: 'Reschedule', changes: event.changes });
        },
      },
      targets: { DeliveryCreated: 'Scheduled', Cancel: 'Cancelling', Timeout: 'Compensating' },
    },
    Scheduled: {
      on: {
        // From a drone of the release before (which sends it whatever the dispatch says), or for a
        // saga dispatched before this release: forwarded only if the delivery was not told yet.
        DroneEnRoute: (data, _event, ctx) => {
          if (data.headedAtDispatch !== true) ctx.send(delivery(ctx), { type: 'HeadedToPickup' });
        },
        DronePickedUp: (data, event, ctx) => pickedUp(data, event, ctx),
        // From a delivery process of the release before, which answers every Create.
        DeliveryCreated: () => undefined,
        Reschedule: (data, event, ctx) => {
          if (data.headedAtDispatch === true) {
            // The delivery heard that its drone left in the step that dispatched it, and refuses a
            // reschedule from then on: the saga refuses it too, and keeps the request it flies.
            note(data, { at: ctx.now.toISOString(), state: 'Scheduled', event: 'Reschedule', note: 'refused: the drone was dispatched' });
            return;
          }
          reschedule(data, event.changes);
          ctx.send(delivery(ctx), { type: 'Reschedule', changes: event.changes });
          note(data, { at: ctx.now.toISOString(), state: 'Scheduled', event: 'Reschedule' });
        },
        Cancel: cancelDispatched,
        Timeout: () => undefined,
      },
      targets: { DronePickedUp: 'Airborne', Cancel: 'Cancelling' },
    },
    Airborne: {
      on: {
        DeliveryCompleted: (data, _event, ctx) => {
          ctx.send(pkg(data), { type: 'Delivered', deliveryId: ctx.self.id });
          record(data, ctx, 'DeliveryCompleted', 'Completed');
        },
        Cancel: (data, event, ctx) => {
          note(data, { at: ctx.now.toISOString(), state: 'Airborne', event: 'Cancel', note: `refused: the package was picked up (asked by ${event.source})` });
        },
        Reschedule: (data, _event, ctx) => {
          note(data, { at: ctx.now.toISOString(), state: 'Airborne', event: 'Reschedule', note: 'refused: the package was picked up' });
        },
        DroneEnRoute: () => undefined,
        DeliveryCreated: () => undefined,
        Timeout: () => undefined,
        // The drone's refusal of a release asked by a cancel that the pickup overtook.
        DroneReleased: () => undefined,
      },
      targets: { DeliveryCompleted: 'Completed' },
    },
    Compensating: { on: undoing, targets: undoneTo('Failed') },
    Cancelling: { on: cancelling, targets: { ...undoneTo('Cancelled'), DroneReleased: ['Cancelled', 'Scheduled'], DronePickedUp: 'Airborne' } },
    Completed: { on: { Cancel: (data, event, ctx) => note(data, { at: ctx.now.toISOString(), state: 'Completed', event: 'Cancel', note: `refused: completed (asked by ${event.source})` }), ...late, DeliveryCompleted: () => undefined, DroneReleased: () => undefined } },
    Failed: { on: { Cancel: () => undefined, PackageRejected: () => undefined, ...late } },
    Cancelled: { on: { Cancel: () => undefined, PackageRejected: () => undefined, ...late } },
  },
});

