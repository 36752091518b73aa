import type { Pool, PoolClient } from 'pg';
import { backoffMs } from '../definition/step-executor.js';
import { machineKey, type MachineRef } from '../definition/types.js';
import type { CrashHook } from '../core/crash-points.js';
import type { RsmOptions } from '../core/rsm-options.js';
import type { IntakeItem } from '../planning/intake.js';
import { newMachineRow, type MachineRegistry } from '../planning/machine-registry.js';
import { BatchWrites, emptyBatchResult, StepPlanner, type BatchResult, type Pending } from '../planning/step-planner.js';
import { StepStore, type LockedMachine } from '../store/step-store.js';
import type { TableNames } from '../store/table-names.js';
import { inTransaction, type Transaction } from '../store/transaction.js';

/**
 * Runs one step transaction over a set of machines: the store locks them and reads their pending
 * events (inbox rows, then events handed in by callers of this process), the planner runs the
 * handlers and decides every row to write, and the store writes them with one statement per table
 * before a single commit. Nothing reaches another machine, service or caller before that commit.
 */
export class BatchExecutor {
  private readonly store: StepStore;
  private readonly planner: StepPlanner;

  constructor(
    private readonly pool: Pool,
    tables: TableNames,
    private readonly registry: MachineRegistry,
    private readonly options: RsmOptions,
    private readonly crash: CrashHook | undefined,
    holder: number | null = null,
  ) {
    this.store = new StepStore(tables, options, holder);
    this.planner = new StepPlanner(registry, options.service);
  }

  /**
   * One step transaction over `keys`. With `handle` false (an API-only process) callers' events are
   * only made durable in the inbox, for a worker to handle.
   */
  async run(keys: readonly string[], intake: ReadonlyMap<string, readonly IntakeItem[]>, handle = true): Promise<BatchResult> {
    return inTransaction(
      this.pool,
      (client, tx) => this.runInTransaction(client, keys, intake, handle, tx),
      () => this.crash?.('beforeCommit'),
    );
  }

  /**
   * Steps machines inside a transaction the caller owns (the receipt of their events), so receipt
   * and step commit once. Machines another transaction holds come back in `busy`.
   */
  async stepWithin(client: PoolClient, keys: readonly string[], tx?: Transaction): Promise<BatchResult> {
    // The step's writes are the transaction's last statements: COMMIT may go out with them.
    let hooked = false;
    const last: Transaction | undefined = tx === undefined ? undefined : {
      commitWith: (sent) => {
        hooked = true;
        this.crash?.('beforeCommit');
        tx.commitWith(sent);
      },
    };
    const result = await this.runInTransaction(client, keys, new Map(), true, last);
    if (!hooked) this.crash?.('beforeCommit');
    return result;
  }

  /**
   * Sets aside the head event of a machine whose step the database keeps refusing: counted as a
   * failed attempt with backoff, then dead-lettered like any failing event. Returns when to retry.
   */
  async recordPoison(key: string, error: string): Promise<number | undefined> {
    const ref = splitKey(key);
    const policy = this.registry.get(ref.type)?.failure;
    return inTransaction(this.pool, async (client) => {
      const row = await this.store.lockHead(client, ref);
      if (row === undefined) return undefined;
      const attempts = row.attempts + 1;
      if (policy !== undefined && attempts < policy.maxAttempts) {
        const delay = backoffMs(attempts, policy.initialBackoffMs, policy.maxBackoffMs);
        await this.store.postpone(client, row.seq, attempts, error, delay);
        return Date.now() + delay;
      }
      await this.store.deadLetterRow(client, ref, row, `step could not be committed: ${error}`, attempts);
      return Date.now();
    });
  }

