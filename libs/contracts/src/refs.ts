import type { ActivityRef, MachineRef } from '#rsm';
import type { ConfirmationKind, DeliveryEvents, DeliveryRequestEvents, DroneEvents, FleetEvents, PackageEvents, SagaEvents, UtilizationEvents } from './events.js';
import { FLEET_ID } from './routes.js';

/**
 * Typed references to the suite's machines, for the services that send to them: each carries the
 * union of events its machine accepts, so `ctx.send(sagaRef(id), event)` checks the event against
 * the saga's events at compile time. The owning service's definition (`DeliverySaga.ref(id)`) gives
 * the same type and id, plus replies and data; the suite's unit tests check that the types agree.
 */
export const MACHINE_TYPES = {
  deliveryRequest: 'DeliveryRequest',
  saga: 'DeliverySaga',
  package: 'Package',
  fleet: 'Fleet',
  drone: 'Drone',
  utilization: 'Utilization',
  delivery: 'Delivery',
} as const;

export const deliveryRequestRef = (id: string): MachineRef<DeliveryRequestEvents> => ({ type: MACHINE_TYPES.deliveryRequest, id });
export const sagaRef = (deliveryId: string): MachineRef<SagaEvents> => ({ type: MACHINE_TYPES.saga, id: deliveryId });
export const packageRef = (packageId: string): MachineRef<PackageEvents> => ({ type: MACHINE_TYPES.package, id: packageId });
/** The one Fleet machine. */
export const fleetRef: MachineRef<FleetEvents> = { type: MACHINE_TYPES.fleet, id: FLEET_ID };
export const droneRef = (droneId: string): MachineRef<DroneEvents> => ({ type: MACHINE_TYPES.drone, id: droneId });
/** Completed deliveries of one owner (id: the owner id). */
export const utilizationRef = (ownerId: string): MachineRef<UtilizationEvents> => ({ type: MACHINE_TYPES.utilization, id: ownerId });
export const deliveryRef = (deliveryId: string): MachineRef<DeliveryEvents> => ({ type: MACHINE_TYPES.delivery, id: deliveryId });

/**
 * What a Drone asks the simulator to fly. The fields are the drone's (a drone that lost its booking
 * has nulls); the simulator validates it against `flightSchema`.
 */
export type FlightRequest = {
  droneId: string;
  deliveryId: string | null;
  pickupLocation: string | null;
  dropOffLocation: string | null;
  confirmationRequired: ConfirmationKind;
  from: 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning';
};

/** The Drone's activity that hands a flight to the simulator; its output is the simulator's HTTP status. */
export const flyActivity: ActivityRef<'fly', FlightRequest, { status: number }> = { name: 'fly' };

/** The webhook a customer registered, called when a delivery completes. */
export type NotifyRequest = { url: string; deliveryId: string; stage: string };
/** The Delivery's activity that calls a customer's webhook; its output is the webhook's HTTP status (0: dropped). */
export const notifyActivity: ActivityRef<'notify', NotifyRequest, { status: number }> = { name: 'notify' };
