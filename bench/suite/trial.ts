/**
 * One trial of the suite benchmark: offer deliveries at a fixed rate for a while, wait until every
 * accepted one has ended, and say what it cost and whether the rate was sustained.
 */
import { runLoad } from '../../load-tests/chaos/src/load-driver.js';
import { percentile } from '../../load-tests/chaos/src/timeline.js';
import type { Counters, ResourceProbe } from './resources.js';

export interface TrialOptions {
  readonly ingestionUrl: string;
  readonly customerKey: string;
  readonly rate: number;
  readonly seconds: number;
  readonly prefix: string;
  /** How long after the load ends every accepted delivery may take to end. */
  readonly drainTimeoutMs: number;
  /** Acceptance p99 bound of a sustained rate. */
  readonly acceptanceP99BoundMs: number;
  /**
   * Share of the offered rate a sustained rate completes while the load runs. Without it a rate the
   * suite falls behind on passes whenever its backlog drains within `drainTimeoutMs`: 130/s offered
   * for 30 s, completed at 103/s, left 800 deliveries that drained in 8 s.
   */
  readonly keepPaceShare: number;
  /**
   * After the figures are taken, how long to wait for a backlog to end before the next trial, so a
   * failed trial's leftovers do not load the next one.
   */
  readonly settleTimeoutMs: number;
}

export interface Trial {
  readonly rate: number;
  readonly seconds: number;
  readonly offered: number;
  readonly accepted: number;
  /** Answers other than 202 (429 under overload), and requests given up. */
  readonly refused: number;
  readonly gaveUp: number;
  readonly acceptanceP99Ms: number;
  /** Deliveries that reached Completed while the load ran, per second of load. */
  readonly completedPerSecondDuringLoad: number;
  /** Every accepted delivery of the trial Completed, from the first request to the last completion. */
  readonly completedPerSecondOverall: number;
  readonly allEnded: boolean;
  readonly failedOrCancelled: number;
  readonly drainMs: number;
  /** How long after the load the last delivery of the trial ended (or the settle bound passed). */
  readonly settledMs: number;
  readonly perDelivery: { cpuMs: number; cpuMsApps: number; cpuMsPostgres: number; cpuMsRedis: number; transactions: number; jobs: number; httpCalls: number };
  readonly sustained: boolean;
  readonly why: string;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runTrial(probe: ResourceProbe, o: TrialOptions): Promise<Trial> {
  const before = await probe.read();
  const endedSince = (c: Counters) => c.sagasEnded.Completed + c.sagasEnded.Failed + c.sagasEnded.Cancelled - (before.sagasEnded.Completed + before.sagasEnded.Failed + before.sagasEnded.Cancelled);
  const load = await runLoad({ ingestionUrl: o.ingestionUrl, rate: o.rate, durationS: o.seconds, duplicateShare: 0, cancelShare: 0, prefix: o.prefix, customerKey: o.customerKey, retryForMs: 5_000 });
  const loadEnded = await probe.read();
  const completedDuringLoad = loadEnded.sagasEnded.Completed - before.sagasEnded.Completed;
  let after = loadEnded;
  const drainDeadline = Date.now() + o.drainTimeoutMs;
  while (endedSince(after) < load.accepted.size && Date.now() < drainDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    after = await probe.read();
  }
  const allEnded = endedSince(after) >= load.accepted.size;
  const completed = after.sagasEnded.Completed - before.sagasEnded.Completed;
  const failedOrCancelled = endedSince(after) - completed;
  const n = Math.max(1, completed);
  const cpu = {
    apps: after.cpuMs.apps - before.cpuMs.apps,
    postgres: after.cpuMs.postgres - before.cpuMs.postgres,
    redis: after.cpuMs.redis - before.cpuMs.redis,
  };
  const acceptanceP99Ms = percentile(load.acceptanceLatenciesMs, 99);
  const offered = Math.round(o.rate * o.seconds);
  // Not measured: let a backlog end before the next trial starts.
  let settled = after;
  const settleDeadline = Date.now() + o.settleTimeoutMs;
  while (endedSince(settled) < load.accepted.size && Date.now() < settleDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    settled = await probe.read();
  }
  const overall = completed / Math.max(0.001, (after.atMs - load.startedAt) / 1_000);
  const duringLoad = completedDuringLoad / Math.max(0.001, (loadEnded.atMs - load.startedAt) / 1_000);
  const problems = [
    ...(load.accepted.size < offered ? [`${offered - load.accepted.size} of ${offered} not accepted`] : []),
    ...(allEnded ? [] : [`${load.accepted.size - endedSince(after)} still running ${o.drainTimeoutMs / 1_000} s after the load`]),
    ...(failedOrCancelled > 0 ? [`${failedOrCancelled} failed or cancelled`] : []),
    ...(acceptanceP99Ms >= o.acceptanceP99BoundMs ? [`acceptance p99 ${acceptanceP99Ms.toFixed(0)} ms`] : []),
    ...(duringLoad < o.keepPaceShare * o.rate ? [`completed ${round(duringLoad)}/s during the load, under ${Math.round(o.keepPaceShare * 100)}% of ${o.rate}/s`] : []),
  ];
  return {
    rate: o.rate,
    seconds: o.seconds,
    offered,
    accepted: load.accepted.size,
    refused: load.refusedPerSecond.reduce((a, b) => a + b, 0),
    gaveUp: load.gaveUp,
    acceptanceP99Ms: round(acceptanceP99Ms, 1),
    completedPerSecondDuringLoad: round(duringLoad),
    completedPerSecondOverall: round(overall),
    allEnded,
    failedOrCancelled,
    drainMs: after.atMs - loadEnded.atMs,
    settledMs: settled.atMs - loadEnded.atMs,
    perDelivery: {
      cpuMs: round((cpu.apps + cpu.postgres + cpu.redis) / n, 1),
      cpuMsApps: round(cpu.apps / n, 1),
      cpuMsPostgres: round(cpu.postgres / n, 1),
      cpuMsRedis: round(cpu.redis / n, 1),
      transactions: round((after.transactions - before.transactions) / n, 1),
      jobs: round((after.jobs - before.jobs) / n, 1),
      httpCalls: round((after.httpCalls - before.httpCalls) / n, 1),
    },
    sustained: problems.length === 0,
    why: problems.join('; ') || 'sustained',
  };
}
