import { randomUUID } from 'node:crypto';
import type { Effect } from '../definition/effects.js';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import { forgetJson, parseJson, rememberedJson, rememberJson } from '../definition/json-text.js';
import { backoffMs, executeStep, type Envelope, type MachineSnapshot, type MachineStatus, type StepOutcome } from '../definition/step-executor.js';
import { compositeKey, machineKey, type Json, type MachineRef, type RsmEvent } from '../definition/types.js';
import { MachineNotFoundError, RequestFailedError, RequestRejectedError } from '../core/errors.js';
import type { ActivityEntry, KeyedReply, OutboxEntry } from '../core/messages.js';
import type { IntakeItem, IntakeResult } from './intake.js';
import { newMachineRow, type MachineRegistry, type NewMachine } from './machine-registry.js';
import { migrateMachine, upcastEvent, type DeferReason } from './versioning.js';

/**
 * The pure core of a step: what the runtime must do with one event, given the machine and the
 * event's attempts so far. Shared by the Postgres runtime, the in-memory TestRuntime and the
 * simulator, so that all three apply the same failure policy and the same JSON rule.
 */
export type StepDecision =
  | {
      readonly kind: 'commit';
      /** What the handler reported with `ctx.backlog`, if it did. */
      readonly backlogMs?: number;
      /** The machine after the step (at the definition's version). */
      readonly machine: MachineSnapshot;
      readonly effects: readonly Effect[];
      /** The handler's `ctx.reply` value, if it replied. */
      readonly reply: Json | undefined;
      /** The event as the handler got it (upcast when its type has an upcaster). */
      readonly event: RsmEvent;
      /** The state the handler ran in (after a migration, the migrated state). */
      readonly from: string;
      /** The version the machine was stored at, when the step migrated it first. */
      readonly migratedFrom: number | undefined;
    }
  /**
   * This definition must not step the machine (stored by a newer one, or no migration leads
   * here): the event stays where it is, for a process that can.
   */
  | { readonly kind: 'defer'; readonly reason: DeferReason; readonly detail: string }
  /** The event can never be handled: refuse it to a caller waiting on it, or dead-letter it. */
  | { readonly kind: 'reject'; readonly reason: string }
  /** The handler threw and may try again at `notBefore`. */
  | { readonly kind: 'retry'; readonly attempts: number; readonly notBefore: Date; readonly error: string }
  /** The handler threw for the last time: dead-letter the event, and fault the machine if `fault`. */
  | { readonly kind: 'give-up'; readonly attempts: number; readonly reason: string; readonly fault: boolean };

/**
 * Decides one step: migrates a machine stored at an older version (`storedVersion`, default the
 * definition's) and upcasts the event first, then runs the handler and applies the failure policy.
 *
 * With `owned`, the caller owns `stored.data`, whose JSON text is remembered: the handler changes
 * it in place instead of a copy (a large machine's data is then not parsed again for each of its
 * events in a transaction), and the effects are detached from it through their JSON, so that a
 * later step changing the data cannot change an event or reply this one made. If the step fails,
 * the data's text is forgotten, and the caller restores the data from the text it held.
 */
