import { defineMachine, type StepContext } from '#rsm';
import { appendBounded, applyReschedule, deliveryRequestRef, notifyActivity, rescheduleIssues, sagaRef, type DeliveryEvents, type DeliveryRequest, type DeliveryStage, type Reschedule } from '#contracts';

export { DELIVERY_TRANSITIONS, type DeliveryStage } from '#contracts';

export interface DeliveryData {
  request: DeliveryRequest | null;
  droneId: string | null;
  stages: { stage: DeliveryStage; at: string }[];
  confirmation: string | null;
  /** The last {@link REFUSED_LIMIT} requests refused because the delivery had moved on, kept for inspection. */
  refused: string[];
  refusedCount?: number;
  webhook: string | null;
  notified: boolean;
  /**
   * The saga dispatched the drone in the step that asked for this delivery (`Create.createdNews`
   * false): its HeadedToPickup follows, and a reschedule asked before it would be refused by the saga.
   */
  dispatched?: boolean;
}

const saga = (ctx: StepContext<DeliveryStage>) => sagaRef(ctx.self.id);

export const REFUSED_LIMIT = 20;
/** Reschedules a delivery takes: each adds a stage to its history, which stays bounded. */
export const MAX_RESCHEDULES = 20;

/** A refusal answered to a REST caller: the controller turns it into 409 (or 422 for a wrong confirmation or reschedule, naming the fields). */
export type DeliveryRefusal = { refused: string; kind: 'conflict' | 'invalid'; fields?: { path: string; message: string }[] };
/** The stage a delivery moved to. */
export type StageAnswer = { stage: DeliveryStage };

/** What each request answers. */
export type DeliveryReplies = {
  Reschedule: StageAnswer | DeliveryRefusal;
  Confirm: StageAnswer | DeliveryRefusal;
  HeadedToPickup: StageAnswer;
  PickedUp: StageAnswer;
  RequestCancel: { stage: DeliveryStage; cancelling: true };
  RequestReschedule: { stage: DeliveryStage; rescheduling: true } | DeliveryRefusal;
  NotifyMe: { registered: true };
};

function refuse(data: DeliveryData, text: string): void {
  appendBounded(data.refused, text, REFUSED_LIMIT);
  data.refusedCount = (data.refusedCount ?? 0) + 1;
}

function stage(data: DeliveryData, ctx: StepContext<DeliveryStage>, next: DeliveryStage): void {
  data.stages.push({ stage: next, at: ctx.now.toISOString() });
  ctx.goto(next);
  ctx.reply({ stage: next });
}

function notify(data: DeliveryData, ctx: StepContext<DeliveryStage>): void {
  if (data.webhook === null || data.notified) return;
  data.notified = true;
  ctx.call(notifyActivity, { url: data.webhook, deliveryId: ctx.self.id, stage: 'Completed' });
}

const cancel = (data: DeliveryData, _event: unknown, ctx: StepContext<DeliveryStage>) => {
  stage(data, ctx, 'Cancelled');
  ctx.send(saga(ctx), { type: 'DeliveryCancelled' });
};
/** A cancel asked over REST goes through the saga, which undoes every step and cancels this delivery. */
const requestCancel = (_data: DeliveryData, _event: unknown, ctx: StepContext<DeliveryStage>) => {
  ctx.send(saga(ctx), { type: 'Cancel', source: 'delivery API' });
  ctx.reply({ stage: ctx.state, cancelling: true });
};
const rescheduled = (data: DeliveryData) => data.stages.filter((s) => s.stage === 'Rescheduled').length;
const reschedule = (data: DeliveryData, event: { changes: Reschedule }, ctx: StepContext<DeliveryStage>) => {
  if (rescheduled(data) >= MAX_RESCHEDULES) {
    refuse(data, `Reschedule at ${ctx.now.toISOString()}: more than ${MAX_RESCHEDULES} reschedules`);
    return ctx.reply({ refused: `at most ${MAX_RESCHEDULES} reschedules`, kind: 'conflict' } satisfies DeliveryRefusal);
  }
  if (data.request !== null) data.request = applyReschedule(data.request, event.changes);
  stage(data, ctx, 'Rescheduled');
};
const tooLateToReschedule = (data: DeliveryData, _e: unknown, ctx: StepContext<DeliveryStage>) => {
  refuse(data, `Reschedule at ${ctx.now.toISOString()}: drone already headed to pickup`);
  ctx.reply({ refused: 'the drone is already headed to pickup', kind: 'conflict' } satisfies DeliveryRefusal);
};
/**
 * A reschedule asked over this service's REST API. The request is the DeliveryRequest's to change
 * (the saga and the drone work from it, and it keeps the order of reschedules asked over either
 * API): the changes are checked against this delivery's copy, for an answer now, and forwarded
 * there, which checks them again and passes them to the saga, which reschedules this delivery.
 */
