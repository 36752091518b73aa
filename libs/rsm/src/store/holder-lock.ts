import { randomInt } from 'node:crypto';
import { Client, type Pool } from 'pg';
import type { RsmLogger } from '../core/logger.js';

/**
 * The first key of the advisory locks that say "this process is alive" (`pg_advisory_lock(int4,
 * int4)`: it shows in `pg_locks` as `classid`, the second key as `objid`, `objsubid` 2).
 */
export const HOLDER_LOCK_CLASS = 0x52_53_4d_01;

/**
 * This process's identity for the activity calls it holds, made visible to every other process by
 * a session advisory lock on a connection of its own. Postgres drops the lock when the connection
 * goes, as it does at once when the process is killed, so another process can tell a dead
 * holder's leases from a live one's and take its calls without waiting for the lease to expire.
 *
 * The id is random: two processes that draw the same one make a dead one look alive, which only
 * means its calls wait for their lease, as they did before. A live process whose lock connection
 * broke looks dead until it locks again; its calls may then run twice, which activities allow
 * (at least once, one idempotency key, one outcome).
 */
export class HolderLock {
  private client: Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly logger: RsmLogger,
    private readonly retryMs = 1_000,
    readonly id = randomInt(1, 2 ** 31 - 1),
  ) {}

  /** Takes the lock; if Postgres cannot be reached, keeps trying in the background. */
  async start(): Promise<void> {
    await this.lock();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async lock(): Promise<void> {
    if (this.stopped) return;
    const client = new Client(this.pool.options);
    client.on('error', () => undefined);
    let failure: string | undefined;
    try {
      await client.connect();
      // Never waits: a session that still holds this id (the server has not yet noticed that an
      // earlier connection of this process broke, or another process drew the same id) is tried
      // again later instead of blocking a statement.
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::int4, $2::int4) AS locked', [HOLDER_LOCK_CLASS, this.id]);
      if (rows[0]?.locked !== true) failure = 'another session holds this id';
    } catch (error) {
      failure = String(error);
    }
    if (failure !== undefined) {
      await client.end().catch(() => undefined);
      this.logger.warn({ err: failure }, 'could not take the activity holder lock; other processes may take this process\'s calls until it has it');
      this.again();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    client.once('end', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.again();
    });
  }

  private again(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.lock(), this.retryMs);
    this.retry.unref();
  }
}
