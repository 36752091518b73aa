import { defineMachine } from '#rsm';
import { appendBounded, applyReschedule, fingerprint, sagaRef, rescheduleIssues, type DeliveryRequest, type DeliveryRequestEvents } from '#contracts';

export interface DeliveryRequestData {
  /** The request as it stands: as submitted, with the reschedules accepted since. */
  request: DeliveryRequest | null;
  cancels: number;
  reschedules: number;
  /**
   * The fingerprint of the request as submitted, which a repeated submission must match. Missing in
   * data stored before reschedules changed `request`: until its first reschedule, `request` is that
   * submission.
   */
  submitted?: string;
  /**
   * The last {@link REFUSED_LIMIT} reschedules refused because they no longer fit the request,
   * kept for inspection: one forwarded by the delivery service after its own check, which a
   * reschedule over this API overtook, has no caller to be answered.
   */
  refused?: string[];
}

export const REFUSED_LIMIT = 20;

/** What a customer's cancel or reschedule gets back: done, not theirs (404), or not coherent (422). */
export type RequestAnswer = { accepted: true } | { accepted: false; reason: 'not-found' } | { accepted: false; reason: 'invalid'; fields: { path: string; message: string }[] };

/** What each request answers. */
export type DeliveryRequestReplies = { Check: { same: boolean }; Cancel: RequestAnswer; Reschedule: RequestAnswer };

/** A customer acting for other owners sees no such request. */
const foreign = (data: DeliveryRequestData, owners: string[] | undefined) => owners !== undefined && (data.request === null || !owners.includes(data.request.ownerId));

/**
 * One accepted delivery request (one per deliveryId): created once however often the client
 * repeats it, it starts the workflow's saga and forwards later cancels and reschedules to it.
 */
export const DeliveryRequestMachine = defineMachine<DeliveryRequestData, DeliveryRequestEvents, DeliveryRequestReplies>()({
  type: 'DeliveryRequest',
  initial: 'Received',
  initialData: () => ({ request: null, cancels: 0, reschedules: 0 }),
  states: {
    Received: {
      on: {
        Submit: (data, event, ctx) => {
          data.request = event.request;
          data.submitted = fingerprint(event.request);
          ctx.create(sagaRef(ctx.self.id), { type: 'Start', request: event.request });
          ctx.goto('Forwarded');
        },
      },
      targets: { Submit: 'Forwarded' },
    },
    Forwarded: {
      on: {
        Check: (data, event, ctx) => ctx.reply({ same: (data.submitted ?? (data.request === null ? undefined : fingerprint(data.request))) === event.fingerprint }),
        Cancel: (data, event, ctx) => {
          if (foreign(data, event.owners)) return ctx.reply({ accepted: false, reason: 'not-found' } satisfies RequestAnswer);
          // The saga heard the first cancel, and another changes nothing there (it cancels before
          // pickup and refuses after): a repeat is answered here, costing nothing downstream.
          if (data.cancels === 0) ctx.send(sagaRef(ctx.self.id), { type: 'Cancel', source: 'ingestion API' });
          data.cancels += 1;
          ctx.reply({ accepted: true } satisfies RequestAnswer);
        },
        Reschedule: (data, event, ctx) => {
          if (foreign(data, event.owners)) return ctx.reply({ accepted: false, reason: 'not-found' } satisfies RequestAnswer);
          // The changes must fit the request they change, as earlier reschedules left it: a deadline
          // after the (new or current) pickup time.
          const fields = rescheduleIssues(data.request, event.changes, ctx.now.getTime());
          if (fields.length > 0) {
            appendBounded((data.refused ??= []), `Reschedule at ${ctx.now.toISOString()}: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`, REFUSED_LIMIT);
            return ctx.reply({ accepted: false, reason: 'invalid', fields } satisfies RequestAnswer);
          }
          if (data.request !== null) {
            data.submitted ??= fingerprint(data.request);
            data.request = applyReschedule(data.request, event.changes);
          }
          data.reschedules += 1;
          ctx.send(sagaRef(ctx.self.id), { type: 'Reschedule', changes: event.changes });
          ctx.reply({ accepted: true } satisfies RequestAnswer);
        },
      },
    },
  },
});
