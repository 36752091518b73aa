import type { BatchResult } from '../planning/step-planner.js';
import type { BatchExecutor } from './batch-executor.js';
import type { IntakeItem } from '../planning/intake.js';
import type { RsmLogger } from '../core/logger.js';
import { infraBackoffMs, isRetryablePgError } from '../store/pg-errors.js';

/** Hot machines remembered at most (a burst to many machines must not grow the set for ever). */
export const MAX_HOT = 256;

export interface DispatcherOptions {
  readonly maxMachines: number;
  readonly concurrency: number;
  /** Events handled in one transaction from which a machine is stepped alone (see `batch.hotEvents`). */
  readonly hotEvents: number;
  /** False for an API-only process: events are made durable, never handled here. */
  readonly handle: boolean;
  /**
   * Whether this process runs machines of a type (all, if not given). A machine of another type (a
   * newer release's, while it rolls out) is left to the processes that run it: stepping it here
   * could only dead-letter its events.
   */
  readonly runs?: (type: string) => boolean;
}

/**
 * Decides which machines this process steps next and groups them into step transactions. A
 * machine is in at most one transaction of this process at a time; across processes the row lock
 * taken by the transaction decides. Work that arrives for a machine while its transaction runs
 * makes it run again afterwards, so no wake-up is lost.
 */
