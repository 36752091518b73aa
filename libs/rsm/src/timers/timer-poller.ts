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

  /** When the next timer is due, if any (ms since epoch). */
  async nextFireAt(): Promise<number | undefined> {
    return this.store.nextFireAt(this.pool);
  }
}