export async function planStep(
  definition: AnyMachineDefinition,
  stored: MachineSnapshot,
  envelope: Envelope,
  attemptsBefore: number,
  now: Date,
  storedVersion: number = definition.version,
  owned = false,
): Promise<StepDecision> {
  const versioned = migrateMachine(definition, stored, storedVersion);
  if (versioned.kind === 'defer') return versioned;
  const machine = versioned.kind === 'failed' ? stored : versioned.machine;
  const upcast = upcastEvent(definition, envelope.event);
  if ('error' in upcast) return { kind: 'reject', reason: upcast.error };
  const event = upcast.event;
  const inPlace = owned && versioned.kind === 'current' && rememberedJson(machine.data) !== undefined;
  let outcome: StepOutcome =
    versioned.kind === 'failed' ? { kind: 'failed', error: versioned.error } : await executeStep(definition, machine, event === envelope.event ? envelope : { ...envelope, event }, now, inPlace);
  if (outcome.kind === 'committed') {
    try {
      // Data and effects must survive JSON; a handler that returns something else has failed.
      const dataText = JSON.stringify(outcome.data);
      const effectsText = JSON.stringify(outcome.effects);
      if (inPlace) {
        if (outcome.data !== machine.data) forgetJson(machine.data);
        outcome = { ...outcome, effects: JSON.parse(effectsText) as Effect[] };
      }
      rememberJson(outcome.data, dataText);
    } catch (error) {
      outcome = { kind: 'failed', error: `state is not JSON: ${String(error)}` };
    }
  }
  if (inPlace && outcome.kind !== 'committed') forgetJson(machine.data);
  if (outcome.kind === 'committed') {
    let reply: Json | undefined;
    for (const effect of outcome.effects) if (effect.kind === 'reply') reply = effect.value;
    const next: MachineSnapshot = { ...machine, state: outcome.state, data: outcome.data, status: outcome.halted ? 'halted' : machine.status };
    return {
      kind: 'commit',
      machine: next,
      effects: outcome.effects,
      reply,
      event,
      from: machine.state,
      migratedFrom: versioned.kind === 'migrated' ? versioned.from : undefined,
      ...(outcome.backlogMs !== undefined ? { backlogMs: outcome.backlogMs } : {}),
    };
  }
  if (outcome.kind === 'rejected') return { kind: 'reject', reason: outcome.reason };
  const attempts = attemptsBefore + 1;
  const policy = definition.failure;
  if (attempts < policy.maxAttempts) {
    return { kind: 'retry', attempts, notBefore: new Date(now.getTime() + backoffMs(attempts, policy.initialBackoffMs, policy.maxBackoffMs)), error: outcome.error };
  }
  return { kind: 'give-up', attempts, reason: `handler failed ${attempts} times, last: ${outcome.error}`, fault: policy.onExhausted === 'fault' };
}

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
  /** Events handled by each machine this transaction locked (0: it had none). */
  readonly handled: Map<string, number>;
  /** What machines reported with `ctx.backlog` (the last report of each), in ms. */
  readonly backlog: Map<string, number>;
  /** Machines whose head event waits for a retry backoff, and until when. */
  readonly retryAt: Map<string, number>;
  readonly replies: KeyedReply[];
  readonly outbox: OutboxEntry[];
  readonly activities: ActivityEntry[];
  readonly timerFireAt: number[];
  readonly steps: StepRecord[];
  /** Machines this process left alone (stored by a newer definition, or no migration): their events stay in the inbox. */
  readonly deferred: { readonly key: string; readonly type: string; readonly reason: DeferReason; readonly detail: string }[];
  /** Machines migrated to the running version by this batch, by type (the version each came from). */
  readonly migrated: { readonly type: string; readonly from: number }[];
  deadLetters: number;
}

export function emptyBatchResult(): BatchResult {
  return { settled: [], wake: new Set(), busy: new Set(), more: new Set(), handled: new Map(), backlog: new Map(), retryAt: new Map(), replies: [], outbox: [], activities: [], timerFireAt: [], steps: [], deferred: [], migrated: [], deadLetters: 0 };
}

