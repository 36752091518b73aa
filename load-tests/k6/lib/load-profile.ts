// How a k6 scenario is sized, as plain code: no k6 import and no __ENV, so the k6 scripts and the
// Node tests (test/load) run the same functions. Kept free of imports: k6 loads `.ts` files by
// that name and Node by `.js`, so a shared module cannot name a sibling both ways.

/** How long one delivery iteration can take: the parts the script waits on. */
export interface IterationTiming {
  /** How long an iteration waits for its delivery to finish, counted from just before its submit. */
  readonly completionTimeoutS: number;
  /** Pause between two polls of the delivery's state. */
  readonly pollIntervalS: number;
  /** Timeout of every HTTP request the iteration makes. */
  readonly requestTimeoutS: number;
}

/** Virtual users of an arrival-rate scenario. */
export interface VuSizing {
  readonly preAllocatedVUs: number;
  readonly maxVUs: number;
}

/**
 * The longest an iteration can last. The poll loop stops at the completion deadline, but the last
 * poll may start just before it (after one pause) and take a whole request timeout; the submit,
 * duplicate and cancel requests before the loop take at most three request timeouts.
 */
export function longestIterationS(t: IterationTiming): number {
  return Math.max(t.completionTimeoutS + t.pollIntervalS + t.requestTimeoutS, 3 * t.requestTimeoutS);
}

/**
 * Little's law: iterations in flight = arrival rate x time in the system. Pre-allocate for the
 * iterations we expect (`expectedIterationS`, e.g. a slow delivery's end-to-end time), so k6 does not
 * start VUs mid-test; allow up to the worst case, every iteration running to its timeout, so an
 * arrival is dropped only when the stack stops finishing deliveries altogether.
 */
export function vusFor(rate: number, expectedIterationS: number, t: IterationTiming): VuSizing {
  const maxVUs = Math.ceil(rate * longestIterationS(t));
  const preAllocatedVUs = Math.min(maxVUs, Math.max(1, Math.ceil(rate * expectedIterationS)));
  return { preAllocatedVUs, maxVUs };
}

/**
 * How long k6 lets running iterations finish after the scenario's duration: longer than the
 * longest iteration, so an accepted delivery is always followed to its end (or its timeout) and
 * never cut off uncounted. The margin covers k6's own scheduling.
 */
export function gracefulStopS(t: IterationTiming): number {
  return Math.ceil(longestIterationS(t)) + 10;
}

/** A `constant-arrival-rate` scenario (its fields as k6 names them). */
export interface ConstantArrivalScenario extends VuSizing {
  readonly executor: 'constant-arrival-rate';
  readonly rate: number;
  readonly timeUnit: '1s';
  readonly duration: string;
  readonly gracefulStop: string;
}

/** A `ramping-arrival-rate` scenario: up to the rate over `duration`, then held for as long. */
export interface RampingArrivalScenario extends VuSizing {
  readonly executor: 'ramping-arrival-rate';
  readonly startRate: number;
  readonly timeUnit: '1s';
  readonly stages: { target: number; duration: string }[];
  readonly gracefulStop: string;
}

export interface ArrivalProfile {
  /** Iterations (deliveries) per second. */
  readonly rate: number;
  /** A k6 duration: the steady part (constant) or each of ramp and hold (ramping). */
  readonly duration: string;
  readonly expectedIterationS: number;
  readonly timing: IterationTiming;
}

export function constantArrival(p: ArrivalProfile): ConstantArrivalScenario {
  return { executor: 'constant-arrival-rate', rate: p.rate, timeUnit: '1s', duration: p.duration, ...vusFor(p.rate, p.expectedIterationS, p.timing), gracefulStop: `${gracefulStopS(p.timing)}s` };
}

export function rampingArrival(p: ArrivalProfile): RampingArrivalScenario {
  return {
    executor: 'ramping-arrival-rate',
    startRate: 1,
    timeUnit: '1s',
    stages: [
      { target: p.rate, duration: p.duration },
      { target: p.rate, duration: p.duration },
    ],
    ...vusFor(p.rate, p.expectedIterationS, p.timing),
    gracefulStop: `${gracefulStopS(p.timing)}s`,
  };
}

/** A `shared-iterations` scenario: a fixed number of iterations over a few VUs. */
export interface SharedIterationsScenario {
  readonly executor: 'shared-iterations';
  readonly vus: number;
  readonly iterations: number;
  readonly maxDuration: string;
  readonly gracefulStop: string;
}

/**
 * Long enough for every iteration to run to its timeout one VU after another (k6 cuts the rest off
 * at `maxDuration`, and a cut-off iteration would never end).
 */
export function sharedIterations(vus: number, iterations: number, t: IterationTiming): SharedIterationsScenario {
  const rounds = Math.ceil(iterations / vus);
  return { executor: 'shared-iterations', vus, iterations, maxDuration: `${Math.ceil(rounds * longestIterationS(t)) + 10}s`, gracefulStop: `${gracefulStopS(t)}s` };
}

/**
 * A positive whole number from the environment, or the fallback when unset. k6 arrival rates are
 * whole iterations per time unit; a typo (`RATE=2O`) must stop the run, not become NaN VUs.
 */
export function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got "${text}"`);
  return value;
}

/** A share between 0 and 1 from the environment, or the fallback when unset. */
export function share(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new Error(`${name} must be between 0 and 1, got "${text}"`);
  return value;
}
