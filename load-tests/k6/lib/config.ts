// Shared configuration and load profiles of the k6 scenarios, from k6's environment (`-e NAME=value`).
export const BASE_URLS = {
  ingestion: __ENV.INGESTION_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3000`,
  workflow: __ENV.WORKFLOW_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3001`,
  delivery: __ENV.DELIVERY_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3004`,
};

/** Deliveries per second the throughput-style scenarios arrive at. */
export const RATE = Number(__ENV.RATE ?? 20);
/** Length of the steady part of a scenario, as a k6 duration. */
export const DURATION = __ENV.DURATION ?? '1m';
/** How long one iteration waits for its delivery to finish. */
export const COMPLETION_TIMEOUT_S = Number(__ENV.COMPLETION_TIMEOUT_S ?? 120);
/** Share of requests repeated by the client (must create nothing) and cancelled right away. */
export const DUPLICATE_SHARE = Number(__ENV.DUPLICATE_SHARE ?? 0.1);
export const CANCEL_SHARE = Number(__ENV.CANCEL_SHARE ?? 0.05);

/** Virtual users for an arrival rate whose iterations last up to the completion timeout. */
export function vusFor(rate: number): { preAllocatedVUs: number; maxVUs: number } {
  return { preAllocatedVUs: Math.max(10, rate * 4), maxVUs: Math.max(50, rate * Math.min(COMPLETION_TIMEOUT_S, 60)) };
}
