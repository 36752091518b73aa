import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Effect } from '../definition/effects.js';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import {
  backoffMs,
  executeStep,
  type Envelope,
  type MachineSnapshot,
  type MachineStatus,
} from '../definition/step-executor.js';
import { compositeKey, machineKey, type Json, type MachineRef, type RsmEvent } from '../definition/types.js';
import { CombinedWrite } from '../persistence/combined-write.js';
import { query } from '../persistence/prepared.js';
import { recordset } from '../persistence/recordset.js';
import type { TableNames } from '../persistence/table-names.js';
import type { CrashHook } from './crash-points.js';
import { MachineNotFoundError, RequestFailedError, RequestRejectedError } from './errors.js';
import type { IntakeItem, IntakeResult } from './intake.js';
import { inTransaction } from './transaction.js';
import { newMachineRow, type MachineRegistry } from './machine-registry.js';
import type { RsmOptions } from './rsm-options.js';

/** A message between services, as stored in the sender's outbox and carried by BullMQ. */
export interface RemoteMessage {
  readonly outboxId: string;
  /** `retire` is the runtime's own: the sender retired numbering `epoch`, whose last number was `seq`. */
  readonly kind: 'event' | 'create' | 'retire';
  readonly sender: MachineRef;
  readonly to: MachineRef;
  readonly seq: number;
  /** The pair's numbering `seq` belongs to; absent (from before epochs) means 0. */
  readonly epoch?: number;
  readonly event: RsmEvent;
}

export interface OutboxEntry {
  readonly id: string;
  readonly destination: string;
  readonly message: RemoteMessage;
}

export interface ActivityEntry {
  readonly id: string;
  readonly machineType: string;
  readonly machineId: string;
  readonly activity: string;
  readonly callId: string;
  readonly idempotencyKey: string;
  readonly input: Json;
  readonly attempts: number;
}

/** The outcome of a request handled from the inbox, for whoever waits on its key. */
export type KeyedReply =
  | { readonly key: string; readonly ok: true; readonly value: Json | null }
  | { readonly key: string; readonly ok: false; readonly kind: 'rejected' | 'failed'; readonly reason: string };

export interface StepRecord {
  readonly type: string;
  readonly event: string;
  readonly outcome: 'ok' | 'rejected' | 'failed' | 'dead_lettered';
  readonly handlerSeconds: number;
  /** Seconds from acceptance of the event to this commit, when known. */
  readonly latencySeconds: number | undefined;
  /** Set when the step changed the machine's state: where from, where to, and the machine's age then. */
  readonly transition?: { readonly from: string; readonly to: string; readonly ageSeconds: number };
}

/** What the runtime must do once a batch has committed. */
export interface BatchResult {
  readonly settled: { item: IntakeItem; result?: IntakeResult; error?: Error; duplicateOf?: string }[];
  /** Machines that got inbox rows in this transaction and should be drained. */
  readonly wake: Set<string>;
  /** Machines this process could not lock: another process is stepping them. */
  readonly busy: Set<string>;
  /** Machines with events left behind by the per-machine limit. */
  readonly more: Set<string>;
  /** Machines whose head event waits for a retry backoff, and until when. */
  readonly retryAt: Map<string, number>;
  readonly replies: KeyedReply[];
  readonly outbox: OutboxEntry[];
  readonly activities: ActivityEntry[];
  readonly timerFireAt: number[];
  readonly steps: StepRecord[];
  readonly deadLetters: number;
}

interface InboxEvent {
  seq: string;
  type: string;
  id: string;
  event: RsmEvent;
  eventId: string;
  senderType: string | null;
  senderId: string | null;
  timerName: string | null;
  requestKey: string | null;
  attempts: number;
  notBefore: Date | null;
  createdAt: Date;
}

type Pending =
  | { source: 'inbox'; row: InboxEvent }
  | { source: 'intake'; item: IntakeItem };

/** Rows a batch writes, gathered in memory and written with one statement per table. */
class BatchWrites {
  readonly machineUpdates = new Map<string, { type: string; id: string; state: string; data: unknown; status: MachineStatus; steps: number }>();
  readonly consumed: string[] = [];
  readonly retries: { seq: string; attempts: number; not_before: string; last_error: string }[] = [];
  /** New inbox rows, in the order they must be handled. */
  readonly inbox: {
    machine_type: string;
    machine_id: string;
    event: RsmEvent;
    event_id: string | null;
    sender_type: string | null;
    sender_id: string | null;
    timer_name: string | null;
    request_key: string | null;
    attempts: number;
    not_before: string | null;
    last_error: string | null;
    /** Set for creations: the row is written only if the machine was created. */
    createOf?: string;
  }[] = [];
  readonly creates = new Map<string, { type: string; id: string; state: string; data: unknown; definition_version: number }>();
  readonly remote: { destination: string; sender: MachineRef; to: MachineRef; kind: 'event' | 'create'; event: RsmEvent }[] = [];
  /** Final timer operation per (machine, name) in this batch: a start or a cancel. */
  readonly timers = new Map<string, { machine_type: string; machine_id: string; name: string; start: { fire_at: string; period_ms: number | null; payload: Json | null } | null }>();
  readonly activities: Omit<ActivityEntry, 'id' | 'attempts'>[] = [];
  readonly deadLetters: {
    machine_type: string;
    machine_id: string;
    event: RsmEvent;
    sender_type: string | null;
    sender_id: string | null;
    request_key: string | null;
    reason: string;
    attempts: number;
  }[] = [];
  readonly requestInserts: { key: string; machine_type: string; machine_id: string }[] = [];
  readonly requestUpdates: { key: string; status: 'done' | 'failed'; reply: Json | null; error: string | null }[] = [];
  readonly steps: { machine_type: string; machine_id: string; event_type: string; event_id: string; from_state: string; to_state: string; effects: number }[] = [];
}

