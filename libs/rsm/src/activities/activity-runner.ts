import { setMaxListeners } from 'node:events';
import type { Pool } from 'pg';
import { backoffMs, describeError } from '../definition/step-executor.js';
import type { TableNames } from '../store/table-names.js';
import type { ActivityEntry } from '../core/messages.js';
import type { CrashHook } from '../core/crash-points.js';
import type { RsmLogger } from '../core/logger.js';
import { ActivityStore } from '../store/activity-store.js';
import { DEFAULT_ACTIVITY_RETRY, type ActivityRetryPolicy, type AnyActivityDefinition } from '../definition/activity.js';
import { storableText, unstorableReason } from '../definition/json-text.js';

/**
 * The longest output an activity may return, as JSON text: it travels in the outcome event, which
 * is read with the machine's inbox. A longer one fails the attempt, as an error would.
 */
export const MAX_ACTIVITY_OUTPUT_CHARS = 1_048_576;
/** How much of an attempt's error is kept (in the call's row and in ActivityFailed). */
const MAX_ERROR_CHARS = 2_000;

/**
 * Runs activity calls. A call's row is leased while an attempt runs (attempts are counted in the
 * row before they start), so a process killed mid-attempt leaves a lease that expires and another
 * process takes the call again with the same idempotency key. The outcome event is written to the
 * inbox in the same transaction that deletes the row, so it is delivered exactly once.
 */
export class ActivityRunner {
  private readonly activities = new Map<string, AnyActivityDefinition>();
  private readonly running = new Set<string>();
  private readonly controller = new AbortController();
  /** Calls waiting for a free slot, with when they were queued. */
  private queue: { entry: ActivityEntry; at: number }[] = [];
  private readonly store: ActivityStore;

  constructor(
    pool: Pool,
    tables: TableNames,
    private readonly concurrency: number,
    private readonly leaseMs: number,
    private readonly logger: RsmLogger,
    private readonly crash: CrashHook | undefined,
    private readonly onOutcome: (activity: string, outcome: 'ok' | 'error' | 'exhausted', wakeKey?: string) => void,
    /** This process's HolderLock id, written on the calls it claims (null: none). */
    private readonly holder: number | null = null,
    /** How long a call waited in this process for a free slot: work that waits, like an event. */
    private readonly onWait: (ms: number) => void = () => undefined,
  ) {
    this.store = new ActivityStore(pool, tables);
    // Each attempt running listens for the stop: up to `concurrency` listeners, not a leak.
    setMaxListeners(0, this.controller.signal);
  }

  register(activity: AnyActivityDefinition): void {
    if (this.activities.has(activity.name)) throw new Error(`activity ${activity.name} is registered twice`);
    this.activities.set(activity.name, activity);
  }

  names(): string[] {
    return [...this.activities.keys()];
  }

  /** Runs calls this process has just committed (it holds their lease). */
  submit(entries: readonly ActivityEntry[]): void {
    const at = Date.now();
    for (const entry of entries) this.queue.push({ entry, at });
    this.pump();
  }

  /**
   * Claims calls whose lease or backoff has expired, after making due those held by a process that
   * is gone (its holder lock is free): they are not left to wait out their lease. Only a process
   * that holds calls itself looks for orphans: one that runs no activity has none in its schema to
   * find, and is spared the statement every poll.
   */
  async claimDue(limit = 50): Promise<number> {
    const free = Math.max(0, this.concurrency * 2 - this.running.size - this.queue.length);
    if (free === 0) return 0;
    if (this.holder !== null) await this.store.reclaimOrphans();
    const claimed = await this.store.claimDue(Math.min(limit, free), this.leaseMs, this.holder, this.names());
    this.submit(claimed);
    return claimed.length;
  }

