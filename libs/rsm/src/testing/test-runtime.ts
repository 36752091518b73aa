import { DEFAULT_ACTIVITY_RETRY, type AnyActivityDefinition } from '../definition/activity.js';
import type { Effect } from '../definition/effects.js';
import { newMachineRow } from '../planning/machine-registry.js';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import type { MachineStatus } from '../definition/step-executor.js';
import { planStep } from '../planning/step-planner.js';
import { MachineNotFoundError, RequestFailedError, RequestRejectedError, RequestTimeoutError } from '../core/errors.js';
import { asStored } from '../definition/json-text.js';
import { compositeKey, invalidIdReason, machineKey, type Json, type EventTo, type MachineRef, type ReplyMap, type ReplyOf, type RsmEvent } from '../definition/types.js';

/** A machine as the test runtime holds it. */
export interface TestMachine<D = unknown> {
  readonly type: string;
  readonly id: string;
  state: string;
  data: D;
  status: MachineStatus;
  steps: number;
  /** The definition version the machine is stored at (it moves to the running one with its next step). */
  version: number;
}

/** One handled event, for assertions on what a machine did. */
export interface TraceEntry {
  readonly machine: string;
  readonly event: RsmEvent;
  readonly from: string;
  readonly to: string;
  /** `deferred`: the machine is stored at a version this runtime's definition cannot step; the event waits (see `upgrade`). */
  readonly outcome: 'ok' | 'rejected' | 'failed' | 'dead_lettered' | 'deferred';
  readonly effects: readonly Effect[];
}

/** An event addressed to a machine type this runtime does not own (another service's). */
export interface OutboundEvent {
  readonly kind: 'send' | 'create';
  readonly from: MachineRef;
  readonly to: MachineRef;
  readonly event: RsmEvent;
}

/** An activity call waiting for its outcome. */
export interface PendingCall {
  readonly machine: MachineRef;
  readonly activity: string;
  readonly callId: string;
  readonly idempotencyKey: string;
  readonly input: Json;
}

interface Queued {
  readonly to: MachineRef;
  readonly event: RsmEvent;
  readonly sender: MachineRef | undefined;
  readonly eventId: string;
  attempts: number;
  reply?: { resolve(value: Json | undefined): void; reject(error: Error): void };
}

interface Timer {
  readonly machine: MachineRef;
  readonly name: string;
  fireAt: number;
  readonly periodMs: number | null;
  readonly payload: Json | null;
}

/**
 * The deadline a production `request` has by default (`requests.timeoutMs`): a request that would
 * wait for it there (its machine faulted, or its event deferred to a newer definition) fails here
 * at once with the RequestTimeoutError production's caller gets at that deadline.
 */
const PRODUCTION_REQUEST_TIMEOUT_MS = 10_000;
/** That error, with why production would wait as its `cause`. */
function wouldWait(ref: MachineRef, why: string): RequestTimeoutError {
  const error = new RequestTimeoutError(ref, PRODUCTION_REQUEST_TIMEOUT_MS);
  error.cause = new Error(why);
  return error;
}

/**
 * Runs machine definitions in memory with a virtual clock: no Postgres, no Redis. The same step
 * semantics as the real runtime (it shares the step executor), so a unit test of a machine checks
 * what production will do: refused events are dead-lettered, failing handlers retried then
 * dead-lettered, cancelled timers never fire, activity outcomes come back as events.
 *
 * @example
 * const rt = new TestRuntime([Counter]);
 * await rt.create({ type: 'Counter', id: 'c1' }, { type: 'Add', n: 1 });
 * assert.equal(await rt.request({ type: 'Counter', id: 'c1' }, { type: 'Add', n: 2 }), 3);
 * await rt.advance(60_000); // fires due timers
 */
export class TestRuntime {
  readonly machines = new Map<string, TestMachine>();
  readonly deadLetters: { machine: MachineRef; event: RsmEvent; reason: string }[] = [];
  readonly outbound: OutboundEvent[] = [];
  readonly trace: TraceEntry[] = [];
  readonly pendingCalls: PendingCall[] = [];
  private readonly definitions = new Map<string, AnyMachineDefinition>();
  private readonly activities = new Map<string, AnyActivityDefinition>();
  private readonly queue: Queued[] = [];
  /** Events that reached a faulted machine: kept, in arrival order, until a redrive (as in production). */
  private readonly parked = new Map<string, Queued[]>();
  /** Events of machines this runtime's definitions must not step (stored at a newer version): kept until `upgrade`. */
  private readonly deferred = new Map<string, Queued[]>();
  /** The event behind each open dead letter, so a redrive hands it back as production does. */
  private readonly letters = new Map<object, Queued>();
  private readonly timers = new Map<string, Timer>();
  private clock: number;
  private seq = 0;
  private readonly backlogs = new Map<string, number>();

