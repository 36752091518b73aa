import { z } from 'zod';

/** Version of the contracts below; bumped on an incompatible change. */
export const CONTRACTS_VERSION = 1;

/** Every id of the API (deliveries, packages, drones, owners): an explicit charset, at most 64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const idSchema = z.string().regex(ID_PATTERN, 'letters, digits, _ . - (at most 64, starting with a letter or digit)');
const id = idSchema;
/**
 * A date-time with its offset, as `Date.parse` reads it. Bounded: the format allows any number of
 * fraction digits, and the text is copied into the data of three machines, written on every step.
 */
export const isoDate = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time' }).max(40);
/** The tag a package carries (free text). */
export const MAX_TAG_LENGTH = 200;
/** The longest wait a Node timer keeps (about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;
/**
 * The longest flight watchdog a Fleet hands its drones: each watchdog without progress waits up to
 * 8 times the first, and a timer waits at most MAX_TIMER_MS.
 */
export const MAX_WATCHDOG_MS = Math.floor(MAX_TIMER_MS / 8);
/** Free text stored with a delivery: bounded, and never empty where it names a place. */
const place = z.string().trim().min(1).max(500);

/** Heavier packages are refused: a drone cannot lift them. The API says so at once (400), the Package machine too. */
export const MAX_WEIGHT_KG = 100;
const weight = z.number().positive().max(MAX_WEIGHT_KG, `at most ${MAX_WEIGHT_KG} kg: a drone cannot lift more`);

/** How far ahead a delivery may be booked, and how long its window may be. */
export const MAX_BOOKING_AHEAD_MS = 365 * 24 * 3_600_000;
export const MAX_DELIVERY_WINDOW_MS = 30 * 24 * 3_600_000;
/** A pickup time may lie this far in the past (a client clock behind ours, a request retried late). */
export const PICKUP_GRACE_MS = 24 * 3_600_000;

/**
 * The time rules of a delivery: the deadline after the pickup time and not in the past, both
 * within a booking horizon. Checked at intake so that no request is accepted only to fail later.
 */
export function timeIssues(times: { pickupTime?: string | undefined; deadline?: string | undefined }, now = Date.now()): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const pickup = times.pickupTime === undefined ? undefined : Date.parse(times.pickupTime);
  const deadline = times.deadline === undefined ? undefined : Date.parse(times.deadline);
  if (pickup !== undefined && pickup < now - PICKUP_GRACE_MS) issues.push({ path: 'pickupTime', message: 'more than a day in the past' });
  if (pickup !== undefined && pickup > now + MAX_BOOKING_AHEAD_MS) issues.push({ path: 'pickupTime', message: 'more than a year ahead' });
  if (deadline !== undefined && deadline <= now) issues.push({ path: 'deadline', message: 'in the past' });
  if (pickup !== undefined && deadline !== undefined) {
    if (deadline <= pickup) issues.push({ path: 'deadline', message: 'not after pickupTime' });
    else if (deadline - pickup > MAX_DELIVERY_WINDOW_MS) issues.push({ path: 'deadline', message: 'more than 30 days after pickupTime' });
  }
  return issues;
}

export const packageSizeSchema = z.enum(['Small', 'Medium', 'Large']);
export const confirmationSchema = z.enum(['FingerPrint', 'Picture', 'Voice', 'None']);

export const packageInfoSchema = z
  .object({
    packageId: id,
    size: packageSizeSchema,
    weight,
    tag: z.string().max(MAX_TAG_LENGTH),
  })
  .strict();

/** `POST /api/deliveryrequests`: the original TailSpin shape. */
export const deliveryRequestSchema = z
  .object({
    deliveryId: id.optional(),
    ownerId: id,
    pickupLocation: place,
    dropOffLocation: place,
    pickupTime: isoDate,
    deadline: isoDate,
    expedited: z.boolean(),
    confirmationRequired: confirmationSchema,
    packageInfo: packageInfoSchema,
  })
  .strict()
  .superRefine((value, ctx) => {
    for (const issue of timeIssues(value)) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  })
  .meta({ id: 'DeliveryRequest' });

export type DeliveryRequestDto = z.infer<typeof deliveryRequestSchema>;
/** A delivery request once it has its id. */
export type DeliveryRequest = DeliveryRequestDto & { deliveryId: string };

/** `PATCH /api/deliveryrequests/:id` and `PATCH /api/deliveries/:id`: a reschedule. */
export const rescheduleSchema = z
  .object({
    pickupLocation: place.optional(),
    dropOffLocation: place.optional(),
    pickupTime: isoDate.optional(),
    deadline: isoDate.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, 'at least one field to change')
  .superRefine((value, ctx) => {
    for (const issue of timeIssues(value)) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  })
  .meta({ id: 'Reschedule' });
export type Reschedule = z.infer<typeof rescheduleSchema>;

/** `PUT /api/packages/:id` and `PATCH /api/packages/:id`. */
export const packageUpsertSchema = z.object({ size: packageSizeSchema, weight, tag: z.string().max(MAX_TAG_LENGTH) }).strict().meta({ id: 'PackageUpsert' });
export const packagePatchSchema = packageUpsertSchema
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, 'at least one field to change')
  .meta({ id: 'PackagePatch' });
