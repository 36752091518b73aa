import { z } from 'zod';
import { confirmationSchema, isoDate, MAX_OWNERS_PER_KEY, MAX_TAG_LENGTH, MAX_WATCHDOG_MS, MAX_WEBHOOK_URL_LENGTH, packageSizeSchema } from './delivery-request.js';
import type { DeliveryEvents, DeliveryRequestEvents, DroneEvents, FleetEvents, PackageEvents, SagaEvents, UtilizationEvents } from './events.js';
import type { MachineType } from './routes.js';

/**
 * The events of `events.ts` as schemas, version 1: what a receiving runtime checks before a handler
 * sees an event, so an event forged or garbled on the way (or sent by a buggy peer) becomes a dead
 * letter with its reason instead of `null` in a machine's data. Objects are loose: a newer sender
 * may add fields; what a handler reads must be there with its type. Timer and activity events are
 * made by the receiving runtime itself and have none.
 */

const ref = z.string().min(1).max(512);
const text = z.string().max(10_000);

const packageInfo = z.looseObject({ packageId: ref, size: packageSizeSchema, weight: z.number(), tag: z.string().max(MAX_TAG_LENGTH) });
const deliveryRequest = z.looseObject({
  deliveryId: ref,
  ownerId: ref,
  pickupLocation: text,
  dropOffLocation: text,
  pickupTime: isoDate,
  deadline: isoDate,
  expedited: z.boolean(),
  confirmationRequired: confirmationSchema,
  packageInfo,
});
const reschedule = z.looseObject({ pickupLocation: text.optional(), dropOffLocation: text.optional(), pickupTime: isoDate.optional(), deadline: isoDate.optional() });
const packageUpsert = z.looseObject({ size: packageSizeSchema, weight: z.number(), tag: z.string().max(MAX_TAG_LENGTH) });

const event = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) => z.looseObject({ type: z.literal(type), ...shape });

/** Event types a runtime makes itself (timers, activities): not contracts between services. */
type Internal = 'Timeout' | 'ActivityCompleted' | 'ActivityFailed';
/** One schema for every event type of a union, each producing that event: a missing one does not compile. */
type Contract<E extends { type: string }> = { readonly [T in Exclude<E['type'], Internal>]: z.ZodType<Extract<E, { type: T }>> };

const deliveryRequestContract = {
  Submit: event('Submit', { request: deliveryRequest }),
  Cancel: event('Cancel', { owners: z.array(ref).max(MAX_OWNERS_PER_KEY).optional() }),
  Reschedule: event('Reschedule', { changes: reschedule, owners: z.array(ref).max(MAX_OWNERS_PER_KEY).optional() }),
  Check: event('Check', { fingerprint: z.string().regex(/^[0-9a-f]{64}$/) }),
} satisfies Contract<DeliveryRequestEvents>;

const sagaContract = {
  Start: event('Start', { request: deliveryRequest }),
  Cancel: event('Cancel', { source: text }),
  Reschedule: event('Reschedule', { changes: reschedule }),
  PackageLinked: event('PackageLinked', { packageId: ref }),
  PackageRejected: event('PackageRejected', { packageId: ref, reason: text }),
  PackageUnlinked: event('PackageUnlinked', { packageId: ref }),
  DroneAssigned: event('DroneAssigned', { droneId: ref }),
  DroneReleased: event('DroneReleased', { droneId: ref.nullable() }),
  DroneEnRoute: event('DroneEnRoute', { droneId: ref }),
  DronePickedUp: event('DronePickedUp', { droneId: ref, at: z.iso.datetime().optional() }),
  DeliveryCreated: event('DeliveryCreated', {}),
  DeliveryCompleted: event('DeliveryCompleted', {}),
  DeliveryCancelled: event('DeliveryCancelled', {}),
} satisfies Contract<SagaEvents>;

const packageContract = {
  Register: event('Register', { info: packageUpsert, ownerId: ref.optional() }),
  Update: event('Update', { changes: packageUpsert.partial(), owners: z.array(ref).max(MAX_OWNERS_PER_KEY).optional() }),
  Link: event('Link', { deliveryId: ref, ownerId: ref.optional() }),
  Unlink: event('Unlink', { deliveryId: ref }),
  PickedUp: event('PickedUp', { deliveryId: ref }),
  Delivered: event('Delivered', { deliveryId: ref }),
} satisfies Contract<PackageEvents>;

const fleetContract = {
  Seed: event('Seed', { droneIds: z.array(ref), watchdogMs: z.number().int().positive().max(MAX_WATCHDOG_MS).optional() }),
  AssignDrone: event('AssignDrone', { deliveryId: ref, ownerId: ref, viaSaga: z.boolean() }),
  Release: event('Release', { deliveryId: ref }),
  DroneAvailable: event('DroneAvailable', { droneId: ref, finished: ref.optional() }),
  BookingReleased: event('BookingReleased', { droneId: ref, deliveryId: ref }),
  ReservationRefused: event('ReservationRefused', { droneId: ref, deliveryId: ref, ownerId: ref.optional(), viaSaga: z.boolean().optional() }),
  DeliveryFinished: event('DeliveryFinished', { droneId: ref, deliveryId: ref, ownerId: ref, at: z.iso.datetime() }),
} satisfies Contract<FleetEvents>;

const droneContract = {
  Commission: event('Commission', {}),
  Reserve: event('Reserve', { deliveryId: ref, ownerId: ref, viaSaga: z.boolean(), watchdogMs: z.number().int().positive().max(MAX_WATCHDOG_MS).optional() }),
  Release: event('Release', { deliveryId: ref, viaSaga: z.boolean() }),
  Dispatch: event('Dispatch', { deliveryId: ref, pickupLocation: text, dropOffLocation: text, confirmationRequired: confirmationSchema.optional(), enRouteNews: z.boolean().optional() }),
  Status: event('Status', { deliveryId: ref, status: z.enum(['PickedUp', 'Delivered', 'Returned']) }),
  Fault: event('Fault', {}),
  Repair: event('Repair', {}),
} satisfies Contract<DroneEvents>;

const deliveryContract = {
  Create: event('Create', { request: deliveryRequest, droneId: ref, createdNews: z.boolean().optional() }),
  Reschedule: event('Reschedule', { changes: reschedule }),
  HeadedToPickup: event('HeadedToPickup', {}),
  PickedUp: event('PickedUp', {}),
  Confirm: event('Confirm', { confirmationType: confirmationSchema }),
  Cancel: event('Cancel', {}),
  RequestCancel: event('RequestCancel', {}),
  RequestReschedule: event('RequestReschedule', { changes: reschedule }),
  NotifyMe: event('NotifyMe', { url: z.string().max(MAX_WEBHOOK_URL_LENGTH) }),
} satisfies Contract<DeliveryEvents>;

const utilizationContract = {
  Open: event('Open', {}),
  Delivered: event('Delivered', { deliveryId: ref, at: z.iso.datetime() }),
} satisfies Contract<UtilizationEvents>;

/**
 * Machine type -> event type -> schema, for every machine of the suite: each app hands it to its
 * runtime (`contracts`), which checks every event against it before the handler runs.
 */
export const EVENT_CONTRACTS = {
  DeliveryRequest: deliveryRequestContract,
  DeliverySaga: sagaContract,
  Package: packageContract,
  Fleet: fleetContract,
  Drone: droneContract,
  Utilization: utilizationContract,
  Delivery: deliveryContract,
} as const satisfies Record<MachineType, object>;
