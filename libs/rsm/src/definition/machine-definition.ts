import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { StepContext } from './step-context.js';
import { MACHINE_TYPE_PATTERN, MAX_TYPE_LENGTH, type Json, type MachineRef, type ReplyMap, type ReplyOf, type RsmEvent } from './types.js';
import { buildVersions, startMigrations, type DefinitionVersions, type MachineVersion, type MigrationChain, type Migrations } from './versions.js';

/** A handler: changes `data` in place (or returns new data) and uses `ctx` for everything else. */
export type Handler<Data, E extends RsmEvent, State extends string, Reply = Json> = (
  data: Data,
  event: E,
  ctx: StepContext<State, Reply>,
) => void | Data | Promise<void | Data>;

/** What a handler of event type `T` may pass to `ctx.reply`. */
export type HandlerReply<Replies, T extends string> = Exclude<ReplyOf<Replies, T>, undefined>;

export type EventOf<Events extends RsmEvent, T extends string> = Extract<Events, { type: T }>;

/** The handlers of one state, keyed by the event types it accepts. */
export type StateHandlers<Data, Events extends RsmEvent, State extends string, Replies extends ReplyMap = object> = {
  readonly [T in Events['type']]?: Handler<Data, EventOf<Events, T>, State, HandlerReply<Replies, T>>;
};

/**
 * Where the handler of each event may go, keyed by event type: one state or a list. An event not
 * listed stays in its state. `ctx.goto` to a state not declared here fails the step, as a throwing
 * handler does, so diagrams and `transitions()` are exact.
 */
export type StateTargets<Events extends RsmEvent, State extends string> = {
  readonly [T in Events['type']]?: NoInfer<State> | readonly NoInfer<State>[];
};

/** One state of a machine: the events it accepts and where each may go. A state with no handlers is final. */
export interface StateSpec<Data, Events extends RsmEvent, State extends string, Replies extends ReplyMap = object> {
  readonly on?: StateHandlers<Data, Events, State, Replies>;
  /** The states each event's handler may go to (besides staying): `{ Close: 'Closed', Add: ['Open', 'Full'] }`. */
  readonly targets?: StateTargets<Events, State>;
}

/** What to do when a handler keeps throwing. */
export interface FailurePolicy {
  /** Attempts per event before it is dead-lettered (default 5). */
  readonly maxAttempts: number;
  /** First retry delay (default 100 ms); doubles per attempt up to `maxBackoffMs`. */
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** `dead-letter`: the machine goes on with its next event; `fault`: it stops until redriven. */
  readonly onExhausted: 'dead-letter' | 'fault';
  /**
   * A handler that has not returned after this long counts as a failed attempt (default 30 s), so
   * one that never returns cannot hold its machine, its transaction and its callers forever.
   */
  readonly handlerTimeoutMs: number;
}

export const DEFAULT_FAILURE_POLICY: FailurePolicy = {
  maxAttempts: 5,
  initialBackoffMs: 100,
  maxBackoffMs: 10_000,
  onExhausted: 'dead-letter',
  handlerTimeoutMs: 30_000,
};

/** The declaration given to {@link defineMachine}. */
export interface MachineSpec<Data, Events extends RsmEvent, State extends string, Replies extends ReplyMap = object> {
  /** The machine type, unique across the whole system (it decides routing). */
  readonly type: string;
  /**
   * The version of this declaration (default 1), stored with each machine it steps. Bump it when
   * stored machines or pending events need `migrations` to mean the same under the new code.
   */
  readonly version?: number;
  /**
   * How machines stored at older versions, and events of older versions, become current ones:
   * given the start of the chain (typed with this machine's data, states and events), declare
   * `from(v, step)` for each older version still supported, newest first, and optionally `upcast`
   * events. A machine migrates in the step transaction that next steps it; see the README's
   * "Changing a machine that is running".
   *
   * @example
   * migrations: (current) => current.from<CounterV1>(1, { data: (old) => ({ total: old.count }), states: { Paused: 'Open' } }),
   */
  readonly migrations?: (current: Migrations<MachineVersion<Data, NoInfer<State>, Events>>) => MigrationChain;
  /** State of a newly created machine; it must accept the creation event. */
  readonly initial: NoInfer<State>;
  /** Data of a newly created machine. */
  readonly initialData: (id: string) => Data;
  readonly states: { readonly [S in State]: StateSpec<Data, Events, State, Replies> };
  /** Optional validation of incoming payloads by event type (any Standard Schema: zod, valibot...). */
  readonly schemas?: { readonly [T in Events['type']]?: StandardSchemaV1 };
  readonly failure?: Partial<FailurePolicy>;
}

