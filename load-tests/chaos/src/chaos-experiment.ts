import { checkInvariants, waitUntilQuiet, type InvariantResult, type SuiteSnapshot, type SuiteUrls } from '#verifier';
import { runHostile, type HostileOptions, type HostileResult } from './hostile-load.js';
import { runLoad, type LoadOptions, type LoadResult } from './load-driver.js';
import type { PodKiller } from './pod-killer.js';
import { countPerSecond, percentile, percentilesPerSecond, type TimedValue } from './timeline.js';

export interface ChaosOptions {
  readonly urls: SuiteUrls;
  readonly load: LoadOptions;
  /** No killer: the no-chaos run the chaos run is compared with. */
  readonly killer?: PodKiller;
  readonly apps: readonly string[];
  readonly killEveryS: number;
  /**
   * Which app each kill takes: `random` (the default) draws one, `in-turn` takes `apps` in the order
   * given, round and round, so two runs of the same length kill the same apps at the same seconds.
   */
  readonly killOrder?: KillOrder;
  /** Other disruptions at given seconds after the start (Redis data loss, Postgres restart). */
  readonly disruptions?: readonly { atS: number; name: string; run: () => Promise<string> }[];
  readonly quietTimeoutMs: number;
  /** An operator API key: the verifier reads every service's lists and dead letters. */
  readonly operatorKey: string;
  /** Hostile requests beside the load (`--hostile`): their rate and the keys they misuse. */
  readonly hostile?: { readonly rate: number; readonly keys: HostileOptions['keys'] };
}

export type KillOrder = 'random' | 'in-turn';

/** The app each successive kill takes (see `ChaosOptions.killOrder`). */
export function killSequence(apps: readonly string[], order: KillOrder, random: () => number = Math.random): () => string {
  if (apps.length === 0) throw new Error('no app to kill');
  let turn = 0;
  return () => (order === 'in-turn' ? apps[turn++ % apps.length] : apps[Math.floor(random() * apps.length)]) as string;
}

/** A disruption as it happened: `kind` is `kill` or the disruption's name (`redis`, `postgres`). */
export interface ChaosEvent {
  readonly atS: number;
  readonly what: string;
  readonly kind: string;
}

export interface ChaosRun {
  readonly label: string;
  readonly load: Omit<LoadResult, 'accepted'> & { accepted: number };
  readonly events: ChaosEvent[];
  readonly results: InvariantResult[];
  readonly quiet: boolean;
  readonly completedPerSecond: number[];
  /** Deliveries of this run completed per second, from the first request to the last completion. */
  readonly completedRate: number;
  readonly acceptanceP99Ms: number;
  /** End-to-end latency (first submit attempt to Completed) of the run's completed deliveries. */
  readonly e2eMs: { p50: number; p95: number; p99: number };
  /** The same percentiles per second since the start, by the second a delivery completed (null: none). */
  readonly e2eBySecondMs: Record<string, (number | null)[]>;
  /** Hostile requests by route and status, when the run sent any. */
  readonly hostile?: HostileResult;
}

/** Drives load while killing pods on a schedule, waits until the suite is quiet, and verifies it. */
export async function runChaos(label: string, o: ChaosOptions): Promise<ChaosRun> {
  const events: ChaosEvent[] = [];
  const started = Date.now();
  const at = () => Math.round((Date.now() - started) / 100) / 10;
  const timers: NodeJS.Timeout[] = [];
  const pending: Promise<void>[] = [];
  const note = (kind: string, work: () => Promise<string>) =>
    pending.push(work().then((what) => void events.push({ atS: at(), what, kind }), (error: unknown) => void events.push({ atS: at(), what: `failed: ${String(error)}`, kind })));
  if (o.killer !== undefined && o.killEveryS > 0) {
    const killer = o.killer;
    const next = killSequence(o.apps, o.killOrder ?? 'random');
    timers.push(setInterval(() => note('kill', () => killer.kill(next())), o.killEveryS * 1_000));
  }
  for (const d of o.disruptions ?? []) timers.push(setTimeout(() => note(d.name, d.run), d.atS * 1_000));
  let load: LoadResult;
  let hostile: HostileResult | undefined;
  try {
    const attack = o.hostile === undefined || o.hostile.rate <= 0 ? undefined : runHostile({ urls: o.urls, rate: o.hostile.rate, durationS: o.load.durationS, prefix: o.load.prefix, loadRate: o.load.rate, keys: o.hostile.keys });
    [load, hostile] = await Promise.all([runLoad(o.load), attack]);
  } finally {
    for (const t of timers) clearInterval(t);
  }
  await Promise.all(pending);
  const { snapshot, quiet } = await waitUntilQuiet(o.urls, o.quietTimeoutMs, { operatorKey: o.operatorKey });
  const mine = (id: string) => id.startsWith(`${o.load.prefix}-`);
  const runSnapshot: SuiteSnapshot = { ...snapshot, sagas: snapshot.sagas, requests: snapshot.requests };
  // A request of this run that got no 202 (killed pod, lost answer, the client gave up) may still
  // have committed: its saga is allowed, not required.
  const results = checkInvariants(runSnapshot, {
    accepted: new Set([...snapshot.requests.map((r) => r.deliveryId).filter((id) => !mine(id)), ...load.accepted]),
    unconfirmed: (id) => mine(id) && !load.accepted.has(id),
  });
  const completedAt = snapshot.sagas
    .filter((s) => mine(s.deliveryId) && s.state === 'Completed')
    .map((s) => ({ id: s.deliveryId, at: Date.parse(s.history.find((h) => h.state === 'Completed')?.at ?? '') }))
    .filter((c) => Number.isFinite(c.at));
  const completions = completedAt.map((c) => c.at);
  const e2e: TimedValue[] = completedAt.flatMap((c) => {
    const first = load.firstAttemptAt.get(c.id);
    return first === undefined ? [] : [{ atMs: c.at, value: c.at - first }];
  });
  const e2eValues = e2e.map((e) => e.value);
  const last = Math.max(...completions, load.startedAt + 1_000);
  return {
    label,
    load: { ...load, accepted: load.accepted.size },
    events,
    results,
    quiet,
    completedPerSecond: countPerSecond(completions, load.startedAt),
    completedRate: completions.length / ((last - load.startedAt) / 1_000),
    acceptanceP99Ms: percentile(load.acceptanceLatenciesMs, 99),
    e2eMs: { p50: percentile(e2eValues, 50), p95: percentile(e2eValues, 95), p99: percentile(e2eValues, 99) },
    e2eBySecondMs: percentilesPerSecond(e2e, load.startedAt, [50, 95, 99]),
    ...(hostile !== undefined ? { hostile } : {}),
  };
}
