import type { Effect } from '../../definition/effects.js';
import { asStored } from '../../definition/json-text.js';
import type { AnyMachineDefinition } from '../../definition/machine-definition.js';
import type { MachineStatus } from '../../definition/step-executor.js';
import { compositeKey, machineKey, type Json, type MachineRef, type RsmEvent } from '../../definition/types.js';
import { newMachineRow } from '../../planning/machine-registry.js';
import { planStep } from '../../planning/step-planner.js';
import { CoverageCounter, type CoverageShape } from './coverage.js';

/** A machine as the simulation holds it; monitors read these. */
export interface SimMachine {
  readonly type: string;
  readonly id: string;
  state: string;
  data: unknown;
  status: MachineStatus;
  /** The definition version the machine is stored at: the creating process's, then the last stepping one's. */
  version: number;
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

/** What monitors and environment guards see: the machines, and the dead letters so far. */
export interface WorldView {
  readonly machines: ReadonlyMap<string, SimMachine>;
  readonly deadLetters: readonly { machine: string; event: { type: string }; reason: string }[];
  /** Machines of one type. */
  ofType(type: string): SimMachine[];
  get(type: string, id: string): SimMachine | undefined;
}

/** What an environment actor does to the system: sends an event to a machine, or creates one. */
export interface EnvRequest {
  readonly to: MachineRef;
  readonly event: RsmEvent;
  /** Creates the machine with `event` as its creation event (a no-op if it exists, as the runtime's create). */
  readonly create?: boolean;
}

/** A typed {@link EnvRequest}: the event must be one `to` accepts. */
export function envRequest<E extends RsmEvent>(to: MachineRef<E>, event: E, options: { readonly create?: boolean } = {}): EnvRequest {
  return { to, event, ...(options.create === true ? { create: true } : {}) };
}

/** One move an environment actor may make in some state. */
export interface EnvMove<S extends string = string> {
  /** Names the move in traces and in the coverage report. */
  readonly name: string;
  /**
   * What the actor sends. None: the move only changes the actor's state (it gives up, or decides to
   * act later). A function reads the world; returning undefined disables the move.
   */
  readonly request?: EnvRequest | ((world: WorldView) => EnvRequest | undefined);
  /** Enabled only while this holds: act once some machine exists, or has reached some state. */
  readonly when?: (world: WorldView) => boolean;
  /** The actor's state once the request is accepted (default: it stays). */
  readonly next?: NoInfer<S>;
  /**
   * `once` (default): a refusal is an answer (a 409); the actor stays where it is and may choose
   * again. `until-accepted`: the actor holds on to the request, retrying it once its machine has
   * changed, until it is accepted, `skipIf` holds after a refusal, or it was refused too often.
   */
  readonly retry?: 'once' | 'until-accepted';
  /** With `until-accepted`: after a refusal, the actor gives the request up (and goes to `next`) once this holds. */
  readonly skipIf?: (machines: ReadonlyMap<string, SimMachine>) => boolean;
}

/**
 * An environment actor: a small nondeterministic machine of the outside world (a client, an
 * operator, a device). Whenever some move of its state is enabled, the scheduler may pick the actor;
 * it then makes one of those moves, chosen by the run's seeded randomness, so a seed replays it.
 * A state with no moves is final; an actor stops after `maxActions` moves.
 */
export interface EnvActorSpec<S extends string = string> {
  /** Unique among live actors: a second actor of a live name is ignored. */
  readonly name: string;
  /** Groups actors in the coverage report (every client under `client`); default: no coverage. */
  readonly kind?: string;
  readonly initial: NoInfer<S>;
  readonly states: { readonly [K in S]: readonly EnvMove<S>[] };
  /** Moves the actor makes at most (default 8). */
  readonly maxActions?: number;
}

/**
 * Declares an environment actor; the state names are inferred from `states`, so `initial` and each
 * move's `next` only accept them.
 *
 * @example
 * const client = envActor({
 *   name: 'client-d1', kind: 'client', initial: 'Waiting', maxActions: 3,
 *   states: {
 *     Waiting: [
 *       { name: 'cancel', request: envRequest(Requests.ref('d1'), { type: 'Cancel' }), next: 'Gone' },
 *       { name: 'cancel late', when: (w) => w.get('Saga', 'd1')?.state === 'InFlight', request: envRequest(Requests.ref('d1'), { type: 'Cancel' }), next: 'Gone' },
 *       { name: 'leave', next: 'Gone' },
 *     ],
 *     Gone: [],
 *   },
 * });
 */
export function envActor<S extends string>(spec: EnvActorSpec<S>): EnvActorSpec<S> {
  return spec;
}

/** What activity stubs may do: act on the world the way an external system would. */
export interface SimEnvironment {
  /** A one-way event from outside (its own pair: no order against other external events). */
  send<E extends RsmEvent>(to: MachineRef<E>, event: E): void;
  /** Creates a machine from outside (idempotent). */
  create<E extends RsmEvent>(to: MachineRef<E>, initEvent: E): void;
  /**
   * An external actor that sends `steps` in order, each retried until its machine accepts it (as a
   * client retries a 409). An actor already running its script ignores a second one. It is an
   * environment actor with one move per state.
   */
  script(actor: string, steps: readonly ScriptStep[]): void;
  /** Starts an environment actor (see {@link envActor}); one whose name is live is ignored. */
  actor<S extends string>(spec: EnvActorSpec<S>): void;
}

/** A stand-in for an activity: returns its output, or throws to fail the attempt. */
export type ActivityStub = (input: Json, ctx: { readonly attempt: number; readonly idempotencyKey: string; readonly env: SimEnvironment }) => Json | undefined;

/** A choice the scheduler can make. `actor` groups choices for priority-based strategies. */
export interface Action {
  readonly kind: 'deliver' | 'fire' | 'activity' | 'env';
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
  /**
   * `env`: an environment actor's move (`machine` is the actor, `event` the move, from/to its states).
   * `deferred`: a process running an older definition left the event for a newer one.
   */
  readonly outcome: 'ok' | 'rejected' | 'failed' | 'dead-lettered' | 'crashed' | 'duplicate-dropped' | 'activity-attempt-failed' | 'env' | 'deferred';
  readonly effects: readonly string[];
  /** During a rolling upgrade: the definition version of the process that took the step. */
  readonly version?: number;
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

/** An environment actor in a run. */
interface ActorRun {
  readonly spec: EnvActorSpec;
  /** Scripts: no trace line per move, no coverage, and gone once done (their name may be reused). */
  readonly scripted: boolean;
  state: string;
  actions: number;
  /** A request retried until accepted, with the move it belongs to. */
  pending: { readonly move: EnvMove; readonly request: EnvRequest; attempts: number; refusedAt: number | undefined } | undefined;
}

const DEFAULT_MAX_ACTIONS = 8;

/** Checked shapes of actor declarations: a declaration is usually started once per run, checked once. */
const actorShapes = new WeakMap<EnvActorSpec, CoverageShape>();

/** Checks an actor declaration and returns its moves as (state, move) pairs for the coverage report. */
function shapeOfActor(spec: EnvActorSpec): CoverageShape {
  const known = actorShapes.get(spec);
  if (known !== undefined) return known;
  if (!(spec.initial in spec.states)) throw new Error(`environment actor ${spec.name}: initial state ${spec.initial} is not declared`);
  const pairs: { from: string; event: string; targets: string[] }[] = [];
  for (const [from, moves] of Object.entries(spec.states)) {
    for (const move of moves) {
      if (move.next !== undefined && !(move.next in spec.states)) throw new Error(`environment actor ${spec.name}: move ${move.name} of ${from} goes to undeclared state ${move.next}`);
      pairs.push({ from, event: move.name, targets: move.next === undefined || move.next === from ? [] : [move.next] });
    }
  }
  const shape = { type: spec.kind ?? spec.name, pairs };
  actorShapes.set(spec, shape);
  return shape;
}

/** A script as a degenerate actor: one move per state, each retried until accepted. */
function scriptActor(actor: string, steps: readonly ScriptStep[]): EnvActorSpec {
  const states: Record<string, EnvMove[]> = { done: [] };
  steps.forEach((step, i) => {
    const move: EnvMove = { name: `step ${i + 1}`, request: { to: step.to, event: step.event }, next: i + 1 < steps.length ? `step ${i + 2}` : 'done', retry: 'until-accepted' };
    states[`step ${i + 1}`] = [step.skipIf === undefined ? move : { ...move, skipIf: step.skipIf }];
  });
  return { name: actor, initial: 'step 1', states, maxActions: steps.length };
}

/** Tunables of a world; the simulator sets them from its options. */
export interface WorldOptions {
  readonly activities: Readonly<Record<string, ActivityStub>>;
  readonly activityMaxAttempts: number;
  /** A script step refused this many times is abandoned (and reported by `abandoned`). */
  readonly scriptMaxAttempts: number;
  /** Firings of one timer allowed ahead of other work; later ones wait until nothing else is enabled. */
  readonly earlyFiringsPerTimer: number;
  /** The run's seeded randomness: environment actors choose their moves with it. */
  readonly random: () => number;
  /**
   * A rolling upgrade: until step `until`, each step, creation and request runs on a process of the
   * older definition (`from`, by type) or of the current one, by the run's randomness; after it,
   * only current ones run.
   */
  readonly upgrade?: { readonly from: ReadonlyMap<string, AnyMachineDefinition>; readonly until: number };
}

/**
 * The state of one simulated run: machines, per-pair queues, timers, activity calls and environment
 * actors (scripts among them), and the operations the scheduler chooses among. Steps run through the
 * same step executor as the real runtime, so a machine definition is exercised unchanged.
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
  private readonly actors = new Map<string, ActorRun>();
  /** The shape of each actor kind seen, for the coverage report. */
  readonly actorKinds = new Map<string, CoverageShape>();
  /** (state, event) pairs and transitions this run reached. */
  readonly coverage = new CoverageCounter();
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
      if (steps.length > 0) this.startActor(scriptActor(actor, steps), true);
    },
    actor: (spec) => this.startActor(spec, false),
  };

  /** What monitors and environment guards read. */
  readonly view: WorldView = {
    machines: this.machines,
    deadLetters: this.deadLetters,
    ofType: (type) => {
      const found: SimMachine[] = [];
      for (const m of this.machines.values()) if (m.type === type) found.push(m);
      return found;
    },
    get: (type, id) => this.machines.get(`${type}/${id}`),
  };

  private startActor(spec: EnvActorSpec, scripted: boolean): void {
    const live = this.actors.get(spec.name);
    if (live !== undefined && !this.finished(live)) return;
    // A script's declaration is built here, well formed: only a caller's declaration is checked.
    const shape = scripted ? undefined : shapeOfActor(spec);
    this.actors.set(spec.name, { spec, scripted, state: spec.initial, actions: 0, pending: undefined });
    if (shape !== undefined && spec.kind !== undefined && !this.actorKinds.has(spec.kind)) this.actorKinds.set(spec.kind, shape);
  }

  private finished(actor: ActorRun): boolean {
    return actor.pending === undefined && (actor.actions >= (actor.spec.maxActions ?? DEFAULT_MAX_ACTIONS) || (actor.spec.states[actor.state]?.length ?? 0) === 0);
  }

  /** The request a move makes now, or undefined; `null` when the move is disabled. */
  private requestOf(move: EnvMove): EnvRequest | undefined | null {
    if (move.when !== undefined && !move.when(this.view)) return null;
    const request = typeof move.request === 'function' ? move.request(this.view) : move.request;
    if (typeof move.request === 'function' && request === undefined) return null;
    // Nobody can reach a machine before it has handled its creation event.
    if (request !== undefined && !request.create && this.creationPending(request.to)) return null;
    return request;
  }

  private creationPending(ref: MachineRef): boolean {
    return (this.queues.get(machineKey(ref))?.get('creation')?.length ?? 0) > 0;
  }

  /** The moves of an actor's state enabled now, with their requests. */
  private enabledMoves(actor: ActorRun): { move: EnvMove; request: EnvRequest | undefined }[] {
    const found: { move: EnvMove; request: EnvRequest | undefined }[] = [];
    for (const move of actor.spec.states[actor.state] ?? []) {
      const request = this.requestOf(move);
      if (request !== null) found.push({ move, request });
    }
    return found;
  }

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
    for (const [name, actor] of this.actors) {
      const pending = actor.pending;
      if (pending !== undefined) {
        // Given up only after a refusal: the actor sends, is told no, and stops retrying a lost cause.
        if (pending.refusedAt !== undefined && pending.move.skipIf?.(this.machines) === true) {
          this.settle(actor, pending.move);
          if (this.finished(actor)) {
            if (actor.scripted) this.actors.delete(name);
            continue;
          }
        } else {
          // A refused request is tried again only once its machine has changed: the same request to an
          // unchanged machine gets the same answer, and retrying it would only starve the others.
          if (pending.refusedAt !== undefined && (this.versions.get(machineKey(pending.request.to)) ?? 0) === pending.refusedAt) continue;
          if (this.creationPending(pending.request.to)) continue;
          actions.push({ kind: 'env', actor: `env:${name}`, key: name, label: `${name} sends ${pending.request.event.type} to ${machineKey(pending.request.to)}` });
          continue;
        }
      }
      // One enabled move is enough to offer the actor's turn; which move it makes is chosen when it runs.
      if (this.finished(actor) || !(actor.spec.states[actor.state] ?? []).some((move) => this.requestOf(move) !== null)) continue;
      actions.push({ kind: 'env', actor: `env:${name}`, key: name, label: `${name} acts in ${actor.state}` });
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
        const [, first, second] = JSON.parse(action.key) as [string, string, string];
        await this.deliver(first, second, crash);
        return;
      }
      case 'env':
        await this.act(action.key, crash);
        return;
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

  private enqueue(receiver: string, pair: string, stored: Message): void {
    // As the database gives it back (see asStored).
    const message = { ...stored, event: asStored(stored.event) };
    let pairs = this.queues.get(receiver);
    if (pairs === undefined) {
      pairs = new Map();
      this.queues.set(receiver, pairs);
    }
    const queue = pairs.get(pair);
    if (queue === undefined) pairs.set(pair, [message]);
    else queue.push(message);
  }

  /**
   * The definition of `type` the process taking this step runs: during a rolling upgrade an older
   * one or the current one, at random; `pod` forces the choice (a handler's creations run where it ran).
   */
  private definitionFor(type: string, pod?: 'old' | 'new'): AnyMachineDefinition | undefined {
    const current = this.definitions.get(type);
    const upgrade = this.options.upgrade;
    const older = upgrade?.from.get(type);
    if (upgrade === undefined || older === undefined || pod === 'new' || this.step >= upgrade.until) return current;
    if (pod === 'old') return older;
    return this.options.random() < 0.5 ? older : current;
  }

  private createMachine(to: MachineRef, initEvent: RsmEvent, sender: MachineRef | undefined, pod?: 'old' | 'new'): void {
    const key = machineKey(to);
    if (!this.definitions.has(to.type)) throw new Error(`simulation has no machine type ${to.type}`);
    if (this.machines.has(key)) return;
    const definition = this.definitionFor(to.type, pod) as AnyMachineDefinition;
    const row = newMachineRow(definition, to);
    this.machines.set(key, { type: to.type, id: to.id, state: row.state, data: row.data, status: 'active', version: row.definition_version });
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

  /** An actor's turn: it retries the request it holds, or makes one of its enabled moves. */
  private async act(name: string, crash: boolean): Promise<void> {
    const actor = this.actors.get(name);
    if (actor === undefined) throw new Error(`no environment actor ${name}`);
    if (actor.pending === undefined) {
      const moves = this.enabledMoves(actor);
      const chosen = moves[Math.floor(this.options.random() * moves.length)];
      if (chosen === undefined) throw new Error(`environment actor ${name} has no enabled move`);
      const { move, request } = chosen;
      if (!actor.scripted) {
        const what = request === undefined ? [] : [`${request.create === true ? 'create' : 'send'} ${summarize(request.event)} to ${machineKey(request.to)}`];
        this.trace.push({ step: this.step, action: 'env', machine: name, event: move.name, from: actor.state, to: move.next ?? actor.state, outcome: 'env', effects: what });
      }
      if (request === undefined) {
        this.settle(actor, move);
        return;
      }
      if (request.create === true) {
        this.createMachine(request.to, request.event, undefined);
        this.settle(actor, move);
        return;
      }
      if (move.retry !== 'until-accepted') {
        const result = await this.handle(machineKey(request.to), { event: request.event, sender: undefined, seq: undefined, retryUntilAccepted: true, attempts: 0 }, crash, true);
        // A crash: the request never happened and the actor decides again; a refusal is an answer.
        if (crash) return;
        this.settle(actor, move, result === 'done');
        return;
      }
      actor.pending = { move, request, attempts: 0, refusedAt: undefined };
    }
    const pending = actor.pending;
    const to = machineKey(pending.request.to);
    const result = await this.handle(to, { event: pending.request.event, sender: undefined, seq: undefined, retryUntilAccepted: true, attempts: 0 }, crash, true);
    if (crash) return; // the step never happened; the actor tries again
    if (result === 'keep') {
      pending.refusedAt = this.versions.get(to) ?? 0;
      pending.attempts += 1;
      if (pending.attempts < this.options.scriptMaxAttempts) return;
      this.abandoned.push(`${name}: ${pending.request.event.type} to ${to} refused ${pending.attempts} times`);
    }
    this.settle(actor, pending.move);
    if (actor.scripted && this.finished(actor)) this.actors.delete(name);
  }

  /** A move made (or given up): the actor counts it and, unless it was refused, goes to its next state. */
  private settle(actor: ActorRun, move: EnvMove, accepted = true): void {
    const next = accepted ? (move.next ?? actor.state) : actor.state;
    if (!actor.scripted && actor.spec.kind !== undefined) this.coverage.move(actor.spec.kind, actor.state, move.name, next);
    actor.pending = undefined;
    actor.actions += 1;
    actor.state = next;
  }

  private readonly firings = new Map<string, number>();
  /** Committed steps per machine, so a refused request held by an actor waits for its machine to change. */
  private readonly versions = new Map<string, number>();

  /**
   * Runs one event through its machine; 'keep' leaves it queued (crash, retry, refused script step,
   * or a process of an older definition that must not step the machine). An external `request`
   * an older process leaves alone is answered by a newer one, as the caller waiting on its key is.
   */
  private async handle(receiver: string, message: Message, crash: boolean, request = false): Promise<'done' | 'keep'> {
    const machine = this.machines.get(receiver);
    let definition = machine === undefined ? undefined : this.definitionFor(machine.type);
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
    // The production decision (failure policy, JSON rule, migration) from the shared planner.
    const envelope = { eventId: `s${this.step}`, event: message.event, sender: message.sender };
    let decision = await planStep(definition, machine, envelope, message.attempts, this.now, machine.version);
    if (decision.kind === 'defer' && request) {
      definition = this.definitionFor(machine.type, 'new') as AnyMachineDefinition;
      decision = await planStep(definition, machine, envelope, message.attempts, this.now, machine.version);
    }
    const upgrading = this.options.upgrade !== undefined && this.options.upgrade.from.has(machine.type) ? definition.version : undefined;
    if (decision.kind === 'defer') {
      this.record(receiver, message.event, from, from, 'deferred', [decision.detail], upgrading);
      return 'keep';
    }
    if (crash) {
      // The process died before the step committed: nothing of it happened; the event stays.
      this.record(receiver, message.event, from, from, 'crashed', []);
      return 'keep';
    }
    if (decision.kind === 'reject') {
      this.coverage.refused(machine.type, from, message.event.type);
      if (message.retryUntilAccepted === true) {
        this.record(receiver, message.event, from, from, 'rejected', []);
        return 'keep';
      }
      this.deadLetters.push({ machine: receiver, event: message.event, reason: decision.reason });
      this.record(receiver, message.event, from, from, 'dead-lettered', []);
      return 'done';
    }
    if (decision.kind === 'retry') {
      // Backoff is immediate in virtual time; the attempt count is real.
      message.attempts = decision.attempts;
      this.record(receiver, message.event, from, from, 'failed', []);
      return 'keep';
    }
    if (decision.kind === 'give-up') {
      message.attempts = decision.attempts;
      this.deadLetters.push({ machine: receiver, event: message.event, reason: decision.reason });
      this.record(receiver, message.event, from, from, 'dead-lettered', []);
      if (decision.fault) machine.status = 'faulted';
      return 'done';
    }
    const outcome = decision;
    this.coverage.step(machine.type, outcome.from, outcome.event.type, outcome.machine.state);
    machine.state = outcome.machine.state;
    machine.data = outcome.machine.data;
    machine.version = definition.version;
    this.versions.set(receiver, (this.versions.get(receiver) ?? 0) + 1);
    machine.status = outcome.machine.status;
    const self = { type: machine.type, id: machine.id };
    const pod = definition === this.definitions.get(machine.type) ? 'new' : 'old';
    const described: string[] = outcome.migratedFrom === undefined ? [] : [`migrated from v${outcome.migratedFrom}`];
    for (const effect of outcome.effects) described.push(this.apply(self, effect, pod));
    // As production: a halted machine keeps no timer, nor a Timeout already fired.
    if (machine.status === 'halted') {
      for (const [key, timer] of this.timers) if (timer.machine.type === self.type && timer.machine.id === self.id) this.timers.delete(key);
      for (const [name, queue] of this.queues.get(receiver) ?? []) if (name.startsWith('timer:')) queue.length = 0;
    }
    this.record(receiver, message.event, from, machine.state, 'ok', described.filter((d) => d !== ''), upgrading);
    return 'done';
  }

  private apply(self: MachineRef, effect: Effect, pod: 'old' | 'new'): string {
    switch (effect.kind) {
      case 'send':
        this.sendTo(effect.to, effect.event, self);
        return `send ${effect.event.type} to ${machineKey(effect.to)}`;
      case 'create':
        this.createMachine(effect.to, effect.event, self, pod);
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

  private record(machine: string, event: RsmEvent, from: string, to: string, outcome: TraceStep['outcome'], effects: string[], version?: number): void {
    this.trace.push({ step: this.step, action: outcome, machine, event: summarize(event), from, to, outcome, effects, ...(version === undefined ? {} : { version }) });
  }
}

function summarize(event: RsmEvent): string {
  const text = JSON.stringify(event);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
