/** Per-second series of a chaos run, from timestamps: what the report charts. */

/** Nearest-rank percentile (`p` in 0-100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The second since `startMs` an epoch-ms time falls in (before the start counts as second 0). */
export const secondOf = (atMs: number, startMs: number): number => Math.max(0, Math.floor((atMs - startMs) / 1_000));

/** How many of the times fall in each second since `startMs`, for `seconds` seconds at least. */
export function countPerSecond(timesMs: readonly number[], startMs: number, seconds = 0): number[] {
  const counts = Array.from<number>({ length: seconds }).fill(0);
  for (const t of timesMs) {
    const s = secondOf(t, startMs);
    while (counts.length <= s) counts.push(0);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

/** A value observed at a time: a delivery's end-to-end latency at the second it was accepted. */
export interface TimedValue {
  readonly atMs: number;
  readonly value: number;
}

/**
 * For each second since `startMs`, the given percentiles of the values observed in it; null for a
 * second with none (a gap in the chart, not a zero latency).
 */
export function percentilesPerSecond(samples: readonly TimedValue[], startMs: number, ps: readonly number[], seconds = 0): Record<string, (number | null)[]> {
  const buckets: number[][] = Array.from({ length: seconds }, () => []);
  for (const { atMs, value } of samples) {
    const s = secondOf(atMs, startMs);
    while (buckets.length <= s) buckets.push([]);
    buckets[s]?.push(value);
  }
  return Object.fromEntries(ps.map((p) => [`p${p}`, buckets.map((b) => (b.length === 0 ? null : percentile(b, p)))]));
}
