import type { Effect } from '../../definition/effects.js';
import type { AnyMachineDefinition } from '../../definition/machine-definition.js';
import { executeStep, type MachineStatus } from '../../definition/step-executor.js';
import { compositeKey, machineKey, type Json, type MachineRef, type RsmEvent } from '../../definition/types.js';
import { newMachineRow } from '../../planning/machine-registry.js';

/** A machine as the simulation holds it; monitors read these. */
export interface SimMachine {
  readonly type: string;
  readonly id: string;
  state: string;
  data: unknown;
  status: MachineStatus;
}

/** An event waiting in a sender/receiver pair's queue. */
interface Message {
  readonly event: RsmEvent;
  readonly sender: MachineRef | undefined;
  /** Per-pair sequence number of machine-to-machine messages: the receiver drops what it has seen. */
  readonly seq: number | undefined;
  readonly timerName?: string;
  /** External requests are retried until accepted (a client retrying a 409); others dead-letter. */
  readonly retryUntilAccepted?: boolean;
  attempts: number;
}

/** One scripted step of the outside world: an event sent once the previous one was accepted. */
export interface ScriptStep {
  readonly to: MachineRef;
  readonly event: RsmEvent;
  /** After a refusal, the actor gives this step up (moves on) once this holds, as a client stops retrying a lost cause. */
  readonly skipIf?: (machines: ReadonlyMap<string, SimMachine>) => boolean;
}

/** What activity stubs may do: act on the world the way an external system would. */
export interface SimEnvironment {
  /** A one-way event from outside (its own pair: no order against other external events). */
  send<E extends RsmEvent>(to: MachineRef<E>, event: E): void;
  /** Creates a machine from outside (idempotent). */
  create<E extends RsmEvent>(to: MachineRef<E>, initEvent: E): void;
  /**
   * An external actor that sends `steps` in order, each retried until its machine accepts it (as a
   * client retries a 409). An actor already running its script ignores a second one.
   */
  script(actor: string, steps: readonly ScriptStep[]): void;
}

/** A stand-in for an activity: returns its output, or throws to fail the attempt. */
export type ActivityStub = (input: Json, ctx: { readonly attempt: number; readonly idempotencyKey: string; readonly env: SimEnvironment }) => Json | undefined;

/** A choice the scheduler can make. `actor` groups choices for priority-based strategies. */
export interface Action {
  readonly kind: 'deliver' | 'fire' | 'activity';
  readonly actor: string;
  readonly key: string;
  readonly label: string;
}

/** One line of a trace: what ran, from which state to which, and what it sent. */
export interface TraceStep {
  readonly step: number;
  readonly action: string;
  readonly machine: string;
  readonly event: string;
  readonly from: string;
  readonly to: string;
  readonly outcome: 'ok' | 'rejected' | 'failed' | 'dead-lettered' | 'crashed' | 'duplicate-dropped' | 'activity-attempt-failed';
  readonly effects: readonly string[];
}

interface PendingCall {
  readonly id: string;
  readonly machine: MachineRef;
  readonly activity: string;
  readonly input: Json;
  readonly callId: string;
  readonly idempotencyKey: string;
  attempts: number;
}

interface Script {
  readonly actor: string;
  readonly steps: ScriptStep[];
}

/** Tunables of a world; the simulator sets them from its options. */
export interface WorldOptions {
  readonly activities: Readonly<Record<string, ActivityStub>>;
  readonly activityMaxAttempts: number;
  /** A script step refused this many times is abandoned (and reported by `abandoned`). */
  readonly scriptMaxAttempts: number;
  /** Firings of one timer allowed ahead of other work; later ones wait until nothing else is enabled. */
  readonly earlyFiringsPerTimer: number;
}

/**
 * The state of one simulated run: machines, per-pair queues, timers, activity calls and external
 * scripts, and the operations the scheduler chooses among. Steps run through the same step executor
 * as the real runtime, so a machine definition is exercised unchanged.
 */
