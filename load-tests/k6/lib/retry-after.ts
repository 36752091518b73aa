// How long a client waits when the suite answers 429 (it is behind and refused new work): plain code
// shared by the k6 scripts, the Node load driver and their tests.

/**
 * Seconds a `Retry-After` header asks for: delay-seconds or an HTTP date, clamped to [0.1, `max`];
 * `fallback` when there is none or it cannot be read.
 */
export function retryAfterSeconds(header: string | undefined, nowMs: number, fallback = 1, max = 30): number {
  const clamp = (s: number) => Math.min(max, Math.max(0.1, s));
  if (header === undefined || header.trim() === '') return clamp(fallback);
  const value = header.trim();
  if (/^\d+$/.test(value)) return clamp(Number(value));
  // An HTTP date ("Sat, 28 Nov 2026 10:00:05 GMT"); anything else (Date.parse reads "-5" as a year) is unreadable.
  const date = /^[A-Za-z]{3}, /.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(date) ? clamp((date - nowMs) / 1_000) : clamp(fallback);
}