  constructor(machines: readonly AnyMachineDefinition[], options: { activities?: readonly AnyActivityDefinition[]; now?: Date } = {}) {
    for (const machine of machines) this.definitions.set(machine.type, machine);
    for (const activity of options.activities ?? []) this.activities.set(activity.name, activity);
    this.clock = (options.now ?? new Date('2026-01-01T00:00:00Z')).getTime();
  }

  /** The virtual time. */
  get now(): Date {
    return new Date(this.clock);
  }

  get<D>(ref: MachineRef<RsmEvent, ReplyMap, D>): TestMachine<D> | undefined {
    return this.machines.get(machineKey(ref)) as TestMachine<D> | undefined;
  }

  /** The state of a machine, or an error naming the missing machine. */
  stateOf(ref: MachineRef): string {
    const machine = this.get(ref);
    if (machine === undefined) throw new Error(`no machine ${machineKey(ref)}`);
    return machine.state;
  }

  /**
   * What the machine last reported with `ctx.backlog` (how long the oldest work it holds has
   * waited, in ms), or undefined if it never did. Production counts it as lag for admission.
   */
  backlogOf(ref: MachineRef): number | undefined {
    return this.backlogs.get(machineKey(ref));
  }

  /** Timers of a machine that are started and not fired or cancelled. */
  timersOf(ref: MachineRef): { name: string; fireAt: Date }[] {
    return [...this.timers.values()]
      .filter((t) => t.machine.type === ref.type && t.machine.id === ref.id)
      .map((t) => ({ name: t.name, fireAt: new Date(t.fireAt) }));
  }

  /**
   * Puts a machine directly in `state` with `data` (replacing it if it exists), without running any
   * handler: the "given" of a test that starts from the middle of a machine's life. With `version`,
   * the machine is stored at that definition version (an older one: its next step migrates it;
   * its state and data are then the older version's, unchecked).
   *
   * @example
   * rt.seed(Drone.ref('d1'), { state: 'EnRouteToPickup', data: { ...flying } });
   * rt.seed(Drone.ref('d2'), { state: 'Flying', data: { battery: 80 }, version: 1 }); // a v1 drone, migrated by its next step
   */
  seed(ref: MachineRef, machine: { state: string; data: unknown; status?: MachineStatus; version?: number }): void {
    const definition = this.definitions.get(ref.type);
    if (definition === undefined) throw new Error(`test runtime owns no machine type ${ref.type}`);
    const version = machine.version ?? definition.version;
    if (!Number.isInteger(version) || version < 1) throw new Error(`seed ${machineKey(ref)}: version must be a positive integer`);
    if (version === definition.version && !(definition.states as readonly string[]).includes(machine.state)) throw new Error(`${ref.type} has no state ${machine.state}`);
    this.machines.set(machineKey(ref), { type: ref.type, id: ref.id, state: machine.state, data: structuredClone(machine.data), status: machine.status ?? 'active', steps: 0, version });
  }

  /**
   * Replaces the running definition of each given type (a rolling deploy finishing): machines
   * stored at older versions migrate with their next step, and the events kept for machines the
   * previous definition could not step are handed back, in order. Run `runUntilIdle` after it.
   *
   * @example
   * const rt = new TestRuntime([CounterV1]);
   * await rt.create(CounterV1.ref('c1'), { type: 'Open' });
   * rt.upgrade(Counter);                      // v2
   * await rt.send(Counter.ref('c1'), { type: 'Add', n: 1 }); // c1 migrates to v2, then handles Add
   */
  upgrade(...definitions: readonly AnyMachineDefinition[]): void {
    for (const definition of definitions) {
      if (!this.definitions.has(definition.type)) throw new Error(`test runtime owns no machine type ${definition.type}`);
    }
    for (const definition of definitions) this.definitions.set(definition.type, definition);
    for (const [key, kept] of [...this.deferred]) {
      if (!definitions.some((d) => d.type === kept[0]?.to.type)) continue;
      this.deferred.delete(key);
      for (const item of kept) this.enqueue(item);
    }
  }