export class World {
  readonly machines = new Map<string, SimMachine>();
  readonly deadLetters: { machine: string; event: RsmEvent; reason: string }[] = [];
  readonly abandoned: string[] = [];
  readonly trace: TraceStep[] = [];
  readonly definitions = new Map<string, AnyMachineDefinition>();
  private readonly queues = new Map<string, Map<string, Message[]>>();
  // One numbering per pair, never retired: the production epochs only ever start a new numbering
  // after the old one was fully taken, which a world this short never reaches (see README, Bounded growth).
  private readonly sendSeq = new Map<string, number>();
  private readonly recvSeq = new Map<string, number>();
  private readonly timers = new Map<string, { machine: MachineRef; name: string; periodMs: number | null; payload: Json | null }>();
  private readonly calls = new Map<string, PendingCall>();
  private readonly scripts = new Map<string, Script>();
  /** Machine-to-machine messages already delivered, kept so duplicates can be injected. */
  private readonly delivered: { receiver: string; pair: string; message: Message }[] = [];
  private externalPairs = 0;
  private callSeq = 0;
  private clock = Date.parse('2026-01-01T00:00:00Z');
  step = 0;

  constructor(
    definitions: readonly AnyMachineDefinition[],
    private readonly options: WorldOptions,
  ) {
    for (const definition of definitions) this.definitions.set(definition.type, definition);
  }

  get now(): Date {
    return new Date(this.clock);
  }

  /** The environment handed to setups and activity stubs. */
  readonly env: SimEnvironment = {
    send: (to, event) => this.enqueue(machineKey(to), `external#${(this.externalPairs += 1)}`, { event, sender: undefined, seq: undefined, attempts: 0 }),
    create: (to, initEvent) => this.createMachine(to, initEvent, undefined),
    script: (actor, steps) => {
      if (steps.length === 0 || this.scripts.has(actor)) return;
      this.scripts.set(actor, { actor, steps: [...steps] });
    },
  };

  get(ref: MachineRef): SimMachine | undefined {
    return this.machines.get(machineKey(ref));
  }

  /** Every choice the scheduler can make now, in a stable order (so a seed replays exactly). */
  enabled(): Action[] {
    const actions: Action[] = [];
    for (const [receiver, pairs] of this.queues) {
      // A machine handles its creation event before anything else (the runtime writes it in the
      // transaction that creates the machine); other senders' events are ordered per pair only.
      const creation = pairs.get('creation');
      if (creation !== undefined && creation.length > 0) {
        actions.push({ kind: 'deliver', actor: receiver, key: compositeKey('deliver', receiver, 'creation'), label: `deliver ${creation[0]?.event.type ?? ''} to ${receiver} (creation)` });
        continue;
      }
      for (const [pair, queue] of pairs) {
        const head = queue[0];
        if (head === undefined) continue;
        actions.push({ kind: 'deliver', actor: receiver, key: compositeKey('deliver', receiver, pair), label: `deliver ${head.event.type} to ${receiver} from ${pair}` });
      }
    }
    for (const script of this.scripts.values()) {
      // Given up only after a refusal: the actor sends, is told no, and stops retrying a lost cause.
      while (this.refusedAt.has(script.actor) && script.steps[0]?.skipIf?.(this.machines) === true) {
        script.steps.shift();
        this.refusedAt.delete(script.actor);
      }
      const head = script.steps[0];
      // A refused step is tried again only once its machine has changed: the same request to an
      // unchanged machine gets the same answer, and retrying it would only starve the others.
      const refusedAt = this.refusedAt.get(script.actor);
      if (head !== undefined && refusedAt !== undefined && (this.versions.get(machineKey(head.to)) ?? 0) === refusedAt) continue;
      if (head !== undefined && (this.queues.get(machineKey(head.to))?.get('creation')?.length ?? 0) > 0) continue;
      if (head !== undefined) actions.push({ kind: 'deliver', actor: `script:${script.actor}`, key: compositeKey('script', script.actor), label: `${script.actor} sends ${head.event.type} to ${machineKey(head.to)}` });
    }
    for (const call of this.calls.values()) actions.push({ kind: 'activity', actor: machineKey(call.machine), key: call.id, label: `attempt ${call.activity} (${call.callId}) of ${machineKey(call.machine)}` });
    // A timer may fire ahead of other work a few times per run (any delay is possible); past that it
    // fires only when nothing else can happen, so a timer restarted on every firing cannot starve
    // the rest of the system (a real delay always lets other work through).
    const idle = actions.length === 0;
    for (const [key, timer] of this.timers) {
      if (!idle && (this.firings.get(key) ?? 0) >= this.options.earlyFiringsPerTimer) continue;
      actions.push({ kind: 'fire', actor: `timer:${key}`, key, label: `fire timer ${timer.name} of ${machineKey(timer.machine)}` });
    }
    return actions;
  }