export type PackageUpsert = z.infer<typeof packageUpsertSchema>;
/** `PUT /api/packages/:id`: a customer key with several owners names the one the package is for. */
export const packagePutSchema = packageUpsertSchema.extend({ ownerId: id.optional() }).strict().meta({ id: 'PackagePut' });
export type PackagePut = z.infer<typeof packagePutSchema>;

/** `POST /api/deliveries/:id/confirmations`. */
export const confirmationBodySchema = z
  .object({ confirmationType: confirmationSchema, confirmationBlob: z.string().max(10_000).default('') })
  .superRefine((value, ctx) => {
    if (value.confirmationType !== 'None' && value.confirmationBlob.trim() === '') ctx.addIssue({ code: 'custom', path: ['confirmationBlob'], message: `a ${value.confirmationType} confirmation carries its evidence` });
  })
  .strict()
  .meta({ id: 'Confirmation' });

/** The most owners one customer key may act for: the events that carry a caller's owners take no more. */
export const MAX_OWNERS_PER_KEY = 100;

/** The longest webhook URL: what the Delivery's `NotifyMe` event takes, so a longer one is a 400 here, not a refused event. */
export const MAX_WEBHOOK_URL_LENGTH = 2_000;

/** `POST /api/deliveries/:id/notifymerequests`; where it may point is checked by the delivery service (no private addresses). */
export const notifyMeSchema = z
  .object({ url: z.url({ protocol: /^https?$/ }).max(MAX_WEBHOOK_URL_LENGTH) })
  .strict()
  .meta({ id: 'NotifyMeRequest' });

/** `POST /api/drones/:id/status`: what a drone (the simulator) reports. */
export const droneStatusSchema = z
  .object({ deliveryId: id, status: z.enum(['PickedUp', 'Delivered', 'Returned']) })
  .strict()
  .meta({ id: 'DroneStatus' });
export type DroneStatus = z.infer<typeof droneStatusSchema>;

/** `PUT /api/dronedeliveries/:deliveryId`. */
export const droneDeliverySchema = z.object({ ownerId: id }).strict().meta({ id: 'DroneDelivery' });

/** `POST /api/flights` on the simulator: a drone to fly (called by the Drone's `fly` activity). */
export const flightSchema = z
  .object({
    droneId: id,
    deliveryId: id,
    pickupLocation: z.string().max(500),
    dropOffLocation: z.string().max(500),
    /** What the drop-off confirmation must be (older drones send none: None). */
    confirmationRequired: confirmationSchema.default('None'),
    /** Where to (re)start: a lost flight is resumed from the drone's current state. */
    from: z.enum(['EnRouteToPickup', 'EnRouteToDropoff', 'Returning']).default('EnRouteToPickup'),
  })
  .strict()
  .meta({ id: 'Flight' });
export type Flight = z.infer<typeof flightSchema>;

export const utilizationQuerySchema = z.object({
  ownerId: id,
  year: z.coerce.number().int().min(2000).max(3000),
  month: z.coerce.number().int().min(1).max(12),
});

/** The `Idempotency-Key` header: bounded printable ASCII (it is hashed into a delivery id). */
export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,200}$/, '1-200 printable ASCII characters').optional();

/** `?limit=&after=` of every list route. */
export const pageQuerySchema = z.object({ after: id.optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) }).strict();

/**
 * What a reschedule's changes break in the request they change, as earlier reschedules left it: the
 * time rules of {@link timeIssues} on the merged times, reported only for the fields the changes
 * touch (a deadline moved by a new pickup time counts as touched).
 */
export function rescheduleIssues(current: { pickupTime?: string | undefined; deadline?: string | undefined } | null, changes: Reschedule, now: number): { path: string; message: string }[] {
  const merged = { pickupTime: changes.pickupTime ?? current?.pickupTime, deadline: changes.deadline ?? current?.deadline };
  return timeIssues(merged, now).filter((issue) => issue.path in changes || (issue.path === 'deadline' && changes.pickupTime !== undefined));
}

/** A request with a reschedule's changes applied: only the four fields a reschedule may change are read. */
export function applyReschedule<R extends { pickupLocation: string; dropOffLocation: string; pickupTime: string; deadline: string }>(request: R, changes: Reschedule): R {
  return {
    ...request,
    ...(typeof changes.pickupLocation === 'string' ? { pickupLocation: changes.pickupLocation } : {}),
    ...(typeof changes.dropOffLocation === 'string' ? { dropOffLocation: changes.dropOffLocation } : {}),
    ...(typeof changes.pickupTime === 'string' ? { pickupTime: changes.pickupTime } : {}),
    ...(typeof changes.deadline === 'string' ? { deadline: changes.deadline } : {}),
  };
}
