import { defineMachine } from '#rsm';
import type { DeliveryRequest, DeliveryRequestEvents, SagaEvents } from '#contracts';

export interface DeliveryRequestData {
  request: DeliveryRequest | null;
  cancels: number;
  reschedules: number;
}

const saga = (id: string) => ({ type: 'DeliverySaga', id });

/**
 * One accepted delivery request (one per deliveryId): created once however often the client
 * repeats it, it starts the workflow's saga and forwards later cancels and reschedules to it.
 */
export const DeliveryRequestMachine = defineMachine<DeliveryRequestData, DeliveryRequestEvents>()({
  type: 'DeliveryRequest',
  initial: 'Received',
  initialData: () => ({ request: null, cancels: 0, reschedules: 0 }),
  states: {
    Received: {
      on: {
        Submit: (data, event, ctx) => {
          data.request = event.request;
          ctx.create<SagaEvents>(saga(ctx.self.id), { type: 'Start', request: event.request });
          ctx.goto('Forwarded');
        },
      },
      targets: ['Forwarded'],
    },
    Forwarded: {
      on: {
        Cancel: (data, _event, ctx) => {
          data.cancels += 1;
          ctx.send<SagaEvents>(saga(ctx.self.id), { type: 'Cancel', source: 'ingestion API' });
          ctx.reply({ accepted: true });
        },
        Reschedule: (data, event, ctx) => {
          data.reschedules += 1;
          ctx.send<SagaEvents>(saga(ctx.self.id), { type: 'Reschedule', changes: event.changes });
          ctx.reply({ accepted: true });
        },
      },
    },
  },
});