  /** Runs a chosen action; with `crash`, a delivery's handler runs and its effects are dropped. */
  async perform(action: Action, crash: boolean): Promise<void> {
    this.step += 1;
    this.clock += 1;
    switch (action.kind) {
      case 'deliver': {
        const [source, first, second] = JSON.parse(action.key) as [string, string, string];
        if (source === 'script') await this.deliverScript(first, crash);
        else await this.deliver(first, second, crash);
        return;
      }
      case 'fire':
        this.fire(action.key);
        return;
      case 'activity':
        this.attemptActivity(action.key);
        return;
    }
  }

  /** Re-enqueues a copy of an already delivered machine-to-machine message (a redelivery). */
  injectDuplicate(pick: (n: number) => number): boolean {
    if (this.delivered.length === 0) return false;
    const { receiver, pair, message } = this.delivered[pick(this.delivered.length)] as (typeof this.delivered)[number];
    this.enqueue(receiver, pair, { ...message, attempts: 0 });
    return true;
  }

  private enqueue(receiver: string, pair: string, message: Message): void {
    let pairs = this.queues.get(receiver);
    if (pairs === undefined) {
      pairs = new Map();
      this.queues.set(receiver, pairs);
    }
    const queue = pairs.get(pair);
    if (queue === undefined) pairs.set(pair, [message]);
    else queue.push(message);
  }

  private createMachine(to: MachineRef, initEvent: RsmEvent, sender: MachineRef | undefined): void {
    const definition = this.definitions.get(to.type);
    const key = machineKey(to);
    if (definition === undefined) throw new Error(`simulation has no machine type ${to.type}`);
    if (this.machines.has(key)) return;
    const row = newMachineRow(definition, to);
    this.machines.set(key, { type: to.type, id: to.id, state: row.state, data: row.data, status: 'active' });
    if (sender !== undefined) {
      // The creation counts as the first message of the creator -> created pair.
      const pair = compositeKey(machineKey(sender), key);
      this.sendSeq.set(pair, (this.sendSeq.get(pair) ?? 0) + 1);
      this.recvSeq.set(pair, this.sendSeq.get(pair) ?? 1);
    }
    this.enqueue(key, 'creation', { event: initEvent, sender, seq: undefined, attempts: 0 });
  }

  private sendTo(to: MachineRef, event: RsmEvent, sender: MachineRef | undefined): void {
    if (sender === undefined) {
      this.env.send(to, event);
      return;
    }
    const pair = compositeKey(machineKey(sender), machineKey(to));
    const seq = (this.sendSeq.get(pair) ?? 0) + 1;
    this.sendSeq.set(pair, seq);
    this.enqueue(machineKey(to), machineKey(sender), { event, sender, seq, attempts: 0 });
  }