  /** Creates a machine and runs until idle. Idempotent, like the real runtime. */
  async create<E extends RsmEvent>(ref: MachineRef<E, ReplyMap, unknown>, initEvent: NoInfer<EventTo<E>>): Promise<{ created: boolean }> {
    this.checkCall(ref, initEvent, false);
    const created = this.createMachine(ref, initEvent, undefined);
    await this.runUntilIdle();
    return { created };
  }

  /** Delivers an event (from `from`, if given) and runs until idle. */
  async send<E extends RsmEvent>(ref: MachineRef<E, ReplyMap, unknown>, event: NoInfer<EventTo<E>>, from?: MachineRef): Promise<void> {
    // From a machine, an event to a missing machine is dead-lettered by the receiver; from a
    // caller, it is refused at once, as production refuses it.
    if (from === undefined) this.checkCall(ref, event, true);
    this.enqueue({ to: ref, event, sender: from, eventId: this.nextId(), attempts: 0 });
    await this.runUntilIdle();
  }

  /** Delivers an event and returns the handler's reply, typed as `RsmRuntime.request` types it. */
  async request<E extends RsmEvent, R extends ReplyMap, T extends E['type']>(ref: MachineRef<E, R, unknown>, event: NoInfer<EventTo<E>> & { readonly type: T }): Promise<ReplyOf<R, T>> {
    this.checkCall(ref, event, true);
    const reply = new Promise<Json | undefined>((resolve, reject) => {
      this.enqueue({ to: ref, event, sender: undefined, eventId: this.nextId(), attempts: 0, reply: { resolve, reject } });
    });
    await this.runUntilIdle();
    return (await reply) as ReplyOf<R, T>;
  }

  /** Moves the virtual clock forward, firing timers in time order, and runs until idle. */
  async advance(ms: number): Promise<void> {
    const until = this.clock + ms;
    for (;;) {
      const next = [...this.timers.values()].filter((t) => t.fireAt <= until).sort((a, b) => a.fireAt - b.fireAt)[0];
      if (next === undefined) break;
      this.clock = Math.max(this.clock, next.fireAt);
      const key = compositeKey(machineKey(next.machine), next.name);
      if (next.periodMs === null) this.timers.delete(key);
      else next.fireAt += next.periodMs;
      // As in production: a periodic timer whose last Timeout waits (its machine faulted or
      // deferred) moves on without another.
      if (next.periodMs !== null && this.timeoutWaits(next.machine, next.name)) continue;
      this.enqueue({
        to: next.machine,
        event: next.payload === null ? { type: 'Timeout', name: next.name } as RsmEvent : ({ type: 'Timeout', name: next.name, payload: next.payload } as RsmEvent),
        sender: undefined,
        eventId: this.nextId(),
        attempts: 0,
      });
      await this.runUntilIdle();
    }
    this.clock = until;
    await this.runUntilIdle();
  }

  /** Whether a Timeout of the timer `name` waits for the machine: queued, parked or deferred. */
  private timeoutWaits(machine: MachineRef, name: string): boolean {
    const key = machineKey(machine);
    const isIt = (item: Queued) => machineKey(item.to) === key && item.event.type === 'Timeout' && (item.event as { name?: unknown }).name === name;
    return this.queue.some(isIt) || (this.parked.get(key) ?? []).some(isIt) || (this.deferred.get(key) ?? []).some(isIt);
  }

  /** Completes a pending activity call as the real runtime would after a successful attempt. */
  async completeActivity(callId: string, output: Json): Promise<void> {
    const call = this.takeCall(callId);
    this.enqueue({ to: call.machine, event: { type: 'ActivityCompleted', activity: call.activity, callId, output } as RsmEvent, sender: undefined, eventId: this.nextId(), attempts: 0 });
    await this.runUntilIdle();
  }

  /** Fails a pending activity call as the real runtime would once its retries are exhausted. */
  async failActivity(callId: string, error: string, attempts = 1): Promise<void> {
    const call = this.takeCall(callId);
    this.enqueue({ to: call.machine, event: { type: 'ActivityFailed', activity: call.activity, callId, error, attempts } as RsmEvent, sender: undefined, eventId: this.nextId(), attempts: 0 });
    await this.runUntilIdle();
  }

  /** Handles queued events until none is left. */
  async runUntilIdle(): Promise<void> {
    for (let guard = 0; this.queue.length > 0; guard += 1) {
      if (guard > 1_000_000) throw new Error('test runtime: more than a million steps; is a machine looping?');
      await this.step(this.queue.shift() as Queued);
    }
  }

