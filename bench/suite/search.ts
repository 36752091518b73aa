/**
 * How `bench:suite` finds the highest rate the suite sustains, apart from the trials themselves,
 * so the search can be tested with made-up outcomes.
 */

/** A trial's outcome as the search needs it. */
export interface RateOutcome {
  readonly rate: number;
  readonly sustained: boolean;
}

export interface SearchBounds {
  /** The first rate tried; the search doubles from it. */
  readonly startRate: number;
  /** No rate above this is tried while doubling. */
  readonly maxRate: number;
  /** Bisection steps between the last sustained rate and the first that was not. */
  readonly bisect: number;
  /**
   * Times the maximum may move up because twice it was sustained after all (the check of
   * twice the maximum doubles as a probe above it).
   */
  readonly climbs: number;
}

export interface SearchResult<T extends RateOutcome> {
  /** The highest rate sustained (undefined: not even the start rate). */
  readonly max: T | undefined;
  /** The trial at twice `max` (not sustained, unless the climbs ran out). */
  readonly overload: T | undefined;
  /** Rates at which twice the maximum was sustained, making it the new maximum. */
  readonly climbed: readonly number[];
}

/**
 * Doubles from the start rate until a rate is not sustained, bisects between the last one that
 * was and that one, then tries twice the maximum (the overload figure). Near the acceptance bound
 * one trial's p99 varies so much on a loaded machine that a rate can fail while twice it passes;
 * a sustained rate is sustained, so twice the maximum passing makes it the maximum, and twice
 * that is tried, at most `climbs` times.
 *
 * `attempt` runs a rate with its retries (sustained if any try was); `once` runs it once.
 */
export async function searchMaxRate<T extends RateOutcome>(
  bounds: SearchBounds,
  attempt: (rate: number) => Promise<T>,
  once: (rate: number) => Promise<T>,
  log: (line: string) => void = () => undefined,
): Promise<SearchResult<T>> {
  let good: T | undefined;
  let bad: number | undefined;
  for (let rate = bounds.startRate; rate <= bounds.maxRate; rate *= 2) {
    const t = await attempt(rate);
    if (!t.sustained) {
      bad = rate;
      break;
    }
    good = t;
  }
  for (let step = 0; step < bounds.bisect && bad !== undefined; step += 1) {
    const low = good?.rate ?? 0;
    const rate = Math.round((low + bad) / 2);
    if (rate <= low || rate >= bad) break;
    const t = await attempt(rate);
    if (t.sustained) good = t;
    else bad = rate;
  }
  if (good === undefined)
    return { max: undefined, overload: undefined, climbed: [] };
  const climbed: number[] = [];
  let overload = await once(good.rate * 2);
  while (overload.sustained && climbed.length < bounds.climbs) {
    log(
      `twice the maximum (${overload.rate}/s) was sustained: it is the maximum, and ${overload.rate * 2}/s is tried`,
    );
    climbed.push(overload.rate);
    good = overload;
    overload = await once(good.rate * 2);
  }
  return { max: good, overload, climbed };
}
