import { defineMachine, type StepContext } from '#rsm';
import type { DroneEvents, FleetEvents, SagaEvents } from '#contracts';

export interface FleetData {
  /** Drones that can take a delivery now, in the order they became free. */
  idle: string[];
  /** Live assignments: deliveryId -> droneId. */
  assignments: Record<string, string>;
  /** Who each assigned or waiting delivery belongs to, and whether a saga waits for answers. */
  requests: Record<string, { ownerId: string; viaSaga: boolean }>;
  /** Deliveries waiting for a drone, oldest first. */
  waiting: string[];
  /** Completed deliveries per owner and month (`YYYY-MM`). */
  utilization: Record<string, Record<string, number>>;
  drones: string[];
  /** The flight watchdog handed to each drone with its reservation (the last Seed's). */
  watchdogMs?: number;
}

const drone = (id: string) => ({ type: 'Drone', id });

function assign(data: FleetData, ctx: StepContext, deliveryId: string): string | null {
  const existing = data.assignments[deliveryId];
  if (existing !== undefined) return existing;
  const request = data.requests[deliveryId] ?? { ownerId: '', viaSaga: false };
  const free = data.idle.shift();
  if (free === undefined) {
    if (!data.waiting.includes(deliveryId)) data.waiting.push(deliveryId);
    return null;
  }
  data.assignments[deliveryId] = free;
  ctx.send<DroneEvents>(drone(free), { type: 'Reserve', deliveryId, ownerId: request.ownerId, viaSaga: request.viaSaga, ...(data.watchdogMs !== undefined ? { watchdogMs: data.watchdogMs } : {}) });
  return free;
}

/**
 * The one place where drones are given to deliveries. Being a single machine, it has one writer at
 * a time however many drone-scheduler processes run, so no drone can be given to two live
 * deliveries; the Drone machine refuses a second reservation too, as a second line of defence.
 */
export const Fleet = defineMachine<FleetData, FleetEvents>()({
  type: 'Fleet',
  initial: 'Active',
  initialData: () => ({ idle: [], assignments: {}, requests: {}, waiting: [], utilization: {}, drones: [] }),
  states: {
    Active: {
      on: {
        Seed: (data, event, ctx) => {
          if (event.watchdogMs !== undefined) data.watchdogMs = event.watchdogMs;
          for (const id of event.droneIds) {
            if (data.drones.includes(id)) continue;
            data.drones.push(id);
            ctx.create<DroneEvents>(drone(id), { type: 'Commission' });
          }
        },
        AssignDrone: (data, event, ctx) => {
          data.requests[event.deliveryId] ??= { ownerId: event.ownerId, viaSaga: event.viaSaga };
          const droneId = assign(data, ctx, event.deliveryId);
          ctx.reply({ droneId, queued: droneId === null });
        },
        Release: (data, event, ctx) => {
          const droneId = data.assignments[event.deliveryId];
          data.waiting = data.waiting.filter((id) => id !== event.deliveryId);
          delete data.requests[event.deliveryId];
          // Whoever asked gets the answer: a saga waits for DroneReleased even when the assignment is
          // already gone (the drone delivered while the saga, lagging, accepted a cancel).
          const sagaWaits = ctx.sender?.type === 'DeliverySaga';
          if (droneId === undefined) {
            if (sagaWaits) ctx.send<SagaEvents>({ type: 'DeliverySaga', id: event.deliveryId }, { type: 'DroneReleased', droneId: null });
          } else {
            delete data.assignments[event.deliveryId];
            ctx.send<DroneEvents>(drone(droneId), { type: 'Release', deliveryId: event.deliveryId, viaSaga: sagaWaits });
          }
          ctx.reply({ released: droneId ?? null });
        },
        DroneAvailable: (data, event, ctx) => {
          if (Object.values(data.assignments).includes(event.droneId) || data.idle.includes(event.droneId)) return;
          data.idle.push(event.droneId);
          const next = data.waiting.shift();
          if (next !== undefined) assign(data, ctx, next);
        },
        ReservationRefused: (data, event, ctx) => {
          // The drone was not idle after all: give the delivery the next one.
          if (data.assignments[event.deliveryId] === event.droneId) {
            delete data.assignments[event.deliveryId];
            assign(data, ctx, event.deliveryId);
          }
        },
        DeliveryFinished: (data, event) => {
          if (data.assignments[event.deliveryId] === event.droneId) delete data.assignments[event.deliveryId];
          delete data.requests[event.deliveryId];
          const month = event.at.slice(0, 7);
          const owner = (data.utilization[event.ownerId] ??= {});
          owner[month] = (owner[month] ?? 0) + 1;
        },
      },
    },
  },
});