  private takeCall(callId: string): PendingCall {
    const index = this.pendingCalls.findIndex((c) => c.callId === callId);
    if (index < 0) throw new Error(`no pending activity call ${callId} (pending: ${this.pendingCalls.map((c) => c.callId).join(', ') || 'none'})`);
    return this.pendingCalls.splice(index, 1)[0] as PendingCall;
  }

  private nextId(): string {
    this.seq += 1;
    return `t${this.seq}`;
  }

  private enqueue(item: Queued): void {
    this.queue.push({ ...item, event: asStored(item.event) });
  }

  private createMachine(ref: MachineRef, initEvent: RsmEvent, sender: MachineRef | undefined): boolean {
    const definition = this.definitions.get(ref.type);
    if (definition === undefined) throw new Error(`test runtime owns no machine type ${ref.type}`);
    const key = machineKey(ref);
    if (this.machines.has(key)) return false;
    const row = newMachineRow(definition, ref);
    this.machines.set(key, { type: ref.type, id: ref.id, state: row.state, data: row.data, status: 'active', steps: 0, version: row.definition_version });
    this.enqueue({ to: ref, event: initEvent, sender, eventId: this.nextId(), attempts: 0 });
    return true;
  }

  /**
   * What production checks of a caller's call before anything runs: a reference and event it can
   * take (a TypeError otherwise), a type this runtime owns, and (unless creating) a machine that
   * exists (MachineNotFoundError).
   */
  private checkCall(ref: MachineRef, event: RsmEvent, mustExist: boolean): void {
    const invalid = invalidIdReason(ref?.id);
    if (typeof ref?.type !== 'string' || invalid !== undefined) throw new TypeError(`not a machine reference (${invalid ?? 'the type must be a string'}): ${JSON.stringify(ref).slice(0, 200)}`);
    if (typeof event?.type !== 'string' || event.type === '') throw new TypeError('not an event: its type must be a non-empty string');
    if (!this.definitions.has(ref.type)) throw new TypeError(`test runtime owns no machine type ${ref.type}`);
    if (mustExist && !this.machines.has(machineKey(ref))) throw new MachineNotFoundError(ref);
  }

  private async step(item: Queued): Promise<void> {
    const key = machineKey(item.to);
    const machine = this.machines.get(key);
    const definition = this.definitions.get(item.to.type);
    if (machine === undefined || definition === undefined) {
      this.deadLetter(item, `no machine ${key}`);
      return;
    }
    if (machine.status === 'faulted') {
      // Production keeps the event in the machine's inbox until an operator redrives; a caller
      // waiting on it gets no answer (here: at once, as its deadline would pass in real time).
      const parked = this.parked.get(key) ?? [];
      parked.push(item);
      this.parked.set(key, parked);
      item.reply?.reject(wouldWait(item.to, `machine ${key} is faulted: the event waits for a redrive`));
      return;
    }
    const from = machine.state;
    // The same decision as production: the failure policy, and state that must survive JSON.
    const decision = await planStep(definition, machine, { eventId: item.eventId, event: item.event, sender: item.sender }, item.attempts, this.now, machine.version);
    if (decision.kind === 'defer') {
      // Production leaves the event in the inbox for a process running a newer definition.
      const kept = this.deferred.get(key) ?? [];
      kept.push(item);
      this.deferred.set(key, kept);
      item.reply?.reject(wouldWait(item.to, `deferred: ${decision.detail}`));
      this.trace.push({ machine: key, event: item.event, from, to: from, outcome: 'deferred', effects: [] });
      return;
    }
    if (decision.kind === 'reject') {
      if (item.reply !== undefined) item.reply.reject(new RequestRejectedError(item.to, decision.reason));
      else this.deadLetter(item, decision.reason);
      this.trace.push({ machine: key, event: item.event, from, to: from, outcome: item.reply ? 'rejected' : 'dead_lettered', effects: [] });
      return;
    }
    if (decision.kind === 'retry') {
      item.attempts = decision.attempts;
      this.trace.push({ machine: key, event: item.event, from, to: from, outcome: 'failed', effects: [] });
      // Retries are immediate in virtual time; their count and the final dead letter are real.
      this.queue.unshift(item);
      return;
    }
    if (decision.kind === 'give-up') {
      item.attempts = decision.attempts;
      this.trace.push({ machine: key, event: item.event, from, to: from, outcome: 'failed', effects: [] });
      this.deadLetter(item, decision.reason);
      item.reply?.reject(new RequestFailedError(item.to, decision.reason));
      if (decision.fault) machine.status = 'faulted';
      return;
    }
    const outcome = decision;
    machine.state = outcome.machine.state;
    machine.data = outcome.machine.data;
    machine.steps += 1;
    machine.status = outcome.machine.status;
    machine.version = definition.version;
    if (outcome.backlogMs !== undefined) this.backlogs.set(key, outcome.backlogMs);
    this.trace.push({ machine: key, event: item.event, from, to: machine.state, outcome: 'ok', effects: outcome.effects });
    let replied = false;
    for (const effect of outcome.effects) {
      if (effect.kind === 'reply') {
        replied = true;
        item.reply?.resolve(effect.value);
      } else {
        await this.apply(machine, effect);
      }
    }
    if (!replied) item.reply?.resolve(undefined);
    // As production: a halted machine keeps no timer (it could never handle its Timeout).
    if (machine.status === 'halted') {
      for (const [key, timer] of this.timers) if (timer.machine.type === machine.type && timer.machine.id === machine.id) this.timers.delete(key);
    }
  }