const requestReschedule = (data: DeliveryData, event: { changes: Reschedule }, ctx: StepContext<DeliveryStage>) => {
  // The drone is on its way already when the saga dispatched it with the delivery's creation.
  if (data.dispatched === true) return tooLateToReschedule(data, event, ctx);
  if (rescheduled(data) >= MAX_RESCHEDULES) return ctx.reply({ refused: `at most ${MAX_RESCHEDULES} reschedules`, kind: 'conflict' } satisfies DeliveryRefusal);
  const fields = rescheduleIssues(data.request, event.changes, ctx.now.getTime());
  if (fields.length > 0) return ctx.reply({ refused: fields.map((f) => `${f.path}: ${f.message}`).join('; '), kind: 'invalid', fields } satisfies DeliveryRefusal);
  ctx.send(deliveryRequestRef(ctx.self.id), { type: 'Reschedule', changes: event.changes });
  ctx.reply({ stage: ctx.state, rescheduling: true });
};
const notifyMe = (data: DeliveryData, event: { url: string }, ctx: StepContext<DeliveryStage>) => {
  data.webhook = event.url;
  ctx.reply({ registered: true });
  if (ctx.state === 'Completed') notify(data, ctx);
};
const notified = () => undefined;

/** Before the drone leaves: rescheduled, dispatched, cancelled. */
const beforePickupTargets = { Reschedule: 'Rescheduled', HeadedToPickup: 'HeadedToPickup', Cancel: 'Cancelled' } as const;
const beforePickup = {
  Reschedule: reschedule,
  HeadedToPickup: (data: DeliveryData, _e: unknown, ctx: StepContext<DeliveryStage>) => stage(data, ctx, 'HeadedToPickup'),
  Cancel: cancel,
  RequestCancel: requestCancel,
  RequestReschedule: requestReschedule,
  NotifyMe: notifyMe,
};

/**
 * A delivery as its customer sees it: Created -> (Rescheduled)* -> HeadedToPickup ->
 * HeadedToDropoff -> Completed, or Cancelled before pickup. Anything else asked over REST is
 * refused (409 with the current stage); the stage history is kept.
 */
export const Delivery = defineMachine<DeliveryData, DeliveryEvents, DeliveryReplies>()({
  type: 'Delivery',
  initial: 'Created',
  initialData: () => ({ request: null, droneId: null, stages: [], confirmation: null, refused: [], webhook: null, notified: false }),
  states: {
    Created: {
      on: {
        Create: (data, event, ctx) => {
          data.request = event.request;
          data.droneId = event.droneId;
          data.stages.push({ stage: 'Created', at: ctx.now.toISOString() });
          // A saga that dispatched the drone with this request waits for no acknowledgement.
          if (event.createdNews === false) data.dispatched = true;
          else ctx.send(saga(ctx), { type: 'DeliveryCreated' });
        },
        ...beforePickup,
      },
      targets: beforePickupTargets,
    },
    Rescheduled: { on: beforePickup, targets: beforePickupTargets },
    HeadedToPickup: {
      on: {
        // The drone is on its way: a reschedule forwarded by the saga is too late and is recorded.
        Reschedule: tooLateToReschedule,
        RequestReschedule: tooLateToReschedule,
        PickedUp: (data, _e, ctx) => stage(data, ctx, 'HeadedToDropoff'),
        Cancel: cancel,
        RequestCancel: requestCancel,
        NotifyMe: notifyMe,
      },
      targets: { PickedUp: 'HeadedToDropoff', Cancel: 'Cancelled' },
    },
    HeadedToDropoff: {
      on: {
        Confirm: (data, event, ctx) => {
          const required = data.request?.confirmationRequired ?? 'None';
          if (required !== 'None' && event.confirmationType !== required) {
            refuse(data, `Confirm ${event.confirmationType} at ${ctx.now.toISOString()}: ${required} required`);
            return ctx.reply({ refused: `a ${required} confirmation is required`, kind: 'invalid' } satisfies DeliveryRefusal);
          }
          data.confirmation = event.confirmationType;
          stage(data, ctx, 'Completed');
          ctx.send(saga(ctx), { type: 'DeliveryCompleted' });
          notify(data, ctx);
        },
        NotifyMe: notifyMe,
      },
      targets: { Confirm: 'Completed' },
    },
    Completed: { on: { NotifyMe: notifyMe, ActivityCompleted: notified, ActivityFailed: notified } },
    Cancelled: { on: { Cancel: (_d, _e, ctx) => ctx.send(saga(ctx), { type: 'DeliveryCancelled' }), NotifyMe: notifyMe } },
  },
});
