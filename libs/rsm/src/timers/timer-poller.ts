import type { Pool } from 'pg';
import type { CrashHook } from '../core/crash-points.js';
import { TimerStore } from '../store/timer-store.js';
import type { TableNames } from '../store/table-names.js';
import { inTransaction } from '../store/transaction.js';

/**
 * Fires due timers: in one transaction it turns each due timer into a `Timeout` event in its
 * machine's inbox and deletes it (or moves a periodic one to its next period). Rows are claimed
 * with SKIP LOCKED, so any number of processes can poll and each firing happens once.
 */
export class TimerPoller {
  private readonly store: TimerStore;

  constructor(
    private readonly pool: Pool,
    tables: TableNames,
    private readonly crash: CrashHook | undefined,
  ) {
    this.store = new TimerStore(tables);
  }

  /** Fires what is due; returns the machines that got a `Timeout` event. */
  async fireDue(limit = 500): Promise<string[]> {
    return inTransaction(this.pool, (client) => this.store.fireDue(client, limit, () => this.crash?.('whileTimerFires')));
  }

  /**
   * One poll: when nothing is due it costs a single indexed read, not a transaction (most polls of a
   * service with few timers find nothing). Returns the machines that got a `Timeout` event, when the
   * earliest timer left is due (ms since epoch, undefined: none) and whether the batch was full.
   */
  async poll(limit = 500): Promise<{ readonly woken: string[]; readonly next: number | undefined; readonly full: boolean }> {
    const first = await this.store.earliest(this.pool);
    if (first === undefined || !first.due) return { woken: [], next: first?.at, full: false };
    const woken = await this.fireDue(limit);
    return { woken, next: (await this.store.earliest(this.pool))?.at, full: woken.length >= limit };
  }
}
