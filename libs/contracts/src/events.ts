import type { ActivityCompleted, ActivityFailed, TimeoutEvent } from '#rsm';
import type { DeliveryRequest, DroneStatus, PackageUpsert, Reschedule } from './delivery-request.js';

/**
 * The events between the suite's machines, version 1. Each union is what one machine type accepts;
 * a sender imports the union of its receiver, so the compiler checks every cross-service send.
 */

export type DeliveryRequestEvents =
  | { type: 'Submit'; request: DeliveryRequest }
  | { type: 'Cancel' }
  | { type: 'Reschedule'; changes: Reschedule };

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
  | { type: 'DronePickedUp'; droneId: string }
  | { type: 'DeliveryCreated' }
  | { type: 'DeliveryCompleted' }
  | { type: 'DeliveryCancelled' }
  | TimeoutEvent<'deadline' | 'step'>;

export type PackageEvents =
  | { type: 'Register'; info: PackageUpsert }
  | { type: 'Update'; changes: Partial<PackageUpsert> }
  | { type: 'Link'; deliveryId: string }
  | { type: 'Unlink'; deliveryId: string }
  | { type: 'PickedUp'; deliveryId: string }
  | { type: 'Delivered'; deliveryId: string };

export type FleetEvents =
  /** `watchdogMs`: how long a flight may go without news before the drone asks again (kept until the next Seed). */
  | { type: 'Seed'; droneIds: string[]; watchdogMs?: number }
  /** `viaSaga`: a saga asked and waits for the drone's answers; false for a booking over REST. */
  | { type: 'AssignDrone'; deliveryId: string; ownerId: string; viaSaga: boolean }
  | { type: 'Release'; deliveryId: string }
  | { type: 'DroneAvailable'; droneId: string }
  | { type: 'ReservationRefused'; droneId: string; deliveryId: string }
  | { type: 'DeliveryFinished'; droneId: string; deliveryId: string; ownerId: string; at: string };

export type DroneEvents =
  | { type: 'Commission' }
  | { type: 'Reserve'; deliveryId: string; ownerId: string; viaSaga: boolean; watchdogMs?: number }
  | { type: 'Release'; deliveryId: string; viaSaga: boolean }
  | { type: 'Dispatch'; deliveryId: string; pickupLocation: string; dropOffLocation: string }
  | ({ type: 'Status' } & DroneStatus)
  | { type: 'Fault' }
  | { type: 'Repair' }
  | TimeoutEvent<'watchdog'>
  | ActivityCompleted<'fly'>
  | ActivityFailed<'fly'>;

export type DeliveryEvents =
  | { type: 'Create'; request: DeliveryRequest; droneId: string }
  | { type: 'Reschedule'; changes: Reschedule }
  | { type: 'HeadedToPickup' }
  | { type: 'PickedUp' }
  | { type: 'Confirm'; confirmationType: string }
  | { type: 'Cancel' }
  | { type: 'RequestCancel' }
  | { type: 'NotifyMe'; url: string }
  | ActivityCompleted<'notify'>
  | ActivityFailed<'notify'>;
