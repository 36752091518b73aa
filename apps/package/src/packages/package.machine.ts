import { defineMachine, type StepContext } from '#rsm';
import { appendBounded, MAX_WEIGHT_KG, sagaRef, type PackageEvents, type PackageUpsert } from '#contracts';

export { MAX_WEIGHT_KG } from '#contracts';

export interface PackageData {
  info: PackageUpsert | null;
  /** Whose package it is: a customer sees and changes only its own, and a delivery links only its owner's. */
  ownerId?: string | null;
  deliveryId: string | null;
  /** The last {@link HISTORY_LIMIT} moves. */
  history: { at: string; state: string; deliveryId: string | null }[];
  /** Moves ever made: a package linked and unlinked again and again keeps a bounded history. */
  moves?: number;
}

export const HISTORY_LIMIT = 50;

/** What an update over REST gets back: the new info, or not this customer's package (404). */
export type UpdateAnswer = PackageUpsert | { notFound: true };

const foreignOwner = (data: PackageData, owners: string[] | undefined) => owners !== undefined && (data.ownerId === undefined || data.ownerId === null || !owners.includes(data.ownerId));

type PackageState = 'Registered' | 'Linked' | 'PickedUp' | 'Delivered';
/** What Register and Update answer. */
export type PackageReplies = { Register: { created: boolean }; Update: UpdateAnswer };

function move(data: PackageData, ctx: StepContext<PackageState>, state: PackageState): void {
  const before = data.moves ?? data.history.length;
  appendBounded(data.history, { at: ctx.now.toISOString(), state, deliveryId: data.deliveryId }, HISTORY_LIMIT);
  data.moves = before + 1;
  ctx.goto(state);
}

/** A delivery of another owner may not take this package. */
function ownerConflict(data: PackageData, event: { ownerId?: string }): string | undefined {
  if (event.ownerId === undefined || data.ownerId === undefined || data.ownerId === null || data.ownerId === event.ownerId) return undefined;
  return 'belongs to another owner';
}

/**
 * Refuses a link. Another owner's delivery learns nothing of this package's deliveries: only the
 * package's owner is told which delivery holds it.
 */
function refuseLink(data: PackageData, event: { deliveryId: string; ownerId?: string }, ctx: StepContext<PackageState>, reason: string): void {
  ctx.send(sagaRef(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: ownerConflict(data, event) ?? reason });
}

const acknowledgeUnlink = (_data: PackageData, event: { deliveryId: string }, ctx: StepContext<PackageState>) =>
  ctx.send(sagaRef(event.deliveryId), { type: 'PackageUnlinked', packageId: ctx.self.id });

/**
 * A package: registered (by REST or by a saga), linked to at most one live delivery, picked up,
 * delivered; compensation unlinks it back to Registered.
 */
export const Package = defineMachine<PackageData, PackageEvents, PackageReplies>()({
  type: 'Package',
  initial: 'Registered',
  initialData: () => ({ info: null, deliveryId: null, history: [] }),
  states: {
    Registered: {
      on: {
        Register: (data, event, ctx) => {
          const first = data.history.length === 0;
          data.info ??= event.info;
          if (first && event.ownerId !== undefined) data.ownerId = event.ownerId;
          ctx.reply({ created: first });
          if (first) move(data, ctx, 'Registered');
        },
        Update: (data, event, ctx) => {
          if (foreignOwner(data, event.owners)) return ctx.reply({ notFound: true } satisfies UpdateAnswer);
          data.info = { ...(data.info as PackageUpsert), ...event.changes };
          ctx.reply(data.info satisfies UpdateAnswer);
        },
        Link: (data, event, ctx) => {
          const weight = data.info?.weight ?? 0;
          const refusal = weight > MAX_WEIGHT_KG ? `weighs ${weight} kg, more than ${MAX_WEIGHT_KG} kg` : ownerConflict(data, event);
          if (refusal !== undefined) {
            ctx.send(sagaRef(event.deliveryId), { type: 'PackageRejected', packageId: ctx.self.id, reason: refusal });
            return;
          }
          data.deliveryId = event.deliveryId;
          move(data, ctx, 'Linked');
          ctx.send(sagaRef(event.deliveryId), { type: 'PackageLinked', packageId: ctx.self.id });
        },
        Unlink: acknowledgeUnlink,
      },
      targets: { Link: 'Linked' },
    },
    Linked: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Link: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) {
            ctx.send(sagaRef(event.deliveryId), { type: 'PackageLinked', packageId: ctx.self.id });
          } else {
            refuseLink(data, event, ctx, `linked to live delivery ${data.deliveryId}`);
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
      targets: { Unlink: 'Registered', PickedUp: 'PickedUp' },
    },
    PickedUp: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Delivered: (data, event, ctx) => {
          if (event.deliveryId === data.deliveryId) move(data, ctx, 'Delivered');
        },
        Link: (data, event, ctx) => refuseLink(data, event, ctx, `picked up for delivery ${data.deliveryId}`),
        Unlink: acknowledgeUnlink,
      },
      targets: { Delivered: 'Delivered' },
    },
    Delivered: {
      on: {
        Register: (_data, _event, ctx) => ctx.reply({ created: false }),
        Link: (data, event, ctx) => refuseLink(data, event, ctx, `already delivered by ${data.deliveryId}`),
        Unlink: acknowledgeUnlink,
      },
    },
  },
});