/** An inbox row as a step reads it. */
export interface InboxEvent {
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

export type Pending = { source: 'inbox'; row: InboxEvent } | { source: 'intake'; item: IntakeItem };

export interface NewInboxRow {
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
}

/** Rows a batch writes, decided in memory by the planner and written by the store with one statement per table. */
export class BatchWrites {
  readonly machineUpdates = new Map<string, { type: string; id: string; state: string; data: unknown; status: MachineStatus; steps: number; definition_version: number }>();
  readonly consumed: string[] = [];
  readonly retries: { seq: string; attempts: number; not_before: string; last_error: string }[] = [];
  /** New inbox rows, in the order they must be handled. */
  readonly inbox: NewInboxRow[] = [];
  readonly creates = new Map<string, NewMachine>();
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
  readonly steps: { machine_type: string; machine_id: string; event_type: string; event_id: string; from_state: string; to_state: string; effects: number; sends: StepSend[]; definition_version: number }[] = [];
}

/** How many sends and creates of one step the step history keeps (the rest are only counted, in `effects`). */
export const STEP_SENDS_KEPT = 10;

/** An event a step sent, or a machine it created, as the step history keeps it: receiver and event type, never the payload. */
export interface StepSend {
  readonly kind: 'send' | 'create';
  /** The receiver's type and id. */
  readonly type: string;
  readonly id: string;
  /** The event's type (for a create, its creation event's). */
  readonly event: string;
}

/**
 * The first STEP_SENDS_KEPT sends and creates of a step, bounded in size: ids are at most
 * MAX_ID_BYTES already; types and event types (any string a handler wrote) are cut at 200 characters.
 */
export function stepSends(effects: readonly Effect[]): StepSend[] {
  const sends: StepSend[] = [];
  for (const effect of effects) {
    if (sends.length === STEP_SENDS_KEPT) break;
    if (effect.kind === 'send' || effect.kind === 'create') sends.push({ kind: effect.kind, type: effect.to.type.slice(0, 200), id: effect.to.id, event: effect.event.type.slice(0, 200) });
  }
  return sends;
}

/** What the store found when it locked a batch's machines. */
export interface LockedBatch {
  /** Creations callers asked for that this transaction made. */
  readonly createdByCaller: ReadonlySet<string>;
  /** The items whose creation this transaction tried, one per machine (cancelled or not since). */
  readonly creators: ReadonlySet<IntakeItem>;
  /** Machines this transaction holds. */
  readonly locked: ReadonlyMap<string, MachineSnapshot>;
  /** Machines that exist but another transaction holds. */
  readonly existing: ReadonlySet<string>;
}

/**
 * Plans a step transaction without touching the database: which callers' events are handled,
 * which wait in the inbox, what every handler decided, and every row to write. The store loads
 * what it needs and writes what it decides; this class never does I/O.
 */
export class StepPlanner {
  constructor(
    private readonly registry: MachineRegistry,
    private readonly service: string,
  ) {}

  /**
   * Sorts callers' items: creations that exist already, events for missing machines, and the live
   * ones per machine. Items carrying an idempotency key are returned in `keyed` for the store to claim.
   */
  sortIntake(intake: ReadonlyMap<string, readonly IntakeItem[]>, found: LockedBatch, result: BatchResult): { live: Map<string, IntakeItem[]>; keyed: IntakeItem[] } {
    const live = new Map<string, IntakeItem[]>();
    const keyed: IntakeItem[] = [];
    for (const [key, items] of intake) {
      for (const item of items) {
        // A caller that gave up (its deadline passed) is left out, unless this transaction created
        // its machine: a machine row must never commit without the event that created it (found by
        // the chaos test: a create timed out between the insert and this sort, its machine stayed
        // in its initial state forever, and the caller's retry was told it existed).
        if (item.cancelled && !(item.kind === 'create' && found.createdByCaller.has(key) && found.creators.has(item))) continue;
        if (item.kind === 'create') {
          if (found.createdByCaller.has(key) && !live.has(key)) {
            live.set(key, [item]);
          } else if (found.createdByCaller.has(key) || found.locked.has(key) || found.existing.has(key)) {
            result.settled.push({ item, result: { status: 'exists' } });
          } else {
            result.settled.push({ item, error: new Error(`could not create ${key}`) });
          }
          continue;
        }
        if (!found.locked.has(key) && !found.existing.has(key)) {
          result.settled.push({ item, error: new MachineNotFoundError(item.ref) });
          continue;
        }
        if (item.key !== undefined) keyed.push(item);
        const list = live.get(key) ?? [];
        list.push(item);
        live.set(key, list);
      }
    }
    return { live, keyed };
  }

