import { retryAfterSeconds } from '../../k6/lib/retry-after.js';

/**
 * A small open-loop load driver with the k6 scenarios' shape (constant arrival rate, some
 * duplicated and some cancelled requests), for machines without k6 and for tests. A client whose
 * request fails (an app restarting) retries with the same deliveryId, which is safe: intake is
 * idempotent.
 */
export interface LoadOptions {
  readonly ingestionUrl: string;
  readonly rate: number;
  readonly durationS: number;
  readonly duplicateShare: number;
  readonly cancelShare: number;
  readonly prefix: string;
  /** A customer API key acting for owner `chaos`. */
  readonly customerKey: string;
  /** How long a client keeps retrying one request. */
  readonly retryForMs?: number;
}

export interface LoadResult {
  /** Delivery ids that got a 202. */
  readonly accepted: Set<string>;
  /** Per second since start: requests accepted. */
  readonly acceptedPerSecond: number[];
  /** Per second since start: attempts refused (an answer other than 202, or no connection). */
  readonly refusedPerSecond: number[];
  /** Epoch ms of each accepted delivery's first attempt, for end-to-end latency. */
  readonly firstAttemptAt: Map<string, number>;
  readonly acceptanceLatenciesMs: number[];
  readonly attempts: number;
  readonly gaveUp: number;
  readonly startedAt: number;
}

function body(id: string): string {
  const now = Date.now();
  return JSON.stringify({
    deliveryId: id, ownerId: 'chaos', pickupLocation: 'Seattle', dropOffLocation: 'Redmond',
    pickupTime: new Date(now).toISOString(), deadline: new Date(now + 30 * 60_000).toISOString(),
    expedited: false, confirmationRequired: 'None', packageInfo: { packageId: `pkg-${id}`, size: 'Small', weight: 2, tag: 'chaos' },
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const startedAt = Date.now();
  const accepted = new Set<string>();
  const perSecond: number[] = [];
  const refusedPerSecond: number[] = [];
  const firstAttemptAt = new Map<string, number>();
  const refused = () => {
    const second = Math.floor((Date.now() - startedAt) / 1_000);
    refusedPerSecond[second] = (refusedPerSecond[second] ?? 0) + 1;
  };
  const latencies: number[] = [];
  let attempts = 0;
  let gaveUp = 0;
  const retryFor = o.retryForMs ?? 60_000;
  const post = async (id: string, payload: string): Promise<boolean> => {
    const deadline = Date.now() + retryFor;
    // Acceptance latency as the client sees it: from its first attempt, retries included.
    const t = performance.now();
    for (let i = 0; ; i += 1) {
      attempts += 1;
      try {
        const response = await fetch(`${o.ingestionUrl}/api/deliveryrequests`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${o.customerKey}` }, body: payload, signal: AbortSignal.timeout(10_000) });
        if (response.status === 202) {
          latencies.push(performance.now() - t);
          return true;
        }
        refused();
        // Refused for what it is (invalid, unauthorized, conflicting): retrying changes nothing.
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) return false;
        if (response.status === 429) {
          // The suite is behind: come back when it says, not sooner.
          const waitMs = retryAfterSeconds(response.headers.get('retry-after') ?? undefined, Date.now()) * 1_000;
          if (Date.now() + waitMs > deadline) return false;
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          continue;
        }
      } catch {
        // the app is restarting: retry
        refused();
      }
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** i)));
    }
  };
  const inFlight: Promise<void>[] = [];
  const total = Math.round(o.rate * o.durationS);
  for (let n = 0; n < total; n += 1) {
    const due = startedAt + (n * 1_000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const id = `${o.prefix}-${n}`;
    inFlight.push(
      (async () => {
        const payload = body(id);
        const first = Date.now();
        if (!(await post(id, payload))) return void (gaveUp += 1);
        accepted.add(id);
        firstAttemptAt.set(id, first);
        const second = Math.floor((Date.now() - startedAt) / 1_000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
        if (Math.random() < o.duplicateShare) await post(id, payload);
        if (Math.random() < o.cancelShare) await fetch(`${o.ingestionUrl}/api/deliveryrequests/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${o.customerKey}` } }).catch(() => undefined);
      })(),
    );
  }
  await Promise.all(inFlight);
  return { accepted, acceptedPerSecond: Array.from(perSecond, (v) => v ?? 0), refusedPerSecond: Array.from(refusedPerSecond, (v) => v ?? 0), firstAttemptAt, acceptanceLatenciesMs: latencies, attempts, gaveUp, startedAt };
}
