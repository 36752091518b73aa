/** The services of the suite and the machine types each owns: the routing table of every app. */
export const SERVICES = ['ingestion', 'workflow', 'package', 'drone-scheduler', 'delivery', 'drone-sim'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const DEFAULT_PORTS: Record<ServiceName, number> = {
  ingestion: 3000,
  workflow: 3001,
  package: 3002,
  'drone-scheduler': 3003,
  delivery: 3004,
  'drone-sim': 3005,
};

/** Machine type -> owning service. Every app passes this to `RsmModule` as its routes. */
export const MACHINE_ROUTES = {
  DeliveryRequest: 'ingestion',
  DeliverySaga: 'workflow',
  Package: 'package',
  Fleet: 'drone-scheduler',
  Drone: 'drone-scheduler',
  Utilization: 'drone-scheduler',
  Delivery: 'delivery',
} as const satisfies Record<string, ServiceName>;

export type MachineType = keyof typeof MACHINE_ROUTES;

/** The one Fleet machine that decides which drone serves which delivery. */
export const FLEET_ID = 'fleet';

export type DeliveryStage = 'Created' | 'Rescheduled' | 'HeadedToPickup' | 'HeadedToDropoff' | 'Completed' | 'Cancelled';

/** The stage paths a delivery may take; the Delivery machine keeps to them and the verifier checks them. */
export const DELIVERY_TRANSITIONS: Readonly<Record<DeliveryStage, readonly DeliveryStage[]>> = {
  Created: ['Rescheduled', 'HeadedToPickup', 'Cancelled'],
  Rescheduled: ['Rescheduled', 'HeadedToPickup', 'Cancelled'],
  HeadedToPickup: ['HeadedToDropoff', 'Cancelled'],
  HeadedToDropoff: ['Completed'],
  Completed: [],
  Cancelled: [],
};

/** Saga states after which nothing more happens to a delivery. */
export const TERMINAL_SAGA_STATES = ['Completed', 'Failed', 'Cancelled'] as const;