  private async apply(machine: TestMachine, effect: Effect): Promise<void> {
    const self = { type: machine.type, id: machine.id };
    switch (effect.kind) {
      case 'send':
        if (this.definitions.has(effect.to.type)) this.enqueue({ to: effect.to, event: effect.event, sender: self, eventId: this.nextId(), attempts: 0 });
        else this.outbound.push({ kind: 'send', from: self, to: effect.to, event: effect.event });
        break;
      case 'create':
        if (this.definitions.has(effect.to.type)) this.createMachine(effect.to, effect.event, self);
        else this.outbound.push({ kind: 'create', from: self, to: effect.to, event: effect.event });
        break;
      case 'startTimer':
        this.timers.set(compositeKey(machineKey(self), effect.name), { machine: self, name: effect.name, fireAt: this.clock + effect.delayMs, periodMs: effect.periodMs, payload: effect.payload });
        break;
      case 'cancelTimer':
        this.timers.delete(compositeKey(machineKey(self), effect.name));
        break;
      case 'call': {
        const call: PendingCall = { machine: self, activity: effect.activity, callId: effect.callId, idempotencyKey: effect.idempotencyKey, input: effect.input };
        const activity = this.activities.get(effect.activity);
        if (activity === undefined) {
          this.pendingCalls.push(call);
          break;
        }
        const policy = { ...DEFAULT_ACTIVITY_RETRY, ...activity.retry };
        let event: RsmEvent | undefined;
        for (let attempt = 1; attempt <= policy.maxAttempts && event === undefined; attempt += 1) {
          try {
            const output = (await activity.run(effect.input, { idempotencyKey: effect.idempotencyKey, attempt, machine: self, callId: effect.callId, signal: new AbortController().signal })) as Json;
            event = { type: 'ActivityCompleted', activity: effect.activity, callId: effect.callId, output: output ?? null } as RsmEvent;
          } catch (error) {
            if (attempt === policy.maxAttempts) {
              const message = error instanceof Error ? error.message : String(error);
              event = { type: 'ActivityFailed', activity: effect.activity, callId: effect.callId, error: message, attempts: attempt } as RsmEvent;
            }
          }
        }
        if (event !== undefined) this.enqueue({ to: self, event, sender: undefined, eventId: this.nextId(), attempts: 0 });
        break;
      }
      case 'reply':
        break;
    }
  }

  private deadLetter(item: Queued, reason: string): void {
    const letter = { machine: item.to, event: item.event, reason };
    this.deadLetters.push(letter);
    this.letters.set(letter, item);
  }

  /**
   * Puts dead letter `index` (of {@link deadLetters}) back, as `RsmRuntime.redrive` does: a faulted
   * machine becomes active again, the events it kept meanwhile are handled first, in their order,
   * then the redriven one. Returns false when there is no such open dead letter.
   *
   * @example
   * rt.redrive(0); await rt.runUntilIdle();
   */
  redrive(index: number): boolean {
    const letter = this.deadLetters[index];
    const item = letter === undefined ? undefined : this.letters.get(letter);
    if (letter === undefined || item === undefined) return false;
    this.deadLetters.splice(index, 1);
    this.letters.delete(letter);
    const key = machineKey(item.to);
    const machine = this.machines.get(key);
    if (machine?.status === 'faulted') machine.status = 'active';
    const kept = this.parked.get(key) ?? [];
    this.parked.delete(key);
    for (const queued of [...kept, { ...item, attempts: 0, reply: undefined }]) this.enqueue(queued);
    return true;
  }
}