  private async deliver(receiver: string, pair: string, crash: boolean): Promise<void> {
    const queue = this.queues.get(receiver)?.get(pair);
    const message = queue?.[0];
    if (queue === undefined || message === undefined) throw new Error(`no message queued for ${receiver} from ${pair}`);
    if (message.seq !== undefined && message.sender !== undefined) {
      const seqKey = compositeKey(machineKey(message.sender), receiver);
      if (message.seq <= (this.recvSeq.get(seqKey) ?? 0)) {
        queue.shift();
        this.record(receiver, message.event, '-', '-', 'duplicate-dropped', []);
        return;
      }
    }
    const result = await this.handle(receiver, message, crash);
    if (result === 'keep') return;
    queue.shift();
    if (message.seq !== undefined && message.sender !== undefined) {
      this.recvSeq.set(compositeKey(machineKey(message.sender), receiver), message.seq);
      this.delivered.push({ receiver, pair, message });
      if (this.delivered.length > 200) this.delivered.shift();
    }
  }

  private async deliverScript(actor: string, crash: boolean): Promise<void> {
    const script = this.scripts.get(actor);
    const head = script?.steps[0];
    if (script === undefined || head === undefined) throw new Error(`script ${actor} has nothing to send`);
    const message: Message = { event: head.event, sender: undefined, seq: undefined, retryUntilAccepted: true, attempts: 0 };
    const result = await this.handle(machineKey(head.to), message, crash);
    if (crash) return; // the step never happened; the actor tries again
    if (result === 'keep') {
      this.refusedAt.set(actor, this.versions.get(machineKey(head.to)) ?? 0);
      const attempts = (this.scriptAttempts.get(actor) ?? 0) + 1;
      this.scriptAttempts.set(actor, attempts);
      if (attempts < this.options.scriptMaxAttempts) return;
      this.abandoned.push(`${actor}: ${head.event.type} to ${machineKey(head.to)} refused ${attempts} times`);
    }
    this.scriptAttempts.delete(actor);
    this.refusedAt.delete(actor);
    script.steps.shift();
    if (script.steps.length === 0) this.scripts.delete(actor);
  }

  private readonly scriptAttempts = new Map<string, number>();
  private readonly firings = new Map<string, number>();
  /** Committed steps per machine, so a refused script step waits for its machine to change. */
  private readonly versions = new Map<string, number>();
  private readonly refusedAt = new Map<string, number>();

  /** Runs one event through its machine; 'keep' leaves it queued (crash, retry, refused script step). */
  private async handle(receiver: string, message: Message, crash: boolean): Promise<'done' | 'keep'> {
    const machine = this.machines.get(receiver);
    const definition = machine === undefined ? undefined : this.definitions.get(machine.type);
    if ((machine === undefined || definition === undefined) && message.retryUntilAccepted === true) {
      // A client told 404 tries again later, like one told 409.
      this.record(receiver, message.event, '-', '-', 'rejected', []);
      return 'keep';
    }
    if (machine === undefined || definition === undefined) {
      this.deadLetters.push({ machine: receiver, event: message.event, reason: `no machine ${receiver}` });
      this.record(receiver, message.event, '-', '-', 'dead-lettered', []);
      return 'done';
    }
    if (machine.status === 'faulted') return 'keep';
    const from = machine.state;
    const outcome = await executeStep(definition, machine, { eventId: `s${this.step}`, event: message.event, sender: message.sender }, this.now);
    if (crash) {
      // The process died before the step committed: nothing of it happened; the event stays.
      this.record(receiver, message.event, from, from, 'crashed', []);
      return 'keep';
    }
    if (outcome.kind === 'rejected') {
      if (message.retryUntilAccepted === true) {
        this.record(receiver, message.event, from, from, 'rejected', []);
        return 'keep';
      }
      this.deadLetters.push({ machine: receiver, event: message.event, reason: outcome.reason });
      this.record(receiver, message.event, from, from, 'dead-lettered', []);
      return 'done';
    }
    if (outcome.kind === 'failed') {
      message.attempts += 1;
      if (message.attempts < definition.failure.maxAttempts) {
        this.record(receiver, message.event, from, from, 'failed', []);
        return 'keep';
      }
      this.deadLetters.push({ machine: receiver, event: message.event, reason: `handler failed ${message.attempts} times, last: ${outcome.error}` });
      this.record(receiver, message.event, from, from, 'dead-lettered', []);
      if (definition.failure.onExhausted === 'fault') machine.status = 'faulted';
      return 'done';
    }
    machine.state = outcome.state;
    machine.data = outcome.data;
    this.versions.set(receiver, (this.versions.get(receiver) ?? 0) + 1);
    if (outcome.halted) machine.status = 'halted';
    const self = { type: machine.type, id: machine.id };
    const described: string[] = [];
    for (const effect of outcome.effects) described.push(this.apply(self, effect));
    this.record(receiver, message.event, from, machine.state, 'ok', described.filter((d) => d !== ''));
    return 'done';
  }

