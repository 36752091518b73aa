import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { StepContext } from './step-context.js';
import { MACHINE_TYPE_PATTERN, type MachineRef, type RsmEvent } from './types.js';

/** A handler: changes `data` in place (or returns new data) and uses `ctx` for everything else. */
export type Handler<Data, E extends RsmEvent, State extends string> = (
  data: Data,
  event: E,
  ctx: StepContext<State>,
) => void | Data | Promise<void | Data>;

type EventOf<Events extends RsmEvent, T extends string> = Extract<Events, { type: T }>;

/** The handlers of one state, keyed by the event types it accepts. */
export type StateHandlers<Data, Events extends RsmEvent, State extends string> = {
  readonly [T in Events['type']]?: Handler<Data, EventOf<Events, T>, State>;
};

/** One state of a machine: the events it accepts. A state with no handlers is final. */
export interface StateSpec<Data, Events extends RsmEvent, State extends string> {
  readonly on?: StateHandlers<Data, Events, State>;
  /** Documents the states this state's handlers may go to, for tools and diagrams. */
  readonly targets?: readonly NoInfer<State>[];
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
export interface MachineSpec<Data, Events extends RsmEvent, State extends string> {
  /** The machine type, unique across the whole system (it decides routing). */
  readonly type: string;
  /** Bumped when the declaration changes incompatibly; stored with each machine. */
  readonly version?: number;
  /** State of a newly created machine; it must accept the creation event. */
  readonly initial: NoInfer<State>;
  /** Data of a newly created machine. */
  readonly initialData: (id: string) => Data;
  readonly states: { readonly [S in State]: StateSpec<Data, Events, State> };
  /** Optional validation of incoming payloads by event type (any Standard Schema: zod, valibot...). */
  readonly schemas?: { readonly [T in Events['type']]?: StandardSchemaV1 };
  readonly failure?: Partial<FailurePolicy>;
}

/** One accepted (state, event) pair, as listed by {@link MachineDefinition.transitions}. */
export interface TransitionInfo {
  readonly from: string;
  readonly event: string;
  readonly targets: readonly string[];
}

/**
 * A machine type: its declaration plus what tools read from it. Create it with {@link defineMachine}.
 */
export interface MachineDefinition<Data = unknown, Events extends RsmEvent = RsmEvent, State extends string = string> {
  readonly type: string;
  readonly version: number;
  readonly initial: State;
  readonly states: readonly State[];
  readonly failure: FailurePolicy;
  readonly spec: MachineSpec<Data, Events, State>;
  /** Every (state, event) pair the machine accepts. */
  transitions(): TransitionInfo[];
  /** The events state `state` accepts. */
  accepts(state: string): readonly string[];
  /** The handler for `event` in `state`, or undefined if the state does not accept it. */
  handlerFor(state: string, eventType: string): Handler<Data, Events, State> | undefined;
  /** A Mermaid `stateDiagram-v2` of the declaration. */
  toMermaid(): string;
  /** A typed reference to the machine `id` of this type. */
  ref(id: string): MachineRef<Events>;
}

/** A definition whose data and events are erased, as the runtime stores them. */
export type AnyMachineDefinition = MachineDefinition<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The event union of a definition. */
export type EventsOf<D> = D extends MachineDefinition<unknown, infer E, string> ? E : never;

/**
 * Declares a machine type. Call it with the data and event types, then the declaration; the state
 * names are inferred from `states`, so `ctx.goto` only accepts them.
 *
 * @example
 * type Events = { type: 'Add'; n: number } | { type: 'Close' };
 * export const Counter = defineMachine<{ total: number }, Events>()({
 *   type: 'Counter',
 *   initial: 'Open',
 *   initialData: () => ({ total: 0 }),
 *   states: {
 *     Open: { on: { Add: (d, e, ctx) => { d.total += e.n; ctx.reply(d.total); }, Close: (_d, _e, ctx) => ctx.goto('Closed') } },
 *     Closed: {},
 *   },
 * });
 */
export function defineMachine<Data, Events extends RsmEvent>() {
  return <State extends string>(spec: MachineSpec<Data, Events, State>): MachineDefinition<Data, Events, State> =>
    buildDefinition(spec);
}

function buildDefinition<Data, Events extends RsmEvent, State extends string>(
  spec: MachineSpec<Data, Events, State>,
): MachineDefinition<Data, Events, State> {
  if (!MACHINE_TYPE_PATTERN.test(spec.type)) {
    throw new Error(`machine type ${JSON.stringify(spec.type)} must start with a letter and use only letters, digits, _ . -`);
  }
  const states = Object.keys(spec.states) as State[];
  if (!states.includes(spec.initial)) {
    throw new Error(`machine ${spec.type}: initial state ${spec.initial} is not declared`);
  }
  const handlers = new Map<string, Map<string, Handler<Data, Events, State>>>();
  for (const state of states) {
    const on = (spec.states[state].on ?? {}) as Record<string, Handler<Data, Events, State> | undefined>;
    const byEvent = new Map<string, Handler<Data, Events, State>>();
    for (const [eventType, handler] of Object.entries(on)) {
      if (handler !== undefined) byEvent.set(eventType, handler);
    }
    handlers.set(state, byEvent);
    for (const target of spec.states[state].targets ?? []) {
      if (!states.includes(target)) {
        throw new Error(`machine ${spec.type}: state ${state} names unknown target ${target}`);
      }
    }
  }
  const failure: FailurePolicy = { ...DEFAULT_FAILURE_POLICY, ...spec.failure };
  if (!Number.isInteger(failure.maxAttempts) || failure.maxAttempts < 1) {
    throw new Error(`machine ${spec.type}: failure.maxAttempts must be a positive integer`);
  }
  if (!Number.isFinite(failure.handlerTimeoutMs) || failure.handlerTimeoutMs <= 0) {
    throw new Error(`machine ${spec.type}: failure.handlerTimeoutMs must be a positive number`);
  }
  const transitions = (): TransitionInfo[] =>
    states.flatMap((from) =>
      [...(handlers.get(from)?.keys() ?? [])].map((event) => ({
        from,
        event,
        targets: spec.states[from].targets ?? [],
      })),
    );
  return {
    type: spec.type,
    version: spec.version ?? 1,
    initial: spec.initial,
    states,
    failure,
    spec,
    transitions,
    accepts: (state) => [...(handlers.get(state)?.keys() ?? [])],
    handlerFor: (state, eventType) => handlers.get(state)?.get(eventType),
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