/**
 * Runs one step transaction over a set of machines: lock them, take their pending events (inbox
 * rows, then events handed in by callers of this process), run the handlers, and write every state
 * change, consumed event and effect with one statement per table before a single commit.
 * Nothing reaches another machine, service or caller before that commit.
 */
export class BatchExecutor {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
    private readonly registry: MachineRegistry,
    private readonly options: RsmOptions,
    private readonly crash: CrashHook | undefined,
  ) {}

  /**
   * One step transaction over `keys`. With `handle` false (an API-only process) callers' events are
   * only made durable in the inbox, for a worker to handle.
   */
  async run(keys: readonly string[], intake: ReadonlyMap<string, readonly IntakeItem[]>, handle = true): Promise<BatchResult> {
    return inTransaction(
      this.pool,
      (client) => this.runInTransaction(client, keys, intake, handle),
      () => this.crash?.('beforeCommit'),
    );
  }

  /**
   * Steps machines inside a transaction the caller owns (the receipt of their events), so receipt
   * and step commit once. Machines another transaction holds come back in `busy`.
   */
  async stepWithin(client: PoolClient, keys: readonly string[]): Promise<BatchResult> {
    const result = await this.runInTransaction(client, keys, new Map(), true);
    this.crash?.('beforeCommit');
    return result;
  }

  /**
   * Sets aside the head event of a machine whose step the database keeps refusing: counted as a
   * failed attempt with backoff, then dead-lettered like any failing event. Returns when to retry.
   */
  async recordPoison(key: string, error: string): Promise<number | undefined> {
    const ref = splitKey(key);
    const definition = this.registry.get(ref.type);
    const policy = definition?.failure;
    return inTransaction(this.pool, async (client) => {
      const head = await query<{ seq: string; event: RsmEvent; attempts: number; sender_type: string | null; sender_id: string | null; request_key: string | null }>(client,
        `SELECT seq, event, attempts, sender_type, sender_id, request_key FROM ${this.tables.inbox}
         WHERE machine_type = $1 AND machine_id = $2 ORDER BY seq LIMIT 1 FOR UPDATE`,
        [ref.type, ref.id],
      );
      const row = head.rows[0];
      if (row === undefined) return undefined;
      const attempts = row.attempts + 1;
      if (policy !== undefined && attempts < policy.maxAttempts) {
        const delay = backoffMs(attempts, policy.initialBackoffMs, policy.maxBackoffMs);
        await query(client,
          `UPDATE ${this.tables.inbox} SET attempts = $2, last_error = $3, not_before = now() + make_interval(secs => $4::double precision / 1000) WHERE seq = $1`,
          [row.seq, attempts, error, delay],
        );
        return Date.now() + delay;
      }
      await query(client, `DELETE FROM ${this.tables.inbox} WHERE seq = $1`, [row.seq]);
      await query(client,
        `INSERT INTO ${this.tables.deadLetters} (machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [ref.type, ref.id, JSON.stringify(row.event), row.sender_type, row.sender_id, row.request_key, `step could not be committed: ${error}`, attempts],
      );
      return Date.now();
    });
  }

  private async runInTransaction(
    client: PoolClient,
    keys: readonly string[],
    intake: ReadonlyMap<string, readonly IntakeItem[]>,
    handle: boolean,
  ): Promise<BatchResult> {
    const t = this.tables;
    const now = new Date();
    const w = new BatchWrites();
    const result: BatchResult = {
      settled: [],
      wake: new Set(),
      busy: new Set(),
      more: new Set(),
      retryAt: new Map(),
      replies: [],
      outbox: [],
      activities: [],
      timerFireAt: [],
      steps: [],
      deadLetters: 0,
    };
    const refs = new Map(keys.map((key) => [key, splitKey(key)]));

    // 1. Creations asked by callers: insert the rows first, so this transaction holds them.
    const createdByCaller = new Set<string>();
    const creates = [...intake.values()].flat().filter((item) => item.kind === 'create' && !item.cancelled);
    if (creates.length > 0) {
      const rows = uniqueBy(creates, (item) => machineKey(item.ref)).map((item) => newMachineRow(this.registry.require(item.ref.type), item.ref));
      const inserted = await query<{ type: string; id: string }>(client,
        `INSERT INTO ${t.machines} (type, id, state, data, definition_version)
         SELECT type, id, state, data, definition_version FROM jsonb_to_recordset($1::jsonb)
           AS r(type text, id text, state text, data jsonb, definition_version int)
         ON CONFLICT DO NOTHING RETURNING type, id`,
        [JSON.stringify(rows)],
      );
      for (const row of inserted.rows) createdByCaller.add(machineKey(row));
    }

    // 2. Lock the machines; those locked elsewhere are busy, the others do not exist.
    const lockKeys = [...refs.values()];
    const locked = !handle ? { rows: [] } : await query<{ type: string; id: string; state: string; data: unknown; status: MachineStatus; created_at: Date }>(client,
      `SELECT m.type, m.id, m.state, m.data, m.status, m.created_at FROM ${t.machines} m
       JOIN ${recordset('$1', 'type text, id text', lockKeys)} k ON m.type = k.type AND m.id = k.id
       ORDER BY m.type, m.id FOR UPDATE OF m SKIP LOCKED`,
      [JSON.stringify(lockKeys)],
    );
    const machines = new Map<string, MachineSnapshot>();
    const createdAt = new Map<string, number>();
    for (const row of locked.rows) {
      machines.set(machineKey(row), { type: row.type, id: row.id, state: row.state, data: row.data, status: row.status });
      createdAt.set(machineKey(row), row.created_at.getTime());
    }
    const unlocked = keys.filter((key) => !machines.has(key));
    const existing = new Set<string>();
    if (unlocked.length > 0) {
      const found = await query<{ type: string; id: string }>(client,
        `SELECT m.type, m.id FROM ${t.machines} m
         JOIN ${recordset('$1', 'type text, id text', unlocked)} k ON m.type = k.type AND m.id = k.id`,
        [JSON.stringify(unlocked.map((key) => refs.get(key)))],
      );
      for (const row of found.rows) existing.add(machineKey(row));
    }

    // 3. Sort callers' items: duplicates by key, missing machines, and the live ones.
    const live = new Map<string, IntakeItem[]>();
    const keyed: IntakeItem[] = [];
    for (const [key, items] of intake) {
      for (const item of items) {
        if (item.cancelled) continue;
        if (item.kind === 'create') {
          if (createdByCaller.has(key) && !live.has(key)) {
            live.set(key, [item]);
          } else if (createdByCaller.has(key) || machines.has(key) || existing.has(key)) {
            result.settled.push({ item, result: { status: 'exists' } });
          } else {
            result.settled.push({ item, error: new Error(`could not create ${key}`) });
          }
          continue;
        }
        if (!machines.has(key) && !existing.has(key)) {
          result.settled.push({ item, error: new MachineNotFoundError(item.ref) });
          continue;
        }
        if (item.key !== undefined) keyed.push(item);
        const list = live.get(key) ?? [];
        list.push(item);
        live.set(key, list);
      }
    }
    if (keyed.length > 0) {
      const inserted = await query<{ key: string }>(client,
        `INSERT INTO ${t.requests} (key, machine_type, machine_id, status)
         SELECT key, machine_type, machine_id, 'pending' FROM jsonb_to_recordset($1::jsonb)
           AS r(key text, machine_type text, machine_id text)
         ON CONFLICT DO NOTHING RETURNING key`,
        [JSON.stringify(uniqueBy(keyed, (item) => item.key ?? '').map((item) => ({ key: item.key, machine_type: item.ref.type, machine_id: item.ref.id })))],
      );
      const fresh = new Set(inserted.rows.map((row) => row.key));
      const seen = new Set<string>();
      for (const item of keyed) {
        const key = item.key ?? '';
        if (fresh.has(key) && !seen.has(key)) {
          seen.add(key);
          continue;
        }
        // A repeated key: the first caller's event is (or was) handled; this one changes nothing.
        result.settled.push({ item, result: { status: 'duplicate' }, duplicateOf: key });
        const list = live.get(machineKey(item.ref));
        if (list !== undefined) list.splice(list.indexOf(item), 1);
      }
    }

    // 4. Busy machines: make their callers' events durable in the inbox; their owner drains them.
    for (const key of unlocked) {
      if (!existing.has(key)) continue;
      result.busy.add(key);
      for (const item of live.get(key) ?? []) this.persistIntake(w, item, 0, null, null, result);
    }

    // 5. Missing machines: their inbox rows can never be handled. The machine may have been created
    // since the check above (each statement sees newer commits): the rows are read only where the
    // machine still does not exist, in the same statement, and a machine that appeared is drained again.
    const missing = unlocked.filter((key) => !existing.has(key));
    if (missing.length > 0) {
      const orphans = await this.loadInbox(client, missing.map((key) => refs.get(key) as MachineRef), 1_000, true);
      for (const row of orphans) {
        w.consumed.push(row.seq);
        this.deadLetter(w, result, row.type, row.id, inboxEnvelope(row), row.requestKey, `no machine ${row.type}/${row.id}`, row.attempts);
      }
      const appeared = await query<{ type: string; id: string }>(client,
        `SELECT m.type, m.id FROM ${t.machines} m
         JOIN ${recordset('$1', 'type text, id text', missing)} k ON m.type = k.type AND m.id = k.id`,
        [JSON.stringify(missing.map((key) => refs.get(key)))],
      );
      for (const row of appeared.rows) result.more.add(machineKey(row));
    }

    // 6. Load the locked machines' inbox rows and step through them in order.
    const limit = this.options.batch.maxEventsPerMachine;
    const rows = machines.size > 0 ? await this.loadInbox(client, [...machines.values()], limit + 1) : [];
    const byMachine = new Map<string, InboxEvent[]>();
    for (const row of rows) {
      const key = `${row.type}/${row.id}`;
      const list = byMachine.get(key) ?? [];
      list.push(row);
      byMachine.set(key, list);
    }
    this.crash?.('whileDraining');
    for (const [key, machine] of machines) {
      const inboxRows = byMachine.get(key) ?? [];
      const pending: Pending[] = inboxRows.slice(0, limit).map((row) => ({ source: 'inbox', row }));
      const callers = live.get(key) ?? [];
      if (inboxRows.length > limit) {
        // More events wait in the inbox: the callers' events go behind them, in the inbox.
        result.more.add(key);
        for (const item of callers) this.persistIntake(w, item, 0, null, null, result);
      } else {
        for (const item of callers) pending.push({ source: 'intake', item });
      }
      await this.stepMachine(w, result, machine, pending, now, createdAt.get(key) ?? now.getTime());
    }

    await this.write(client, w, result);
    return result;
  }

  private async stepMachine(w: BatchWrites, result: BatchResult, start: MachineSnapshot, pending: Pending[], now: Date, bornAt: number): Promise<void> {
    const definition = this.registry.require(start.type);
    const key = machineKey(start);
    let machine = start;
    let steps = 0;
    let blocked = false;
    const touchedTimers = new Set<string>();
    for (const entry of pending) {
      if (blocked) {
        if (entry.source === 'intake') this.persistIntake(w, entry.item, 0, null, null, result);
        continue;
      }
      const row = entry.source === 'inbox' ? entry.row : undefined;
      if (row?.timerName != null && touchedTimers.has(row.timerName)) {
        // Fired before a step of this batch cancelled or restarted it: it must never be delivered.
        w.consumed.push(row.seq);
        continue;
      }
      if (row?.notBefore != null && row.notBefore.getTime() > now.getTime()) {
        blocked = true;
        result.retryAt.set(key, row.notBefore.getTime());
        continue;
      }
      if (machine.status === 'faulted') {
        blocked = true;
        if (entry.source === 'intake') this.persistIntake(w, entry.item, 0, null, null, result);
        continue;
      }
      const envelope: Envelope = entry.source === 'inbox' ? inboxEnvelope(entry.row) : {
        eventId: entry.item.eventId,
        event: entry.item.event,
        sender: undefined,
      };
      const requestKey = row?.requestKey ?? (entry.source === 'intake' ? entry.item.key : undefined) ?? null;
      const isRequest = entry.source === 'intake' ? entry.item.kind === 'request' : row !== undefined && row.requestKey !== null && isRequestRow(row);
      const attemptsBefore = row?.attempts ?? 0;
      const startedAt = performance.now();
      let outcome = await executeStep(definition, machine, envelope, now);
      if (outcome.kind === 'committed') {
        try {
          // Data and effects must survive JSON; a handler that returns something else has failed.
          JSON.stringify(outcome.data);
          JSON.stringify(outcome.effects);
        } catch (error) {
          outcome = { kind: 'failed', error: `state is not JSON: ${String(error)}` };
        }
      }
      const handlerSeconds = (performance.now() - startedAt) / 1_000;
      const acceptedAt = entry.source === 'inbox' ? entry.row.createdAt.getTime() : entry.item.enqueuedAt;
      const latencySeconds = (Date.now() - acceptedAt) / 1_000;

      if (outcome.kind === 'committed') {
        if (row !== undefined) w.consumed.push(row.seq);
        const fromState = machine.state;
        machine = {
          ...machine,
          state: outcome.state,
          data: outcome.data,
          status: outcome.halted ? 'halted' : machine.status,
        };
        steps += 1;
        const reply = this.applyEffects(w, machine, envelope, outcome.effects, touchedTimers, now, result);
        this.settle(entry, requestKey, isRequest, { ok: true, value: reply ?? null }, w, result);
        w.steps.push({
          machine_type: machine.type,
          machine_id: machine.id,
          event_type: envelope.event.type,
          event_id: envelope.eventId,
          from_state: fromState,
          to_state: machine.state,
          effects: outcome.effects.length,
        });
        result.steps.push({
          type: machine.type,
          event: eventLabel(definition, envelope.event),
          outcome: 'ok',
          handlerSeconds,
          latencySeconds,
          ...(fromState !== machine.state ? { transition: { from: fromState, to: machine.state, ageSeconds: (now.getTime() - bornAt) / 1_000 } } : {}),
        });
        continue;
      }

      if (outcome.kind === 'rejected') {
        if (row !== undefined) w.consumed.push(row.seq);
        if (isRequest) {
          // The caller sees the refusal; nothing is silent, so no dead letter is needed.
          this.settle(entry, requestKey, true, { ok: false, kind: 'rejected', reason: outcome.reason }, w, result);
          result.steps.push({ type: machine.type, event: eventLabel(definition, envelope.event), outcome: 'rejected', handlerSeconds, latencySeconds });
        } else {
          this.deadLetter(w, result, machine.type, machine.id, envelope, requestKey, outcome.reason, attemptsBefore);
          this.settle(entry, requestKey, false, { ok: false, kind: 'rejected', reason: outcome.reason }, w, result);
          result.steps.push({ type: machine.type, event: eventLabel(definition, envelope.event), outcome: 'dead_lettered', handlerSeconds, latencySeconds });
        }
        continue;
      }

      // The handler threw: retry later with backoff, or give up.
      const attempts = attemptsBefore + 1;
      const policy = definition.failure;
      if (attempts < policy.maxAttempts) {
        const notBefore = new Date(now.getTime() + backoffMs(attempts, policy.initialBackoffMs, policy.maxBackoffMs));
        if (row !== undefined) {
          w.retries.push({ seq: row.seq, attempts, not_before: notBefore.toISOString(), last_error: outcome.error });
        } else if (entry.source === 'intake') {
          this.persistIntake(w, entry.item, attempts, notBefore.toISOString(), outcome.error, result);
        }
        result.retryAt.set(key, notBefore.getTime());
        result.steps.push({ type: machine.type, event: eventLabel(definition, envelope.event), outcome: 'failed', handlerSeconds, latencySeconds });
        blocked = true;
        continue;
      }
      if (row !== undefined) w.consumed.push(row.seq);
      const reason = `handler failed ${attempts} times, last: ${outcome.error}`;
      this.deadLetter(w, result, machine.type, machine.id, envelope, requestKey, reason, attempts);
      this.settle(entry, requestKey, isRequest, { ok: false, kind: 'failed', reason }, w, result);
      result.steps.push({ type: machine.type, event: eventLabel(definition, envelope.event), outcome: 'dead_lettered', handlerSeconds, latencySeconds });
      if (policy.onExhausted === 'fault') {
        machine = { ...machine, status: 'faulted' };
        steps += 1;
        blocked = true;
      }
    }
    if (steps > 0 || machine.status !== start.status) {
      w.machineUpdates.set(key, { type: machine.type, id: machine.id, state: machine.state, data: machine.data, status: machine.status, steps });
    }
  }

  /** Records a caller's outcome: for a caller of this process directly, for others by key. */
  private settle(
    entry: Pending,
    requestKey: string | null,
    isRequest: boolean,
    outcome: { ok: true; value: Json | null } | { ok: false; kind: 'rejected' | 'failed'; reason: string },
    w: BatchWrites,
    result: BatchResult,
  ): void {
    if (requestKey !== null) {
      w.requestUpdates.push(
        outcome.ok
          ? { key: requestKey, status: 'done', reply: isRequest ? outcome.value : null, error: null }
          : { key: requestKey, status: 'failed', reply: null, error: `${outcome.kind}: ${outcome.reason}` },
      );
    }
    if (entry.source === 'intake') {
      const { item } = entry;
      if (!isRequest) {
        result.settled.push({ item, result: { status: 'accepted' } });
      } else if (outcome.ok) {
        result.settled.push({ item, result: { status: 'handled', reply: outcome.value ?? undefined } });
      } else {
        result.settled.push({
          item,
          error: outcome.kind === 'rejected' ? new RequestRejectedError(item.ref, outcome.reason) : new RequestFailedError(item.ref, outcome.reason),
        });
      }
    } else if (isRequest && requestKey !== null) {
      result.replies.push(outcome.ok ? { key: requestKey, ok: true, value: outcome.value } : { key: requestKey, ...outcome });
    }
  }

  private applyEffects(
    w: BatchWrites,
    machine: MachineSnapshot,
    envelope: Envelope,
    effects: readonly Effect[],
    touchedTimers: Set<string>,
    now: Date,
    result: BatchResult,
  ): Json | undefined {
    const self: MachineRef = { type: machine.type, id: machine.id };
    let reply: Json | undefined;
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send':
        case 'create': {
          const service = this.registry.serviceOf(effect.to.type);
          if (service === undefined) {
            this.deadLetter(w, result, effect.to.type, effect.to.id, { eventId: envelope.eventId, event: effect.event, sender: self }, null, `no route to machine type ${effect.to.type} (sent by ${machine.type}/${machine.id})`, 0);
          } else if (service === this.options.service) {
            const toKey = machineKey(effect.to);
            if (effect.kind === 'create') {
              const definition = this.registry.get(effect.to.type);
              if (definition !== undefined && !w.creates.has(toKey)) {
                w.creates.set(toKey, newMachineRow(definition, effect.to));
                w.inbox.push(inboxRow(effect.to, effect.event, self, { createOf: toKey }));
              }
            } else {
              w.inbox.push(inboxRow(effect.to, effect.event, self));
            }
            result.wake.add(toKey);
          } else {
            w.remote.push({ destination: service, sender: self, to: effect.to, kind: effect.kind === 'create' ? 'create' : 'event', event: effect.event });
          }
          break;
        }
        case 'startTimer': {
          touchedTimers.add(effect.name);
          const fireAt = now.getTime() + effect.delayMs;
          w.timers.set(compositeKey(machine.type, machine.id, effect.name), {
            machine_type: machine.type,
            machine_id: machine.id,
            name: effect.name,
            start: { fire_at: new Date(fireAt).toISOString(), period_ms: effect.periodMs, payload: effect.payload },
          });
          result.timerFireAt.push(fireAt);
          break;
        }
        case 'cancelTimer':
          touchedTimers.add(effect.name);
          w.timers.set(compositeKey(machine.type, machine.id, effect.name), {
            machine_type: machine.type,
            machine_id: machine.id,
            name: effect.name,
            start: null,
          });
          break;
        case 'call':
          w.activities.push({
            machineType: machine.type,
            machineId: machine.id,
            activity: effect.activity,
            callId: effect.callId,
            idempotencyKey: effect.idempotencyKey,
            input: effect.input,
          });
          break;
        case 'reply':
          reply = effect.value;
          break;
      }
    }
    return reply;
  }

  /**
   * Makes a caller's event durable in the inbox instead of handling it now. A request gets a key
   * (its own or its event id) so that its caller can be answered by whichever process handles it.
   */
  private persistIntake(w: BatchWrites, item: IntakeItem, attempts: number, notBefore: string | null, lastError: string | null, result: BatchResult): void {
    const requestKey = item.key ?? (item.kind === 'request' ? item.eventId : null);
    if (item.key === undefined && requestKey !== null) {
      w.requestInserts.push({ key: requestKey, machine_type: item.ref.type, machine_id: item.ref.id });
    }
    w.inbox.push({
      ...inboxRow(item.ref, item.event, undefined, {}),
      event_id: item.eventId,
      request_key: requestKey,
      attempts,
      not_before: notBefore,
      last_error: lastError,
    });
    result.settled.push({ item, result: { status: 'accepted' } });
  }

  private deadLetter(
    w: BatchWrites,
    result: BatchResult,
    type: string,
    id: string,
    envelope: Envelope,
    requestKey: string | null,
    reason: string,
    attempts: number,
  ): void {
    w.deadLetters.push({
      machine_type: type,
      machine_id: id,
      event: envelope.event,
      sender_type: envelope.sender?.type ?? null,
      sender_id: envelope.sender?.id ?? null,
      request_key: requestKey,
      reason,
      attempts,
    });
    (result as { deadLetters: number }).deadLetters += 1;
  }

  /** The oldest inbox rows of each machine; with `orphansOnly`, only of machines that do not exist. */
  private async loadInbox(client: PoolClient, refs: readonly MachineRef[], limit: number, orphansOnly = false): Promise<InboxEvent[]> {
    const rows = await query<{
      seq: string;
      machine_type: string;
      machine_id: string;
      event: RsmEvent;
      event_id: string | null;
      sender_type: string | null;
      sender_id: string | null;
      timer_name: string | null;
      request_key: string | null;
      attempts: number;
      not_before: Date | null;
      created_at: Date;
    }>(client,
      `SELECT i.* FROM ${recordset('$1', 'type text, id text', refs)} k
       CROSS JOIN LATERAL (
         SELECT seq, machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name,
                request_key, attempts, not_before, created_at
         FROM ${this.tables.inbox} WHERE machine_type = k.type AND machine_id = k.id
           ${orphansOnly ? `AND NOT EXISTS (SELECT 1 FROM ${this.tables.machines} m WHERE m.type = k.type AND m.id = k.id)` : ''}
         ORDER BY seq LIMIT ${limit}
       ) i ORDER BY i.seq`,
      [JSON.stringify(refs.map((ref) => ({ type: ref.type, id: ref.id })))],
    );
    return rows.rows.map((row) => ({
      seq: row.seq,
      type: row.machine_type,
      id: row.machine_id,
      event: row.event,
      eventId: row.event_id ?? `e${row.seq}`,
      senderType: row.sender_type,
      senderId: row.sender_id,
      timerName: row.timer_name,
      requestKey: row.request_key,
      attempts: row.attempts,
      notBefore: row.not_before,
      createdAt: row.created_at,
    }));
  }

  /**
   * Writes everything the batch decided, in as few statements as its order allows: one statement
   * for the independent writes, then the ones that need a fresh snapshot or another's result.
   */
  private async write(client: PoolClient, w: BatchWrites, result: BatchResult): Promise<void> {
    const t = this.tables;
    const json = (value: unknown) => JSON.stringify(value);

    // Timers cancelled or restarted are written in the first statement: that waits for a poller
    // that is firing one of them right now, so the next statement (a fresh snapshot) sees its
    // Timeout event and deletes it. A cancelled timer never delivers, even if it was firing concurrently.
    const first = new CombinedWrite();
    if (w.machineUpdates.size > 0) {
      const updates = [...w.machineUpdates.values()];
      first.add(
        `UPDATE ${t.machines} m SET state = u.state, data = u.data, status = u.status,
           version = m.version + u.steps, updated_at = now()
         FROM ${recordset(first.param(json(updates)), 'type text, id text, state text, data jsonb, status text, steps int', updates)} u
         WHERE m.type = u.type AND m.id = u.id`,
      );
    }
    if (w.consumed.length > 0) first.add(`DELETE FROM ${t.inbox} WHERE seq = ANY(${first.param(w.consumed)}::bigint[])`);
    const timers = [...w.timers.values()];
    const cancels = timers.filter((timer) => timer.start === null).map(({ machine_type, machine_id, name }) => ({ machine_type, machine_id, name }));
    if (cancels.length > 0) {
      first.add(
        `DELETE FROM ${t.timers} x USING ${recordset(first.param(json(cancels)), 'machine_type text, machine_id text, name text', cancels)} k
         WHERE x.machine_type = k.machine_type AND x.machine_id = k.machine_id AND x.name = k.name`,
      );
    }
    const starts = timers.flatMap((timer) => (timer.start === null ? [] : [{ machine_type: timer.machine_type, machine_id: timer.machine_id, name: timer.name, ...timer.start }]));
    if (starts.length > 0) {
      first.add(
        `INSERT INTO ${t.timers} (machine_type, machine_id, name, fire_at, period_ms, payload)
         SELECT machine_type, machine_id, name, fire_at, period_ms, payload FROM jsonb_to_recordset(${first.param(json(starts))}::jsonb)
           AS r(machine_type text, machine_id text, name text, fire_at timestamptz, period_ms bigint, payload jsonb)
         ON CONFLICT (machine_type, machine_id, name) DO UPDATE
           SET fire_at = EXCLUDED.fire_at, period_ms = EXCLUDED.period_ms, payload = EXCLUDED.payload, created_at = now()`,
      );
    }
    if (w.requestUpdates.length > 0) {
      first.add(
        `UPDATE ${t.requests} r SET status = u.status, reply = u.reply, error = u.error, completed_at = now()
         FROM ${recordset(first.param(json(w.requestUpdates)), 'key text, status text, reply jsonb, error text', w.requestUpdates)} u
         WHERE r.key = u.key`,
      );
    }
    if (w.deadLetters.length > 0) {
      first.add(
        `INSERT INTO ${t.deadLetters} (machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts)
         SELECT machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts
         FROM jsonb_to_recordset(${first.param(json(w.deadLetters))}::jsonb) AS r(machine_type text, machine_id text, event jsonb, sender_type text,
           sender_id text, request_key text, reason text, attempts int)`,
      );
    }
    if (w.steps.length > 0 && this.options.stepHistoryMs > 0) {
      first.add(
        `INSERT INTO ${t.steps} (machine_type, machine_id, event_type, event_id, from_state, to_state, effects)
         SELECT * FROM jsonb_to_recordset(${first.param(json(w.steps))}::jsonb) AS r(machine_type text, machine_id text, event_type text,
           event_id text, from_state text, to_state text, effects int)`,
      );
    }
    await first.run(client);
    if (timers.length > 0) {
      await query(client,
        `DELETE FROM ${t.inbox} i USING ${recordset('$1', 'machine_type text, machine_id text, name text', timers)} k
         WHERE i.machine_type = k.machine_type AND i.machine_id = k.machine_id AND i.timer_name = k.name`,
        [json(timers.map(({ machine_type, machine_id, name }) => ({ machine_type, machine_id, name })))],
      );
    }
    if (w.retries.length > 0) {
      await query(client,
        `UPDATE ${t.inbox} i SET attempts = u.attempts, not_before = u.not_before, last_error = u.last_error
         FROM ${recordset('$1', 'seq bigint, attempts int, not_before timestamptz, last_error text', w.retries)} u
         WHERE i.seq = u.seq`,
        [json(w.retries)],
      );
    }
    let created = new Set<string>();
    if (w.creates.size > 0) {
      const inserted = await query<{ type: string; id: string }>(client,
        `INSERT INTO ${t.machines} (type, id, state, data, definition_version)
         SELECT type, id, state, data, definition_version FROM jsonb_to_recordset($1::jsonb)
           AS r(type text, id text, state text, data jsonb, definition_version int)
         ON CONFLICT DO NOTHING RETURNING type, id`,
        [json([...w.creates.values()])],
      );
      created = new Set(inserted.rows.map((row) => machineKey(row)));
    }
    const inboxRows = w.inbox.filter((row) => row.createOf === undefined || created.has(row.createOf));
    if (inboxRows.length > 0) {
      await query(client,
        `INSERT INTO ${t.inbox} (machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name,
                                  request_key, attempts, not_before, last_error)
         SELECT machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name, request_key,
                attempts, not_before, last_error
         FROM jsonb_to_recordset($1::jsonb) AS r(machine_type text, machine_id text, event jsonb, event_id text,
           sender_type text, sender_id text, timer_name text, request_key text, attempts int,
           not_before timestamptz, last_error text)`,
        [json(inboxRows.map(({ createOf: _createOf, ...row }) => row))],
      );
      for (const row of inboxRows) result.wake.add(`${row.machine_type}/${row.machine_id}`);
    }
    if (w.remote.length > 0) await this.writeOutbox(client, w, result);
    if (w.activities.length > 0) {
      const inserted = await query<{ id: string; idempotency_key: string }>(client,
        `INSERT INTO ${t.activities} (machine_type, machine_id, activity, call_id, idempotency_key, input, attempts, next_attempt_at)
         SELECT machine_type, machine_id, activity, call_id, idempotency_key, input, 1, now() + make_interval(secs => $2::double precision / 1000)
         FROM jsonb_to_recordset($1::jsonb) AS r(machine_type text, machine_id text, activity text, call_id text,
           idempotency_key text, input jsonb)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`,
        [
          json(w.activities.map((a) => ({ machine_type: a.machineType, machine_id: a.machineId, activity: a.activity, call_id: a.callId, idempotency_key: a.idempotencyKey, input: a.input }))),
          this.options.activities.leaseMs,
        ],
      );
      const ids = new Map(inserted.rows.map((row) => [row.idempotency_key, row.id]));
      for (const activity of w.activities) {
        const id = ids.get(activity.idempotencyKey);
        if (id !== undefined) result.activities.push({ ...activity, id, attempts: 1 });
      }
    }
    if (w.requestInserts.length > 0) {
      await query(client,
        `INSERT INTO ${t.requests} (key, machine_type, machine_id, status)
         SELECT key, machine_type, machine_id, 'pending' FROM jsonb_to_recordset($1::jsonb)
           AS r(key text, machine_type text, machine_id text)
         ON CONFLICT DO NOTHING`,
        [json(w.requestInserts)],
      );
    }
  }

  /**
   * Numbers each sender/receiver pair's messages and writes them to the outbox, in one statement:
   * the pair counters move by the pair's count and each message takes its place in that range.
   */
  private async writeOutbox(client: PoolClient, w: BatchWrites, result: BatchResult): Promise<void> {
    const t = this.tables;
    const counts = new Map<string, { sender: string; receiver: string; destination: string; n: number }>();
    const rows = w.remote.map((message, ord) => {
      const sender = machineKey(message.sender);
      const receiver = machineKey(message.to);
      const pair = compositeKey(sender, receiver);
      const entry = counts.get(pair) ?? { sender, receiver, destination: message.destination, n: 0 };
      entry.n += 1;
      counts.set(pair, entry);
      return { ord, destination: message.destination, sender, receiver, idx: entry.n, pair: entry, message: { kind: message.kind, sender: message.sender, to: message.to, event: message.event } };
    });
    // Each message's distance below its pair's new last sequence (0 for the pair's last message).
    const placed = rows.map(({ idx, pair, ...row }) => ({ ...row, back: pair.n - idx }));
    // A pair's counter row is created with a fresh epoch from the schema's sequence (the column
    // default) and marked used; the janitor retires rows left unused (see RsmRuntime.cleanUp).
    const inserted = await query<{ id: string; seq: string; epoch: string; sender: string; receiver: string }>(client,
      `WITH s AS (
         INSERT INTO ${t.sendSeq} (sender, receiver, last_seq, destination)
         SELECT sender, receiver, n, destination FROM jsonb_to_recordset($1::jsonb) AS r(sender text, receiver text, destination text, n bigint)
         ON CONFLICT (sender, receiver) DO UPDATE
           SET last_seq = ${t.sendSeq}.last_seq + EXCLUDED.last_seq, used_at = now(), destination = EXCLUDED.destination
         RETURNING sender, receiver, last_seq, epoch
       ), m AS (
         SELECT m.ord, m.destination, m.message || jsonb_build_object('seq', s.last_seq - m.back, 'epoch', s.epoch) AS message
         FROM jsonb_to_recordset($2::jsonb) AS m(ord int, destination text, sender text, receiver text, back int, message jsonb)
         JOIN s ON s.sender = m.sender AND s.receiver = m.receiver
       )
       INSERT INTO ${t.outbox} (destination, message, next_attempt_at)
       SELECT destination, message, now() + make_interval(secs => $3::double precision / 1000) FROM m ORDER BY ord
       RETURNING id, message->>'seq' AS seq, message->>'epoch' AS epoch,
         (message#>>'{sender,type}') || '/' || (message#>>'{sender,id}') AS sender,
         (message#>>'{to,type}') || '/' || (message#>>'{to,id}') AS receiver`,
      [JSON.stringify([...counts.values()]), JSON.stringify(placed), this.options.delivery.ackTimeoutMs],
    );
    if (inserted.rows.length !== rows.length) throw new Error(`outbox insert returned ${inserted.rows.length} rows for ${rows.length} messages`);
    // Each pair's messages hold consecutive sequence numbers from the pair's lowest, in order.
    const byPairSeq = new Map(inserted.rows.map((row) => [compositeKey(row.sender, row.receiver, row.seq), row]));
    const base = new Map<string, number>();
    for (const row of inserted.rows) {
      const pair = compositeKey(row.sender, row.receiver);
      base.set(pair, Math.min(base.get(pair) ?? Infinity, Number(row.seq)));
    }
    for (const row of rows) {
      const seq = (base.get(compositeKey(row.sender, row.receiver)) ?? NaN) + row.idx - 1;
      const stored = byPairSeq.get(compositeKey(row.sender, row.receiver, String(seq)));
      if (stored === undefined) throw new Error(`outbox insert lost message ${row.idx} of ${row.sender} -> ${row.receiver}`);
      result.outbox.push({ id: stored.id, destination: row.destination, message: { ...row.message, seq, epoch: Number(stored.epoch), outboxId: stored.id } });
    }
  }
}

const declaredEvents = new WeakMap<AnyMachineDefinition, ReadonlySet<string>>();

/**
 * An event's type as a metric label: only the types its machine declares, `other` for anything
 * else, so that events forged with made-up types cannot grow the number of series.
 */
function eventLabel(definition: AnyMachineDefinition, event: RsmEvent): string {
  let known = declaredEvents.get(definition);
  if (known === undefined) {
    known = new Set([...definition.transitions().map((t) => t.event), ...Object.keys(definition.spec.schemas ?? {})]);
    declaredEvents.set(definition, known);
  }
  return typeof event?.type === 'string' && known.has(event.type) ? event.type : 'other';
}

function inboxEnvelope(row: InboxEvent): Envelope {
  return {
    eventId: row.eventId,
    event: row.event,
    sender: row.senderType !== null && row.senderId !== null ? { type: row.senderType, id: row.senderId } : undefined,
  };
}

function isRequestRow(row: InboxEvent): boolean {
  return row.eventId.startsWith('q:');
}

function inboxRow(to: MachineRef, event: RsmEvent, sender: MachineRef | undefined, extra: { createOf?: string } = {}) {
  return {
    machine_type: to.type,
    machine_id: to.id,
    event,
    event_id: null,
    sender_type: sender?.type ?? null,
    sender_id: sender?.id ?? null,
    timer_name: null,
    request_key: null,
    attempts: 0,
    not_before: null,
    last_error: null,
    ...extra,
  };
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

/** An event id for a caller's event: `q:` marks a request, so a drain from the inbox knows to reply. */
export function newEventId(kind: IntakeItem['kind']): string {
  return `${kind === 'request' ? 'q' : 'x'}:${randomUUID()}`;
}