  private apply(self: MachineRef, effect: Effect): string {
    switch (effect.kind) {
      case 'send':
        this.sendTo(effect.to, effect.event, self);
        return `send ${effect.event.type} to ${machineKey(effect.to)}`;
      case 'create':
        this.createMachine(effect.to, effect.event, self);
        return `create ${machineKey(effect.to)} with ${effect.event.type}`;
      case 'startTimer':
      case 'cancelTimer': {
        // Starting or cancelling drops any Timeout of that name already fired and not yet handled.
        const key = compositeKey(machineKey(self), effect.name);
        const queue = this.queues.get(machineKey(self))?.get(`timer:${effect.name}`);
        if (queue !== undefined) queue.length = 0;
        if (effect.kind === 'cancelTimer') {
          this.timers.delete(key);
          return `cancel timer ${effect.name}`;
        }
        this.timers.set(key, { machine: self, name: effect.name, periodMs: effect.periodMs, payload: effect.payload });
        return `start timer ${effect.name}`;
      }
      case 'call': {
        this.callSeq += 1;
        const id = `call${this.callSeq}`;
        this.calls.set(id, { id, machine: self, activity: effect.activity, input: effect.input, callId: effect.callId, idempotencyKey: effect.idempotencyKey, attempts: 0 });
        return `call ${effect.activity}`;
      }
      case 'reply':
        return '';
    }
  }

  private fire(key: string): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    this.firings.set(key, (this.firings.get(key) ?? 0) + 1);
    if (timer.periodMs === null) this.timers.delete(key);
    const event = (timer.payload === null ? { type: 'Timeout', name: timer.name } : { type: 'Timeout', name: timer.name, payload: timer.payload }) as unknown as RsmEvent;
    this.enqueue(machineKey(timer.machine), `timer:${timer.name}`, { event, sender: undefined, seq: undefined, timerName: timer.name, attempts: 0 });
    this.record(machineKey(timer.machine), event, '-', '-', 'ok', [`timer ${timer.name} fired`]);
  }

  private attemptActivity(id: string): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    call.attempts += 1;
    const stub = this.options.activities[call.activity];
    let event: RsmEvent | undefined;
    try {
      if (stub === undefined) throw new Error(`no stub for activity ${call.activity}`);
      const output = stub(call.input, { attempt: call.attempts, idempotencyKey: call.idempotencyKey, env: this.env });
      event = { type: 'ActivityCompleted', activity: call.activity, callId: call.callId, output: output ?? null } as RsmEvent;
    } catch (error) {
      if (call.attempts < this.options.activityMaxAttempts) {
        this.record(machineKey(call.machine), { type: call.activity }, '-', '-', 'activity-attempt-failed', [String(error)]);
        return;
      }
      event = { type: 'ActivityFailed', activity: call.activity, callId: call.callId, error: String(error), attempts: call.attempts } as RsmEvent;
    }
    this.calls.delete(id);
    this.enqueue(machineKey(call.machine), `activity:${call.id}`, { event, sender: undefined, seq: undefined, attempts: 0 });
    this.record(machineKey(call.machine), event, '-', '-', 'ok', [`${call.activity} outcome queued`]);
  }

  private record(machine: string, event: RsmEvent, from: string, to: string, outcome: TraceStep['outcome'], effects: string[]): void {
    this.trace.push({ step: this.step, action: outcome, machine, event: summarize(event), from, to, outcome, effects });
  }
}

function summarize(event: RsmEvent): string {
  const text = JSON.stringify(event);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