  /** Settles callers whose idempotency key was claimed before (`fresh` holds the keys this batch claimed). */
  dropDuplicateKeys(keyed: readonly IntakeItem[], fresh: ReadonlySet<string>, live: Map<string, IntakeItem[]>, result: BatchResult): void {
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

  /**
   * Plans one locked machine's events, in order: its inbox rows, then its callers' events. A machine
   * stored at an older version (`storedVersion`) is migrated by its first committed step and written
   * at the running version; one this definition must not step keeps its inbox rows, and its
   * callers' events join them. Returns whether it stopped at an event it cannot take now (a
   * backoff, a fault, a newer definition): what is behind that waits for the retry time, a redrive
   * or another process, not for this one to come back at once.
   */
  async planMachine(w: BatchWrites, result: BatchResult, start: MachineSnapshot, pending: readonly Pending[], now: Date, bornAt: number, storedVersion?: number): Promise<boolean> {
    const definition = this.registry.require(start.type);
    const key = machineKey(start);
    let machine = start;
    let version = storedVersion ?? definition.version;
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
      const envelope: Envelope = entry.source === 'inbox' ? inboxEnvelope(entry.row) : { eventId: entry.item.eventId, event: entry.item.event, sender: undefined };
      const requestKey = row?.requestKey ?? (entry.source === 'intake' ? entry.item.key : undefined) ?? null;
      const isRequest = entry.source === 'intake' ? entry.item.kind === 'request' : row !== undefined && row.requestKey !== null && isRequestRow(row);
      const attemptsBefore = row?.attempts ?? 0;
      const startedAt = performance.now();
      // The machine's data belongs to this transaction (read from its row, or left by its previous
      // step here): the handler may change it in place; a failed step leaves it to be restored.
      const pristine = rememberedJson(machine.data);
      const decision = await planStep(definition, machine, envelope, attemptsBefore, now, version, pristine !== undefined);
      if (decision.kind !== 'commit' && pristine !== undefined) machine = { ...machine, data: parseJson(pristine) };
      const handlerSeconds = (performance.now() - startedAt) / 1_000;
      const acceptedAt = entry.source === 'inbox' ? entry.row.createdAt.getTime() : entry.item.enqueuedAt;
      const latencySeconds = (Date.now() - acceptedAt) / 1_000;
      const label = eventLabel(definition, decision.kind === 'commit' ? decision.event : envelope.event);

      switch (decision.kind) {
        case 'defer':
          // Only the first event can get here (a committed step leaves the machine current): every
          // event of the machine stays for a process that may step it, callers' events in the inbox.
          result.deferred.push({ key, type: machine.type, reason: decision.reason, detail: decision.detail });
          if (entry.source === 'intake') this.persistIntake(w, entry.item, 0, null, null, result);
          blocked = true;
          break;
        case 'commit': {
          if (row !== undefined) w.consumed.push(row.seq);
          const fromState = decision.from;
          if (decision.migratedFrom !== undefined) result.migrated.push({ type: machine.type, from: decision.migratedFrom });
          if (decision.backlogMs !== undefined) result.backlog.set(key, decision.backlogMs);
          machine = decision.machine;
          version = definition.version;
          steps += 1;
          this.applyEffects(w, machine, envelope, decision.effects, touchedTimers, now, result);
          this.settle(entry, requestKey, isRequest, { ok: true, value: decision.reply ?? null }, w, result);
          w.steps.push({
            machine_type: machine.type,
            machine_id: machine.id,
            event_type: decision.event.type,
            event_id: envelope.eventId,
            from_state: fromState,
            to_state: machine.state,
            effects: decision.effects.length,
            sends: stepSends(decision.effects),
            definition_version: definition.version,
          });
          result.steps.push({
            type: machine.type,
            event: label,
            outcome: 'ok',
            handlerSeconds,
            latencySeconds,
            ...(fromState !== machine.state ? { transition: { from: fromState, to: machine.state, ageSeconds: (now.getTime() - bornAt) / 1_000 } } : {}),
          });
          break;
        }
        case 'reject':
          if (row !== undefined) w.consumed.push(row.seq);
          if (isRequest) {
            // The caller sees the refusal; nothing is silent, so no dead letter is needed.
            this.settle(entry, requestKey, true, { ok: false, kind: 'rejected', reason: decision.reason }, w, result);
            result.steps.push({ type: machine.type, event: label, outcome: 'rejected', handlerSeconds, latencySeconds });
          } else {
            this.deadLetter(w, result, machine.type, machine.id, envelope, requestKey, decision.reason, attemptsBefore);
            this.settle(entry, requestKey, false, { ok: false, kind: 'rejected', reason: decision.reason }, w, result);
            result.steps.push({ type: machine.type, event: label, outcome: 'dead_lettered', handlerSeconds, latencySeconds });
          }
          break;
        case 'retry':
          if (row !== undefined) {
            w.retries.push({ seq: row.seq, attempts: decision.attempts, not_before: decision.notBefore.toISOString(), last_error: decision.error });
          } else if (entry.source === 'intake') {
            this.persistIntake(w, entry.item, decision.attempts, decision.notBefore.toISOString(), decision.error, result);
          }
          result.retryAt.set(key, decision.notBefore.getTime());
          result.steps.push({ type: machine.type, event: label, outcome: 'failed', handlerSeconds, latencySeconds });
          blocked = true;
          break;
        case 'give-up':
          if (row !== undefined) w.consumed.push(row.seq);
          this.deadLetter(w, result, machine.type, machine.id, envelope, requestKey, decision.reason, decision.attempts);
          this.settle(entry, requestKey, isRequest, { ok: false, kind: 'failed', reason: decision.reason }, w, result);
          result.steps.push({ type: machine.type, event: label, outcome: 'dead_lettered', handlerSeconds, latencySeconds });
          if (decision.fault) {
            machine = { ...machine, status: 'faulted' };
            steps += 1;
            blocked = true;
          }
          break;
      }
    }
    if (steps > 0 || machine.status !== start.status) {
      w.machineUpdates.set(key, { type: machine.type, id: machine.id, state: machine.state, data: machine.data, status: machine.status, steps, definition_version: version });
    }
    return blocked;
  }