  private async runInTransaction(client: PoolClient, keys: readonly string[], intake: ReadonlyMap<string, readonly IntakeItem[]>, handle: boolean, tx?: Transaction): Promise<BatchResult> {
    const now = new Date();
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const refs = new Map(keys.map((key) => [key, splitKey(key)]));

    // 1. Creations asked by callers: insert the rows first, so this transaction holds them. The
    // item whose creation is inserted stays in the batch even if its caller gives up meanwhile:
    // the machine commits only with its first event.
    const creators = uniqueBy([...intake.values()].flat().filter((item) => item.kind === 'create' && !item.cancelled), (item) => machineKey(item.ref));
    const createdByCaller = creators.length === 0 ? new Set<string>() : await this.store.insertMachines(
      client,
      creators.map((item) => newMachineRow(this.registry.require(item.ref.type), item.ref)),
    );

    // 2. Lock the machines and read their first inbox rows; those locked elsewhere are busy, the
    // others do not exist.
    const limit = this.options.batch.maxEventsPerMachine;
    const { locked: lockedRows, inbox: rows } = handle ? await this.store.lockWithInbox(client, [...refs.values()], limit + 1) : { locked: new Map<string, LockedMachine>(), inbox: [] };
    const locked = new Map([...lockedRows].map(([key, row]) => [key, row.snapshot]));
    const unlocked = keys.filter((key) => !locked.has(key));
    const existing = unlocked.length > 0 ? await this.store.existing(client, unlocked.map((key) => refs.get(key) as MachineRef)) : new Set<string>();

    // 3. Sort callers' items: duplicates by key, missing machines, and the live ones.
    const { live, keyed } = this.planner.sortIntake(intake, { createdByCaller, creators: new Set(creators), locked, existing }, result);
    if (keyed.length > 0) {
      const fresh = await this.store.claimRequestKeys(client, uniqueBy(keyed, (item) => item.key ?? '').map((item) => ({ key: item.key ?? '', machine_type: item.ref.type, machine_id: item.ref.id })));
      this.planner.dropDuplicateKeys(keyed, fresh, live, result);
    }

    // 4. Busy machines: make their callers' events durable in the inbox; their owner drains them.
    for (const key of unlocked) {
      if (!existing.has(key)) continue;
      result.busy.add(key);
      for (const item of live.get(key) ?? []) this.planner.persistIntake(w, item, 0, null, null, result);
    }

    // 5. Missing machines: their inbox rows can never be handled. The machine may have been created
    // since the check above (each statement sees newer commits): the rows are read only where the
    // machine still does not exist, in the same statement, and a machine that appeared is drained again.
    const missing = unlocked.filter((key) => !existing.has(key)).map((key) => refs.get(key) as MachineRef);
    if (missing.length > 0) {
      this.planner.orphans(w, result, await this.store.loadInbox(client, missing, 1_000, true));
      for (const key of await this.store.existing(client, missing)) result.more.add(key);
    }

    // 6. Step through the locked machines' inbox rows in order.
    const byMachine = new Map<string, typeof rows>();
    for (const row of rows) {
      const key = `${row.type}/${row.id}`;
      const list = byMachine.get(key) ?? [];
      list.push(row);
      byMachine.set(key, list);
    }
    this.crash?.('whileDraining');
    for (const [key, machine] of locked) {
      const inboxRows = byMachine.get(key) ?? [];
      const pending: Pending[] = inboxRows.slice(0, limit).map((row) => ({ source: 'inbox', row }));
      const callers = live.get(key) ?? [];
      if (inboxRows.length > limit) {
        // More events wait in the inbox: the callers' events go behind them, in the inbox.
        result.more.add(key);
        for (const item of callers) this.planner.persistIntake(w, item, 0, null, null, result);
      } else {
        for (const item of callers) pending.push({ source: 'intake', item });
      }
      const row = lockedRows.get(key);
      const blocked = await this.planner.planMachine(w, result, machine, pending, now, row?.createdAt ?? now.getTime(), row?.definitionVersion);
      if (blocked) {
        // Faulted, backing off or left for a newer process: coming back at once would only read the
        // same rows again (in a loop, and hot, ahead of every other machine). Its retry time, a
        // redrive or the newer process brings it back.
        result.more.delete(key);
        result.handled.set(key, 0);
      } else {
        result.handled.set(key, pending.length);
      }
    }

    await this.store.write(client, w, result, tx);
    // Events this process left for a newer one (callers' included) must not bring it back here:
    // the newer process's recovery finds them.
    for (const { key } of result.deferred) result.wake.delete(key);
    return result;
  }
}

function splitKey(key: string): MachineRef {
  const slash = key.indexOf('/');
  return { type: key.slice(0, slash), id: key.slice(slash + 1) };
}

function uniqueBy<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = keyOf(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
