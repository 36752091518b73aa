import { defineMachine, type StepContext } from '#rsm';
import type { PackageEvents, PackageUpsert, SagaEvents } from '#contracts';

export interface PackageData {
  info: PackageUpsert | null;
  deliveryId: string | null;
  history: { at: string; state: string; deliveryId: string | null }[];
}

/** Heavier packages are refused: a drone cannot lift them (this is how a saga sees a rejection). */
export const MAX_WEIGHT_KG = 100;

type PackageState = 'Registered' | 'Linked' | 'PickedUp' | 'Delivered';
const saga = (deliveryId: string) => ({ type: 'DeliverySaga', id: deliveryId });

function move(data: PackageData, ctx: StepContext<PackageState>, state: PackageState): void {
  data.history.push({ at: ctx.now.toISOString(), state, deliveryId: data.deliveryId });
  ctx.goto(state);
}

const acknowledgeUnlink = (_data: PackageData, event: { deliveryId: string }, ctx: StepContext<PackageState>) =>
  ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageUnlinked', packageId: ctx.self.id });

/**
 * A package: registered (by REST or by a saga), linked to at most one live delivery, picked up,
 * delivered; compensation unlinks it back to Registered.
 */
export const Package = defineMachine<PackageData, PackageEvents>()({
  type: 'Package',
  initial: 'Registered',
  initialData: () => ({ info: null, deliveryId: null, history: [] }),
  states: {
    Registered: {
      on: {
        Register: (data, event, ctx) => {
          data.info ??= event.info;
          ctx.reply({ created: data.history.length === 0 });
          if (data.history.length === 0) move(data, ctx, 'Registered');
        },
        Update: (data, event, ctx) => {
          data.info = { ...(data.info as PackageUpsert), ...event.changes };
          ctx.reply(data.info);
        },
        Link: (data, event, ctx) => {
          const weight = data.info?.weight ?? 0;
          if (weight > MAX_WEIGHT_KG) {
            ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: `weighs ${weight} kg, more than ${MAX_WEIGHT_KG} kg` });
            return;
          }
          data.deliveryId = event.deliveryId;
          move(data, ctx, 'Linked');
          ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageLinked', packageId: ctx.self.id });
        },
        Unlink: acknowledgeUnlink,
      },
      targets: ['Linked'],
    },
    Linked: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Link: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) {
            ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageLinked', packageId: ctx.self.id });
          } else {
            ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: `linked to live delivery ${data.deliveryId}` });
          }
        },
        Unlink: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) {
            data.deliveryId = null;
            move(data, ctx, 'Registered');
          }
          acknowledgeUnlink(data, event, ctx);
        },
        PickedUp: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) move(data, ctx, 'PickedUp');
        },
      },
      targets: ['Registered', 'PickedUp'],
    },
    PickedUp: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Delivered: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) move(data, ctx, 'Delivered');
        },
        Link: (data, event, ctx) =>
          ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: `picked up for delivery ${data.deliveryId}` }),
        Unlink: acknowledgeUnlink,
      },
      targets: ['Delivered'],
    },
    Delivered: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Link: (data, event, ctx) =>
          ctx.send<SagaEvents>(saga(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: `already delivered by ${data.deliveryId}` }),
        Unlink: acknowledgeUnlink,
      },
    },
  },
});