  stop(): void {
    this.controller.abort();
    this.queue = [];
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queue.length > 0 && !this.controller.signal.aborted) {
      const { entry, at } = this.queue.shift() as { entry: ActivityEntry; at: number };
      if (this.running.has(entry.id)) continue;
      // Its lease ran out while it waited for a slot: another process may have taken the call, and
      // running it here as well would be one attempt too many. Its row is due; a claim takes it again.
      if (Date.now() - at >= this.leaseMs / 2) continue;
      this.onWait(Date.now() - at);
      this.running.add(entry.id);
      void this.attempt(entry)
        .catch((error: unknown) => this.logger.warn({ err: describeError(error), activity: entry.activity }, 'recording an activity outcome failed; its lease will expire and it will run again'))
        .finally(() => {
          this.running.delete(entry.id);
          this.pump();
        });
    }
  }

  private policy(activity: AnyActivityDefinition | undefined): ActivityRetryPolicy {
    return { ...DEFAULT_ACTIVITY_RETRY, ...activity?.retry };
  }

  private async attempt(entry: ActivityEntry): Promise<void> {
    const activity = this.activities.get(entry.activity);
    const policy = this.policy(activity);
    // One controller per attempt, aborted by its timer or by stop(): cheaper than combining
    // AbortSignal.timeout with AbortSignal.any on every call, which a profile showed.
    const attemptController = new AbortController();
    const attemptSignal = attemptController.signal;
    const abort = () => attemptController.abort(new Error('attempt timed out or was aborted'));
    // Never past the lease: another process takes the call when it ends, and the two would run at once.
    const timer = setTimeout(abort, Math.min(policy.timeoutMs, this.leaseMs - Math.min(1_000, this.leaseMs / 10))).unref();
    this.controller.signal.addEventListener('abort', abort, { once: true });
    if (this.controller.signal.aborted) abort();
    let output: unknown;
    let failure: string | undefined;
    try {
      if (activity === undefined) throw new Error(`no activity named ${entry.activity} is registered`);
      output = await withAbort(
        activity.run(entry.input, {
          idempotencyKey: entry.idempotencyKey,
          attempt: entry.attempts,
          machine: { type: entry.machineType, id: entry.machineId },
          callId: entry.callId,
          signal: attemptSignal,
        }),
        attemptSignal,
      );
      if (output === undefined) output = null;
      // What comes back is an external system's answer: it must be JSON, fit in an event, and be
      // text Postgres stores, or recording it would fail on every attempt and the call never end.
      const text: string | undefined = JSON.stringify(output);
      if (text === undefined) output = null;
      else if (text.length > MAX_ACTIVITY_OUTPUT_CHARS) throw new Error(`the output is ${text.length} characters of JSON, more than ${MAX_ACTIVITY_OUTPUT_CHARS}`);
      const unstorable = unstorableReason(output);
      if (unstorable !== undefined) throw new Error(`the output cannot be recorded: ${unstorable}`);
    } catch (error) {
      failure = storableText(describeError(error), MAX_ERROR_CHARS);
    } finally {
      clearTimeout(timer);
      this.controller.signal.removeEventListener('abort', abort);
    }
    if (this.controller.signal.aborted) return; // stopping: the lease expires and another process retries
    this.crash?.('whileActivityRuns');
    const key = `${entry.machineType}/${entry.machineId}`;
    if (failure === undefined) {
      await this.finish(entry, { type: 'ActivityCompleted', activity: entry.activity, callId: entry.callId, output });
      this.onOutcome(entry.activity, 'ok', key);
      return;
    }
    if (entry.attempts >= policy.maxAttempts) {
      await this.finish(entry, { type: 'ActivityFailed', activity: entry.activity, callId: entry.callId, error: failure, attempts: entry.attempts });
      this.onOutcome(entry.activity, 'exhausted', key);
      return;
    }
    const delay = backoffMs(entry.attempts, policy.initialBackoffMs, policy.maxBackoffMs);
    await this.store.postpone(entry.id, failure, delay);
    this.onOutcome(entry.activity, 'error');
    this.logger.info({ activity: entry.activity, machine: key, attempt: entry.attempts, err: failure, retryInMs: delay }, 'activity attempt failed');
  }

  private async finish(entry: ActivityEntry, event: object): Promise<void> {
    // Another process may have delivered this call's outcome already: the store then does nothing.
    await this.store.finish(entry, event);
  }
}

function withAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => reject(new Error('attempt timed out or was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(describeError(error)));
      },
    );
  });
}
