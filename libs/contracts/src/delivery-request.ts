import { z } from 'zod';

/** Version of the contracts below; bumped on an incompatible change. */
export const CONTRACTS_VERSION = 1;

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (at most 64)');
const isoDate = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time' });

export const packageSizeSchema = z.enum(['Small', 'Medium', 'Large']);
export const confirmationSchema = z.enum(['FingerPrint', 'Picture', 'Voice', 'None']);

export const packageInfoSchema = z.object({
  packageId: id,
  size: packageSizeSchema,
  weight: z.number().positive().max(1_000),
  tag: z.string().max(200),
});

/** `POST /api/deliveryrequests`: the original TailSpin shape. */
export const deliveryRequestSchema = z
  .object({
    deliveryId: id.optional(),
    ownerId: z.string().min(1).max(100),
    pickupLocation: z.string().min(1).max(500),
    dropOffLocation: z.string().min(1).max(500),
    pickupTime: isoDate,
    deadline: isoDate,
    expedited: z.boolean(),
    confirmationRequired: confirmationSchema,
    packageInfo: packageInfoSchema,
  })
  .strict()
  .meta({ id: 'DeliveryRequest' });

export type DeliveryRequestDto = z.infer<typeof deliveryRequestSchema>;
/** A delivery request once it has its id. */
export type DeliveryRequest = DeliveryRequestDto & { deliveryId: string };

/** `PATCH /api/deliveryrequests/:id` and `PATCH /api/deliveries/:id`: a reschedule. */
export const rescheduleSchema = z
  .object({
    pickupLocation: z.string().min(1).max(500).optional(),
    dropOffLocation: z.string().min(1).max(500).optional(),
    pickupTime: isoDate.optional(),
    deadline: isoDate.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, 'at least one field to change')
  .meta({ id: 'Reschedule' });
export type Reschedule = z.infer<typeof rescheduleSchema>;

/** `PUT /api/packages/:id` and `PATCH /api/packages/:id`. */
export const packageUpsertSchema = z.object({ size: packageSizeSchema, weight: z.number().positive().max(1_000), tag: z.string().max(200) }).strict().meta({ id: 'PackageUpsert' });
export const packagePatchSchema = packageUpsertSchema.partial().strict().meta({ id: 'PackagePatch' });
export type PackageUpsert = z.infer<typeof packageUpsertSchema>;

/** `POST /api/deliveries/:id/confirmations`. */
export const confirmationBodySchema = z
  .object({ confirmationType: confirmationSchema, confirmationBlob: z.string().max(10_000).default('') })
  .strict()
  .meta({ id: 'Confirmation' });

/** `POST /api/deliveries/:id/notifymerequests`. */
export const notifyMeSchema = z.object({ url: z.url({ protocol: /^https?$/ }) }).strict().meta({ id: 'NotifyMeRequest' });

/** `POST /api/drones/:id/status`: what a drone (the simulator) reports. */
export const droneStatusSchema = z
  .object({ deliveryId: id, status: z.enum(['PickedUp', 'Delivered', 'Returned']) })
  .strict()
  .meta({ id: 'DroneStatus' });
export type DroneStatus = z.infer<typeof droneStatusSchema>;

/** `PUT /api/dronedeliveries/:deliveryId`. */
export const droneDeliverySchema = z.object({ ownerId: z.string().min(1).max(100) }).strict().meta({ id: 'DroneDelivery' });

/** `POST /api/flights` on the simulator: a drone to fly (called by the Drone's `fly` activity). */
export const flightSchema = z
  .object({
    droneId: id,
    deliveryId: id,
    pickupLocation: z.string(),
    dropOffLocation: z.string(),
    /** Where to (re)start: a lost flight is resumed from the drone's current state. */
    from: z.enum(['EnRouteToPickup', 'EnRouteToDropoff', 'Returning']).default('EnRouteToPickup'),
  })
  .strict()
  .meta({ id: 'Flight' });
export type Flight = z.infer<typeof flightSchema>;

export const utilizationQuerySchema = z.object({
  ownerId: z.string().min(1),
  year: z.coerce.number().int().min(2000).max(3000),
  month: z.coerce.number().int().min(1).max(12),
});
