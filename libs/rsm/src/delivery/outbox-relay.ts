import type { Pool } from 'pg';
import type { TableNames } from '../store/table-names.js';
import type { OutboxEntry, RemoteMessage } from '../core/messages.js';
import type { CrashHook } from '../core/crash-points.js';
import type { RsmLogger } from '../core/logger.js';
import { OutboxStore } from '../store/outbox-store.js';
import type { BullmqTransport } from './bullmq-transport.js';

/** Rows kept in memory for the next publish while one is in flight; the outbox holds them all anyway. */
const MAX_PENDING_ROWS = 20_000;

/**
 * Moves committed outbox rows to their destination services. Right after a commit the committing
 * process publishes what it wrote (no extra read or write); the sweeper re-publishes whatever is
 * still unacknowledged after the ack timeout, so a crash between commit and publish, a lost job or
 * a flushed Redis only delays delivery. The acknowledgement deletes the row.
 */
export class OutboxRelay {
  /** Whether the last publish succeeded; readiness reports it. */
  healthy = true;
  /** Acknowledged ids by the service that acknowledged them. */
  private readonly acked = new Map<string, Set<string>>();
  private ackedCount = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  /** Rows committed while a publish was in flight: the next publish takes them all at once. */
  private pending: OutboxEntry[] = [];
  private publishing = false;
  private readonly store: OutboxStore;

  constructor(
    pool: Pool,
    tables: TableNames,
    private readonly transport: BullmqTransport,
    private readonly service: string,
    private readonly messagesPerJob: number,
    private readonly ackTimeoutMs: number,
    private readonly ackFlushMs: number,
    private readonly logger: RsmLogger,
    private readonly crash: CrashHook | undefined,
    private readonly onSent: (destination: string, count: number) => void,
    /** A sweep skips a destination whose queue holds this many jobs (see `delivery.maxQueuedJobs`). */
    private readonly maxQueuedJobs = Infinity,
    private readonly onHeldBack: (destination: string, count: number) => void = () => undefined,
  ) {
    this.store = new OutboxStore(pool, tables);
  }

  /**
   * Publishes rows just committed by this process. Idle, it publishes at once; while a publish is in
   * flight, rows committed meanwhile wait for it and then go together, in as few jobs as their
   * destinations allow: under load a receiver takes many messages per transaction instead of one
   * each, and nothing waits longer than one publish. Failure is logged: the sweeper retries.
   */
  async publishCommitted(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.crash?.('afterCommitBeforePublish');
    for (const entry of entries) this.pending.push(entry); // no spread: a batch may send more than a call takes arguments
    // Bounded however long a publish hangs: the oldest waiting rows are left to the sweeper, which
    // re-publishes from the outbox whatever is still unacknowledged.
    if (this.pending.length > MAX_PENDING_ROWS) this.pending.splice(0, this.pending.length - MAX_PENDING_ROWS);
    if (this.publishing) return;
    this.publishing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.publishGrouped(batch);
          this.healthy = true;
        } catch (error) {
          this.healthy = false;
          this.logger.warn({ err: String(error), count: batch.length }, 'publish failed; the outbox sweeper will retry');
        }
      }
    } finally {
      this.publishing = false;
    }
  }

  /** Re-publishes rows whose acknowledgement is overdue. Returns how many it published. */
  async sweep(limit = 1_000): Promise<number> {
    return this.store.sweep(limit, this.ackTimeoutMs, async (entries) => {
      await this.publishGrouped(entries, true);
      this.healthy = true;
    });
  }

  /**
   * Publishes what the outbox held when this process started, overdue or not (see
   * {@link OutboxStore.sweepAtStart}): after a crash, what was committed but not yet published goes
   * out now rather than after the ack timeout. Returns how many it published.
   */
  async sweepAtStart(limit = 1_000): Promise<number> {
    return this.store.sweepAtStart(limit, this.ackTimeoutMs, async (entries) => {
      await this.publishGrouped(entries, true);
      this.healthy = true;
    });
  }

  /**
   * Deletes acknowledged rows, many acknowledgements per statement: ids gather for `ackFlushMs`.
   * A failed delete is only logged; the rows are re-published later and acknowledged again.
   */
  acknowledge(from: string, ids: readonly string[]): void {
    let set = this.acked.get(from);
    if (set === undefined) {
      set = new Set<string>();
      this.acked.set(from, set);
    }
    for (const id of ids) {
      if (!set.has(id)) this.ackedCount += 1;
      set.add(id);
    }
    if (this.ackedCount >= 5_000) void this.flushAcks();
    else if (this.ackTimer === undefined && this.ackedCount > 0) {
      this.ackTimer = setTimeout(() => void this.flushAcks(), this.ackFlushMs);
    }
  }

  /** Deletes every row acknowledged so far. */
  async flushAcks(): Promise<void> {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.ackedCount === 0) return;
    const batches = [...this.acked].map(([from, ids]) => ({ from, ids: [...ids] }));
    this.acked.clear();
    this.ackedCount = 0;
    // Only rows addressed to the acknowledging service: one service can never delete another's.
    try {
      await this.store.deleteAcknowledged(batches);
    } catch (error) {
      this.logger.warn({ err: String(error), count: batches.reduce((n, b) => n + b.ids.length, 0) }, 'could not delete acknowledged outbox rows; they will be re-published and acknowledged again');
    }
  }

  /**
   * Publishes entries to their destinations' queues, all destinations at once. With `settle` (the
   * sweeps), one destination that fails does not fail the others: unless every destination failed
   * (Redis is down: the sweep is rolled back and runs again), the sweep goes on and pushes every
   * row's next attempt back, the failed ones' too. Otherwise a destination whose queue refuses
   * every write (a damaged key in Redis) kept its rows first in line at every sweep, ahead of
   * everyone else's overdue rows.
   */
  private async publishGrouped(entries: readonly OutboxEntry[], settle = false): Promise<void> {
    const byDestination = new Map<string, RemoteMessage[]>();
    for (const entry of entries) {
      const list = byDestination.get(entry.destination) ?? [];
      list.push(entry.message);
      byDestination.set(entry.destination, list);
    }
    const outcomes = await Promise.allSettled(
      [...byDestination].map(async ([destination, messages]) => {
        // A sweep's rows are copies of what was sent before: a queue that still holds many jobs
        // (its service down or far behind) most likely holds them, and another copy a sweep only
        // grows Redis. Their next attempt was pushed back; they go out once it has drained.
        if (settle && Number.isFinite(this.maxQueuedJobs) && (await this.transport.queuedJobs(destination)) >= this.maxQueuedJobs) {
          this.onHeldBack(destination, messages.length);
          return;
        }
        await this.transport.publish(destination, this.service, messages, this.messagesPerJob);
        this.onSent(destination, messages.length);
      }),
    );
    const failed = [...byDestination.keys()].filter((_, i) => outcomes[i]?.status === 'rejected');
    if (failed.length === 0) return;
    const first = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (!settle || failed.length === byDestination.size) throw first?.reason;
    this.logger.warn({ err: String(first?.reason), destinations: failed }, 'publishing to some destinations failed; their rows wait for their next attempt');
  }
}