export class Dispatcher {
  private readonly ready = new Set<string>();
  private readonly intake = new Map<string, IntakeItem[]>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly busyAttempts = new Map<string, number>();
  /** Machines stepped in transactions of their own while their backlog lasts. */
  private readonly hot = new Set<string>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly executor: BatchExecutor,
    private readonly options: DispatcherOptions,
    private readonly logger: RsmLogger,
    private readonly afterCommit: (result: BatchResult, keys: readonly string[], seconds: number) => void,
    private readonly onBatchRetry: (reason: string) => void,
  ) {}

  /** The machine has (or may have) events in its inbox. */
  notify(key: string): void {
    if (this.stopped) return;
    if (this.options.runs !== undefined && !this.options.runs(key.slice(0, key.indexOf('/')))) return;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.delayed.delete(key);
    }
    if (this.inFlight.has(key)) this.dirty.add(key);
    else this.ready.add(key);
    this.pump();
  }

  /** Wake the machine at `at` (ms since epoch), unless something wakes it earlier. */
  notifyAt(key: string, at: number): void {
    if (this.stopped) return;
    const delay = at - Date.now();
    if (delay <= 0) {
      this.notify(key);
      return;
    }
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing.at <= at) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.notify(key);
    }, delay);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /**
   * When the oldest caller's event that no step transaction has taken yet was submitted, while more
   * machines wait for one than a transaction takes (callers queue for this process's transactions);
   * undefined otherwise. A few waiting machines are no queue: one held elsewhere (a busy singleton)
   * would otherwise count as the whole service being behind. One look: a key enters the map with its
   * first item and leaves it whole, so the map's first key (in insertion order) holds the oldest item first.
   */
  oldestWaitingSince(): number | undefined {
    if (this.intake.size <= this.options.maxMachines) return undefined;
    for (const items of this.intake.values()) return items[0]?.enqueuedAt;
    return undefined;
  }

  /** Hands a caller's event to the machine's next step transaction. */
  submit(item: IntakeItem): void {
    const key = `${item.ref.type}/${item.ref.id}`;
    const list = this.intake.get(key);
    if (list === undefined) this.intake.set(key, [item]);
    else list.push(item);
    this.notify(key);
  }

  /**
   * The one after-commit routine, for the dispatcher's own transactions and for the receipts that
   * step machines in place (`receipt`): reports the batch, then schedules what it left behind (more
   * events, a retry backoff, a busy machine). A machine busy in the dispatcher's own transaction is
   * held by another process: it is polled with a growing delay. One busy at a receipt is most
   * often held by this process's dispatcher, which then runs it again at once (as `notify` does).
   */
  committed(result: BatchResult, keys: readonly string[], seconds: number, receipt = false): void {
    this.afterCommit(result, keys, seconds);
    for (const [key, handled] of result.handled) {
      if (handled >= this.options.hotEvents || result.more.has(key)) {
        // Newest last; a machine that went hot once and was never stepped again does not stay:
        // past MAX_HOT, the one hot the longest ago goes.
        this.hot.delete(key);
        this.hot.add(key);
        if (this.hot.size > MAX_HOT) this.hot.delete(this.hot.values().next().value as string);
      } else if (handled <= 1) this.hot.delete(key);
    }
    for (const key of result.more) this.notify(key);
    for (const [key, at] of result.retryAt) this.notifyAt(key, at);
    for (const key of keys) {
      if (receipt && result.busy.has(key)) {
        this.notify(key);
      } else if (this.options.handle && result.busy.has(key)) {
        const n = (this.busyAttempts.get(key) ?? 0) + 1;
        this.busyAttempts.set(key, n);
        this.notifyAt(key, Date.now() + Math.min(250, 2 * 2 ** Math.min(n, 7)));
      } else {
        this.busyAttempts.delete(key);
      }
    }
  }

  /** A hot machine is stepped alone, so a receipt leaves it to the dispatcher. */
  isHot(key: string): boolean {
    return this.hot.has(key);
  }

  /** Machines stepped alone now (for the gauge). */
  hotCount(): number {
    return this.hot.size;
  }

  isScheduled(key: string): boolean {
    return this.ready.has(key) || this.inFlight.has(key) || this.delayed.has(key);
  }

  /** Resolves when no transaction is running and nothing is ready. */
  idle(): Promise<void> {
    if (this.running === 0 && this.ready.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    while (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Callers' events not yet in any transaction; rejected by the runtime when it stops. */
  drainIntake(): IntakeItem[] {
    const items = [...this.intake.values()].flat();
    this.intake.clear();
    return items;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.ready.size > 0) {
      const keys = this.nextBatch();
      if (keys.length === 0) break;
      this.start(keys);
    }
    if (this.running === 0 && this.ready.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** A hot machine alone, or else up to `maxMachines` others; machines in flight wait as dirty. */
  private nextBatch(): string[] {
    for (const key of this.hot) {
      if (!this.ready.has(key) || this.inFlight.has(key)) continue;
      this.ready.delete(key);
      return [key];
    }
    const keys: string[] = [];
    for (const key of this.ready) {
      if (this.inFlight.has(key)) {
        this.ready.delete(key);
        this.dirty.add(key);
        continue;
      }
      if (this.hot.has(key)) continue;
      this.ready.delete(key);
      keys.push(key);
      if (keys.length >= this.options.maxMachines) break;
    }
    return keys;
  }

  private start(keys: string[]): void {
    this.running += 1;
    for (const key of keys) this.inFlight.add(key);
    const intake = new Map<string, IntakeItem[]>();
    for (const key of keys) {
      const items = this.intake.get(key);
      if (items !== undefined) {
        intake.set(key, items);
        this.intake.delete(key);
      }
    }
    void this.runBatch(keys, intake).finally(() => {
      this.running -= 1;
      for (const key of keys) {
        this.inFlight.delete(key);
        if (this.dirty.delete(key)) this.ready.add(key);
      }
      this.pump();
    });
  }

  private async runBatch(keys: string[], intake: Map<string, IntakeItem[]>, attempt = 0): Promise<void> {
    const startedAt = performance.now();
    try {
      const result = await this.executor.run(keys, intake, this.options.handle);
      this.committed(result, keys, (performance.now() - startedAt) / 1_000);
    } catch (error) {
      if (this.stopped) {
        for (const item of [...intake.values()].flat()) item.reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (isRetryablePgError(error)) {
        this.onBatchRetry('database');
        this.logger.warn({ err: String(error), machines: keys.length, attempt }, 'step transaction failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, infraBackoffMs(attempt)));
        await this.runBatch(keys, intake, attempt + 1);
        return;
      }
      if (keys.length > 1) {
        // Find the machine whose writes the database refuses without holding back the others.
        this.onBatchRetry('split');
        const half = Math.ceil(keys.length / 2);
        const [left, right] = [keys.slice(0, half), keys.slice(half)];
        await this.runBatch(left, pick(intake, left));
        await this.runBatch(right, pick(intake, right));
        return;
      }
      const key = keys[0] as string;
      this.logger.error({ err: String(error), machine: key }, 'step transaction failed for one machine; its head event is set aside');
      for (const item of [...intake.values()].flat()) item.reject(error instanceof Error ? error : new Error(String(error)));
      try {
        const retryAt = await this.executor.recordPoison(key, String(error));
        if (retryAt !== undefined) this.notifyAt(key, retryAt);
      } catch (recordError) {
        this.logger.error({ err: String(recordError), machine: key }, 'could not record the failure; recovery will retry');
      }
    }
  }
}

function pick(intake: Map<string, IntakeItem[]>, keys: readonly string[]): Map<string, IntakeItem[]> {
  const out = new Map<string, IntakeItem[]>();
  for (const key of keys) {
    const items = intake.get(key);
    if (items !== undefined) out.set(key, items);
  }
  return out;
}