/**
 * One accepted (state, event) pair, as listed by {@link MachineDefinition.transitions}: the states its
 * handler may go to (empty: it always stays in `from`).
 */
export interface TransitionInfo {
  readonly from: string;
  readonly event: string;
  readonly targets: readonly string[];
}

/**
 * A machine type: its declaration plus what tools read from it. Create it with {@link defineMachine}.
 */
export interface MachineDefinition<Data = unknown, Events extends RsmEvent = RsmEvent, State extends string = string, Replies extends ReplyMap = object> {
  readonly type: string;
  readonly version: number;
  readonly initial: State;
  readonly states: readonly State[];
  readonly failure: FailurePolicy;
  readonly spec: MachineSpec<Data, Events, State, Replies>;
  /** The versions it migrates from, and the functions that migrate stored machines and upcast older events. */
  readonly versions: DefinitionVersions;
  /** Every (state, event) pair the machine accepts, with the states its handler may go to. */
  transitions(): TransitionInfo[];
  /** The states the handler of `eventType` in `state` may go to besides staying (empty if none). */
  targetsOf(state: string, eventType: string): readonly string[];
  /** The events state `state` accepts. */
  accepts(state: string): readonly string[];
  /** The handler for `event` in `state`, or undefined if the state does not accept it. */
  handlerFor(state: string, eventType: string): Handler<Data, Events, State, unknown> | undefined;
  /** A Mermaid `stateDiagram-v2` of the declaration: one edge per (state, event, target). */
  toMermaid(): string;
  /** A typed reference to the machine `id` of this type: it carries the events, replies and data. */
  ref(id: string): MachineRef<Events, Replies, Data>;
}

/** A definition whose data and events are erased, as the runtime stores them. */
export type AnyMachineDefinition = MachineDefinition<any, any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The event union of a definition. */
export type EventsOf<D> = D extends MachineDefinition<unknown, infer E, string, ReplyMap> ? E : never;

/**
 * The types of a definition's version, for the migrations of a later one: `VersionOf<typeof DroneV1>`
 * (when the older definition is still around; otherwise write the {@link MachineVersion} out).
 */
export type VersionOf<D> = D extends MachineDefinition<infer Data, infer E, infer S, ReplyMap> ? MachineVersion<Data, S, E> : never;

/** The data type of a definition. */
export type DataOf<D> = D extends MachineDefinition<infer Data, RsmEvent, string, ReplyMap> ? Data : never;

/**
 * Declares a machine type. Call it with the data and event types (and, optionally, the reply type of
 * each event that answers a `request`), then the declaration; the state names are inferred from
 * `states`, so `ctx.goto` and `targets` only accept them.
 *
 * @example
 * type Events = { type: 'Add'; n: number } | { type: 'Close' };
 * export const Counter = defineMachine<{ total: number }, Events, { Add: number }>()({
 *   type: 'Counter',
 *   initial: 'Open',
 *   initialData: () => ({ total: 0 }),
 *   states: {
 *     Open: { on: { Add: (d, e, ctx) => { d.total += e.n; ctx.reply(d.total); }, Close: (_d, _e, ctx) => ctx.goto('Closed') }, targets: { Close: 'Closed' } },
 *     Closed: {},
 *   },
 * });
 */
export function defineMachine<Data, Events extends RsmEvent, Replies extends { readonly [T in Events['type']]?: unknown } = object>() {
  return <State extends string>(spec: MachineSpec<Data, Events, State, Replies>): MachineDefinition<Data, Events, State, Replies> =>
    buildDefinition(spec);
}