  /**
   * Makes a caller's event durable in the inbox instead of handling it now. A request gets a key
   * (its own or its event id) so that its caller can be answered by whichever process handles it.
   */
  persistIntake(w: BatchWrites, item: IntakeItem, attempts: number, notBefore: string | null, lastError: string | null, result: BatchResult): void {
    const requestKey = item.key ?? (item.kind === 'request' ? item.eventId : null);
    if (item.key === undefined && requestKey !== null) {
      w.requestInserts.push({ key: requestKey, machine_type: item.ref.type, machine_id: item.ref.id });
    }
    w.inbox.push({ ...inboxRow(item.ref, item.event, undefined), event_id: item.eventId, request_key: requestKey, attempts, not_before: notBefore, last_error: lastError });
    result.settled.push({ item, result: { status: 'accepted' } });
  }

  /** Dead-letters the inbox rows of a machine that does not exist; a request among them fails. */
  orphans(w: BatchWrites, result: BatchResult, rows: readonly InboxEvent[]): void {
    for (const row of rows) {
      const reason = `no machine ${row.type}/${row.id}`;
      w.consumed.push(row.seq);
      this.deadLetter(w, result, row.type, row.id, inboxEnvelope(row), row.requestKey, reason, row.attempts);
      if (row.requestKey !== null) w.requestUpdates.push({ key: row.requestKey, status: 'failed', reply: null, error: `failed: ${reason}` });
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

  private applyEffects(w: BatchWrites, machine: MachineSnapshot, envelope: Envelope, effects: readonly Effect[], touchedTimers: Set<string>, now: Date, result: BatchResult): void {
    const self: MachineRef = { type: machine.type, id: machine.id };
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send':
        case 'create': {
          const service = this.registry.serviceOf(effect.to.type);
          if (service === undefined) {
            this.deadLetter(w, result, effect.to.type, effect.to.id, { eventId: envelope.eventId, event: effect.event, sender: self }, null, `no route to machine type ${effect.to.type} (sent by ${machine.type}/${machine.id})`, 0);
          } else if (service === this.service) {
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
          w.timers.set(compositeKey(machine.type, machine.id, effect.name), { machine_type: machine.type, machine_id: machine.id, name: effect.name, start: null });
          break;
        case 'call':
          w.activities.push({ machineType: machine.type, machineId: machine.id, activity: effect.activity, callId: effect.callId, idempotencyKey: effect.idempotencyKey, input: effect.input });
          break;
        case 'reply':
          break;
      }
    }
  }

  private deadLetter(w: BatchWrites, result: BatchResult, type: string, id: string, envelope: Envelope, requestKey: string | null, reason: string, attempts: number): void {
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
    result.deadLetters += 1;
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

function inboxRow(to: MachineRef, event: RsmEvent, sender: MachineRef | undefined, extra: { createOf?: string } = {}): NewInboxRow {
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

/** An event id for a caller's event: `q:` marks a request, so a drain from the inbox knows to reply. */
export function newEventId(kind: IntakeItem['kind']): string {
  return `${kind === 'request' ? 'q' : 'x'}:${randomUUID()}`;
}
