// Delivery ids unique per run, as plain code shared by the k6 scripts and the Node tests. A second
// run that reused the first run's ids would get `202 created:false` for every submit and then count
// the first run's deliveries as its own; a run id in every id keeps runs apart.

/** What intake accepts as an id (libs/contracts delivery-request.ts). */
export const DELIVERY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The scripts' package id is `pkg-<deliveryId>`, which must be an id too. */
const MAX_DELIVERY_ID_LENGTH = 64 - 'pkg-'.length;
const RUN_ID = /^[a-z0-9]{1,20}$/;

/**
 * A new run id: the start time in base 36 and four random base-36 digits, so two runs started in
 * the same millisecond (two k6 instances) still differ. `random` is a number in [0, 1).
 */
export function newRunId(nowMs: number, random: number): string {
  return `${Math.floor(nowMs).toString(36)}${Math.floor(random * 36 ** 4)
    .toString(36)
    .padStart(4, '0')}`;
}

/** The run id to use: `RUN_ID` from the environment if given (checked), else a new one. */
export function runIdFrom(given: string | undefined, nowMs: number, random: number): string {
  if (given === undefined || given === '') return newRunId(nowMs, random);
  if (!RUN_ID.test(given)) throw new Error(`RUN_ID must be 1-20 lowercase letters or digits, got "${given}"`);
  return given;
}

/**
 * The id of one iteration's delivery: `<prefix>-<runId>-<iteration>`, where `iteration` is unique
 * in the run (k6's `exec.scenario.iterationInTest`). Throws rather than submit an id ingestion
 * would refuse with a 400.
 */
export function deliveryId(prefix: string, runId: string, iteration: number): string {
  const id = `${prefix}-${runId}-${iteration}`;
  if (!DELIVERY_ID.test(id) || id.length > MAX_DELIVERY_ID_LENGTH) throw new Error(`not a valid delivery id: "${id}"`);
  return id;
}