function buildDefinition<Data, Events extends RsmEvent, State extends string, Replies extends ReplyMap>(
  spec: MachineSpec<Data, Events, State, Replies>,
): MachineDefinition<Data, Events, State, Replies> {
  if (!MACHINE_TYPE_PATTERN.test(spec.type) || spec.type.length > MAX_TYPE_LENGTH) {
    throw new Error(`machine type ${JSON.stringify(spec.type).slice(0, 240)} must start with a letter, use only letters, digits, _ . - and be at most ${MAX_TYPE_LENGTH} characters`);
  }
  const states = Object.keys(spec.states) as State[];
  if (!states.includes(spec.initial)) {
    throw new Error(`machine ${spec.type}: initial state ${spec.initial} is not declared`);
  }
  type AnyHandler = Handler<Data, Events, State, unknown>;
  const handlers = new Map<string, Map<string, AnyHandler>>();
  const targets = new Map<string, Map<string, readonly string[]>>();
  for (const state of states) {
    const on = (spec.states[state].on ?? {}) as Record<string, AnyHandler | undefined>;
    const byEvent = new Map<string, AnyHandler>();
    for (const [eventType, handler] of Object.entries(on)) {
      if (handler !== undefined) byEvent.set(eventType, handler);
    }
    handlers.set(state, byEvent);
    const declared = (spec.states[state].targets ?? {}) as Record<string, string | readonly string[] | undefined>;
    const targetsByEvent = new Map<string, readonly string[]>();
    for (const [eventType, to] of Object.entries(declared)) {
      if (to === undefined) continue;
      if (!byEvent.has(eventType)) {
        throw new Error(`machine ${spec.type}: state ${state} declares targets for ${eventType}, which it does not accept`);
      }
      const list = typeof to === 'string' ? [to] : [...to];
      for (const target of list) {
        if (!(states as readonly string[]).includes(target)) {
          throw new Error(`machine ${spec.type}: state ${state} names unknown target ${target} for ${eventType}`);
        }
      }
      targetsByEvent.set(eventType, [...new Set(list)]);
    }
    targets.set(state, targetsByEvent);
  }
  const targetsOf = (state: string, eventType: string): readonly string[] => targets.get(state)?.get(eventType) ?? [];
  const failure: FailurePolicy = { ...DEFAULT_FAILURE_POLICY, ...spec.failure };
  if (!Number.isInteger(failure.maxAttempts) || failure.maxAttempts < 1) {
    throw new Error(`machine ${spec.type}: failure.maxAttempts must be a positive integer`);
  }
  if (!Number.isFinite(failure.handlerTimeoutMs) || failure.handlerTimeoutMs <= 0) {
    throw new Error(`machine ${spec.type}: failure.handlerTimeoutMs must be a positive number`);
  }
  const chain = spec.migrations?.(startMigrations() as unknown as Migrations<MachineVersion<Data, State, Events>>);
  const versions = buildVersions(spec.type, spec.version ?? 1, states, chain?.['~chain']);
  const transitions = (): TransitionInfo[] =>
    states.flatMap((from) =>
      [...(handlers.get(from)?.keys() ?? [])].map((event) => ({
        from,
        event,
        targets: targetsOf(from, event),
      })),
    );
  return {
    type: spec.type,
    version: versions.current,
    initial: spec.initial,
    states,
    failure,
    spec,
    versions,
    transitions,
    accepts: (state) => [...(handlers.get(state)?.keys() ?? [])],
    handlerFor: (state, eventType) => handlers.get(state)?.get(eventType),
    targetsOf,
    ref: (id) => ({ type: spec.type, id }),
    toMermaid: () => {
      const lines = ['stateDiagram-v2', `  [*] --> ${spec.initial}`];
      for (const t of transitions()) {
        const targets = t.targets.length > 0 ? t.targets : [t.from];
        for (const target of targets) lines.push(`  ${t.from} --> ${target}: ${t.event}`);
      }
      return lines.join('\n');
    },
  };
}
