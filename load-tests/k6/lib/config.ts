// Shared configuration of the k6 scenarios, from k6's environment (`-e NAME=value`). The sizing and
// criteria built from it live in plain modules (load-profile.ts, thresholds.ts) that Node tests check.
import { positiveInteger, share, type IterationTiming } from './load-profile.ts';

export const BASE_URLS = {
  ingestion: __ENV.INGESTION_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3000`,
  workflow: __ENV.WORKFLOW_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3001`,
  delivery: __ENV.DELIVERY_URL ?? `${__ENV.BASE_URL ?? 'http://127.0.0.1'}:3004`,
};

/**
 * A customer API key acting for owners `owner-0` .. `owner-6` (every key of `npm start` and the
 * compose and local-overlay defaults does): `-e API_KEY=$TAILSPIN_CUSTOMER_KEY`.
 */
export const API_KEY = __ENV.API_KEY ?? __ENV.TAILSPIN_CUSTOMER_KEY ?? '';

/** Deliveries per second the arrival-rate scenarios arrive at (whole numbers: k6 arrival rates are). */
export const RATE = positiveInteger('RATE', __ENV.RATE, 20);
/** Length of the steady part of a scenario, as a k6 duration. */
export const DURATION = __ENV.DURATION ?? '1m';
/** How long one iteration waits for its delivery to end, its request timeout and poll pause. */
export const TIMING: IterationTiming = {
  completionTimeoutS: positiveInteger('COMPLETION_TIMEOUT_S', __ENV.COMPLETION_TIMEOUT_S, 120),
  pollIntervalS: 0.5,
  requestTimeoutS: positiveInteger('REQUEST_TIMEOUT_S', __ENV.REQUEST_TIMEOUT_S, 10),
};
/**
 * The end-to-end time of a slow delivery, for pre-allocating VUs (Little's law). A run on npm start
 * (FLEET_SIZE=200, legs 0-200 ms) saw iterations of 8-17 s at 10/s; raise it for slower stacks.
 */
export const EXPECTED_ITERATION_S = positiveInteger('EXPECTED_ITERATION_S', __ENV.EXPECTED_ITERATION_S, 20);
/** Share of requests repeated by the client (must create nothing) and cancelled right away. */
export const DUPLICATE_SHARE = share('DUPLICATE_SHARE', __ENV.DUPLICATE_SHARE, 0.1);
export const CANCEL_SHARE = share('CANCEL_SHARE', __ENV.CANCEL_SHARE, 0.05);
/** A run id to reuse (e.g. to find a run's deliveries in logs); a new one per run when unset. */
export const GIVEN_RUN_ID = __ENV.RUN_ID;
/** Where handleSummary writes `<script>-summary.json`. */
export const SUMMARY_DIR = __ENV.SUMMARY_DIR ?? '.';
