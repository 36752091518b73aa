import type { ActivityOutcome, TimeoutEvent } from '#rsm';
import type { flyActivity, notifyActivity } from './refs.js';
import type { DeliveryRequest, DroneStatus, PackageUpsert, Reschedule } from './delivery-request.js';

export type ConfirmationKind = 'FingerPrint' | 'Picture' | 'Voice' | 'None';

/**
 * The events between the suite's machines, version 1. Each union is what one machine type accepts.
 * A sender addresses its receiver with the typed ref of `refs.ts`, which carries this union, so the
 * compiler checks every cross-service send (`ctx.send`, `ctx.create`, `RsmRuntime.send/create/request`):
 * an unknown event type or a wrong payload field does not compile.
 */

/**
 * `owners`: the customer's owner ids, checked by the machine against the request's owner (the
 * request is its creation event, so the check never races it); absent for operators.
 */
export type DeliveryRequestEvents =
  | { type: 'Submit'; request: DeliveryRequest }
  | { type: 'Cancel'; owners?: string[] }
  | { type: 'Reschedule'; changes: Reschedule; owners?: string[] }
  /** Is this the request the machine holds? Answers a repeated POST: same (202) or a conflict (422). */
  | { type: 'Check'; fingerprint: string };

export type SagaEvents =
  | { type: 'Start'; request: DeliveryRequest }
  | { type: 'Cancel'; source: string }
  | { type: 'Reschedule'; changes: Reschedule }
  | { type: 'PackageLinked'; packageId: string }
  | { type: 'PackageRejected'; packageId: string; reason: string }
  | { type: 'PackageUnlinked'; packageId: string }
  | { type: 'DroneAssigned'; droneId: string }
  | { type: 'DroneReleased'; droneId: string | null }
  | { type: 'DroneEnRoute'; droneId: string }
  /** `at`: when the drone picked the package up (sent by Drone v2; absent from v1 drones). */
  | { type: 'DronePickedUp'; droneId: string; at?: string }
  | { type: 'DeliveryCreated' }
  | { type: 'DeliveryCompleted' }
  | { type: 'DeliveryCancelled' }
  | TimeoutEvent<'deadline' | 'step'>;

/** `ownerId` of Register and Link: whose package it is (absent from events sent before owners existed). */
export type PackageEvents =
  | { type: 'Register'; info: PackageUpsert; ownerId?: string }
  | { type: 'Update'; changes: Partial<PackageUpsert>; owners?: string[] }
  | { type: 'Link'; deliveryId: string; ownerId?: string }
  | { type: 'Unlink'; deliveryId: string }
  | { type: 'PickedUp'; deliveryId: string }
  | { type: 'Delivered'; deliveryId: string };

export type FleetEvents =
  /** `watchdogMs`: how long a flight may go without news before the drone asks again (kept until the next Seed). */
  | { type: 'Seed'; droneIds: string[]; watchdogMs?: number }
  /** `viaSaga`: a saga asked and waits for the drone's answers; false for a booking over REST. */
  | { type: 'AssignDrone'; deliveryId: string; ownerId: string; viaSaga: boolean }
  | { type: 'Release'; deliveryId: string }
  /**
   * A drone is free. `finished`: the delivery it flew and has just come back from; that assignment
   * ends with this event (drones from before it existed sent DeliveryFinished at drop-off instead).
   */
  | { type: 'DroneAvailable'; droneId: string; finished?: string }
  /** A drone released over REST ends its booking (sent before its DroneAvailable). */
  | { type: 'BookingReleased'; droneId: string; deliveryId: string }
  /** The refused reservation's owner and booking kind come back, since the Fleet keeps them only while a delivery waits. */
  | { type: 'ReservationRefused'; droneId: string; deliveryId: string; ownerId?: string; viaSaga?: boolean }
  /** Sent at drop-off by drones from before DroneAvailable carried `finished`; still handled for them. */
  | { type: 'DeliveryFinished'; droneId: string; deliveryId: string; ownerId: string; at: string };

/** Completed deliveries of one owner (machine id: the owner id), per month. */
export type UtilizationEvents = { type: 'Open' } | { type: 'Delivered'; deliveryId: string; at: string };

export type DroneEvents =
  | { type: 'Commission' }
  | { type: 'Reserve'; deliveryId: string; ownerId: string; viaSaga: boolean; watchdogMs?: number }
  /** `viaSaga`: the saga's compensation (through the Fleet); false: a booking released over REST, answered to its caller. */
  | { type: 'Release'; deliveryId: string; viaSaga: boolean }
  /**
   * `enRouteNews: false`: the saga told the delivery itself that the drone is on its way, and wants
   * no `DroneEnRoute` (absent, from a saga before it: the drone sends one).
   */
  | { type: 'Dispatch'; deliveryId: string; pickupLocation: string; dropOffLocation: string; confirmationRequired?: ConfirmationKind; enRouteNews?: boolean }
  | ({ type: 'Status' } & DroneStatus)
  | { type: 'Fault' }
  | { type: 'Repair' }
  | TimeoutEvent<'watchdog'>
  | ActivityOutcome<typeof flyActivity>;

export type DeliveryEvents =
  /**
   * `createdNews: false`: the saga dispatched the drone in the step that asked for this delivery,
   * and wants no `DeliveryCreated` (absent, from a saga before it: the delivery sends one).
   */
  | { type: 'Create'; request: DeliveryRequest; droneId: string; createdNews?: boolean }
  | { type: 'Reschedule'; changes: Reschedule }
  | { type: 'HeadedToPickup' }
  | { type: 'PickedUp' }
  | { type: 'Confirm'; confirmationType: ConfirmationKind }
  | { type: 'Cancel' }
  | { type: 'RequestCancel' }
  | { type: 'RequestReschedule'; changes: Reschedule }
  | { type: 'NotifyMe'; url: string }
  | ActivityOutcome<typeof notifyActivity>;
