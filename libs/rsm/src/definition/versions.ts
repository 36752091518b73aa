import type { RsmEvent } from './types.js';

/**
 * The types of one version of a machine, as its migrations see it: its data, its state names and
 * its events. Types only: nothing of an older version's code needs to stay. `VersionOf<typeof
 * DroneV1>` derives it from a definition that is still around.
 *
 * @example
 * type CounterV1 = MachineVersion<{ count: number }, 'Open' | 'Paused' | 'Closed', { type: 'Add'; amount: number } | { type: 'Close' }>;
 */
export interface MachineVersion<Data = unknown, State extends string = string, Events extends RsmEvent = RsmEvent> {
  readonly data: Data;
  readonly state: State;
  readonly events: Events;
}

/** What a data migration knows besides the old data: the machine's state then, its type and id. */
export interface MigrationContext<State extends string = string> {
  readonly state: State;
  readonly type: string;
  readonly id: string;
}

/**
 * How a machine stored at version `From` becomes a machine of the next version `To`: its data
 * (`data`, given the old data and state) and its state (`states`: every state `To` no longer has,
 * mapped to one it has). Both are plain functions of stored values, run in memory in the step
 * transaction that next steps the machine.
 *
 * @example
 * const v1ToV2: MigrationStep<CounterV1, CounterV2> = { data: (old) => ({ total: old.count, max: 100 }), states: { Paused: 'Open' } };
 */
export type MigrationStep<From extends MachineVersion, To extends MachineVersion> =
  // Every state `To` no longer has must be mapped to one it has (a removal or a rename); any other may be (a state that moves); one not listed keeps its name.
  ([Exclude<From['state'], To['state']>] extends [never]
    ? { readonly states?: { readonly [S in From['state']]?: To['state'] } }
    : { readonly states: { readonly [S in Exclude<From['state'], To['state']>]: To['state'] } & { readonly [S in Extract<From['state'], To['state']>]?: To['state'] } }) &
    // The data transform: required unless the older data already is data of the newer version.
    ([From['data']] extends [To['data']]
      ? { readonly data?: (data: From['data'], context: MigrationContext<From['state']>) => To['data'] }
      : { readonly data: (data: From['data'], context: MigrationContext<From['state']>) => To['data'] });

/**
 * Converts events of any version this machine has had (stored in an inbox, a timer or an activity
 * outcome, or sent by a service that still runs older code) to an event of the current version, by
 * event type. Events carry no version, so the upcaster of a type the current version still has gets
 * old and current shapes alike (its parameter says which it may be) and must return current ones unchanged.
 */
export type EventUpcasters<History extends RsmEvent, Current extends RsmEvent> = {
  readonly [T in History['type']]?: (event: Extract<History, { readonly type: T }>) => Current;
};

/** One step of a chain as the runtime holds it, types erased. */
export interface ErasedMigrationStep {
  /** The version the step migrates from; it migrates to `from + 1`. */
  readonly from: number;
  readonly states: Readonly<Record<string, string>>;
  readonly data: ((data: unknown, context: MigrationContext) => unknown) | undefined;
}

/** What a chain holds at run time: its steps, newest first, and its upcasters by event type. */
export interface MigrationChainData {
  readonly steps: readonly ErasedMigrationStep[];
  readonly upcasters: Readonly<Record<string, (event: never) => RsmEvent>>;
}

/** A chain of migrations as `defineMachine` reads it (every {@link Migrations} is one). */
export interface MigrationChain {
  /** The declared steps and upcasters, types erased. */
  readonly '~chain': MigrationChainData;
}

/**
 * The migrations of a machine type, declared newest first from the current version (the function
 * given as `migrations` receives the start of the chain): `from(v, step)` says how a machine stored
 * at version `v` becomes one of version `v + 1`, each step typed against the version after it, and
 * `upcast` converts older events to current ones. A chain that skips a version is refused by
 * `defineMachine`.
 *
 * @example
 * migrations: (current) => current
 *   .from<CounterV2>(2, { data: (old) => ({ ...old, max: 100 }), states: { Paused: 'Open' } })   // v2 -> v3
 *   .from<CounterV1>(1, { data: (old) => ({ total: old.count }) })                              // v1 -> v2
 *   .upcast({ Add: (e) => ('n' in e ? e : { type: 'Add', n: e.amount }) }),
 */
export interface Migrations<Current extends MachineVersion, Oldest extends MachineVersion = Current, History extends RsmEvent = Current['events']> extends MigrationChain {
  /** How a machine stored at `version` (one below the oldest so far) becomes a machine of the version after it. */
  from<Older extends MachineVersion>(version: number, step: MigrationStep<Older, Oldest>): Migrations<Current, Older, History | Older['events']>;
  /** Converts events of older versions (and of the current one, where a type has both) to current events; last in the chain. */
  upcast(upcasters: EventUpcasters<History, Current['events']>): MigrationChain;
  /** Phantom: never present at run time. */
  readonly __migrations?: { readonly current: Current; readonly oldest: Oldest; readonly history: History };
}

/** The start of a chain: nothing declared yet. */
export function startMigrations(): Migrations<MachineVersion> {
  return chain({ steps: [], upcasters: {} });
}

function chain(data: MigrationChainData): Migrations<MachineVersion> {
  return {
    '~chain': data,
    from(version: number, step: { states?: Readonly<Record<string, string | undefined>>; data?: (data: unknown, context: MigrationContext) => unknown }) {
      // No prototype: a state named like a property every object has (`toString`) maps to nothing.
      const states: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [from, to] of Object.entries(step.states ?? {})) if (to !== undefined) states[from] = to;
      return chain({ steps: [...data.steps, { from: version, states, data: step.data }], upcasters: data.upcasters });
    },
    upcast(given: Readonly<Record<string, ((event: never) => RsmEvent) | undefined>>) {
      const kept: Record<string, (event: never) => RsmEvent> = { ...data.upcasters };
      for (const [type, upcaster] of Object.entries(given)) if (upcaster !== undefined) kept[type] = upcaster;
      return chain({ steps: data.steps, upcasters: kept });
    },
  } as Migrations<MachineVersion>;
}

/**
 * What a definition knows of its older versions, built by `defineMachine` from its `migrations`:
 * the range of stored versions it can migrate, and the functions that migrate a stored machine and
 * upcast an older event. All pure: the planner calls them in memory.
 */
export interface DefinitionVersions {
  /** The current version (the definition's `version`). */
  readonly current: number;
  /** The oldest stored version it migrates from (`current` when it declares no migrations). */
  readonly oldest: number;
  /**
   * The state a machine stored at `version` in `state` has once migrated (renames and removals
   * applied, newest last), or undefined for a version outside `oldest`..`current`.
   */
  stateFrom(version: number, state: string): string | undefined;
  /**
   * The state and data a machine stored at `version` has in the current version. Throws what a data
   * migration throws, and for a version outside `oldest`..`current`.
   */
  migrate(version: number, machine: { readonly type: string; readonly id: string; readonly state: string; readonly data: unknown }): { state: string; data: unknown };
  /** The event types that have an upcaster. */
  readonly upcasts: readonly string[];
  /** The event as the current version handles it: converted when its type has an upcaster. Throws what the upcaster throws. */
  upcast(event: RsmEvent): RsmEvent;
}

/**
 * Checks a machine's chain and builds what the runtime uses. Refuses, naming the machine, a
 * version that is not a positive integer, a chain that skips or repeats a version, and a state
 * mapped to one the current version does not have (after the later steps' renames).
 */
export function buildVersions(type: string, version: number, states: readonly string[], declared: MigrationChainData | undefined): DefinitionVersions {
  if (!Number.isInteger(version) || version < 1) throw new Error(`machine ${type}: version must be a positive integer (got ${String(version)})`);
  const steps = declared?.steps ?? [];
  steps.forEach((step, i) => {
    const expected = version - 1 - i;
    if (expected < 1) throw new Error(`machine ${type}: the migration from v${String(step.from)} is one too many: the chain from v${version} already reaches v1`);
    if (step.from === expected) return;
    const before = i === 0 ? `the machine is at v${version}` : `the previous migration is from v${expected + 1}`;
    throw new Error(`machine ${type}: migrations go back one version at a time, newest first: expected the migration from v${expected} (${before}), got one from v${String(step.from)}${step.from < expected ? ` (v${step.from + 1}${step.from + 1 < expected ? `-v${expected}` : ''} missing)` : ''}`);
  });
  const oldest = version - steps.length;
  const known = new Set(states);
  // Each step's renames, by the version it migrates from.
  const byVersion = new Map(steps.map((step) => [step.from, step]));
  const stateFrom = (from: number, state: string): string | undefined => {
    if (!Number.isInteger(from) || from < oldest || from > version) return undefined;
    let current = state;
    for (let v = from; v < version; v += 1) current = byVersion.get(v)?.states[current] ?? current;
    return current;
  };
  for (const step of steps) {
    for (const [from, to] of Object.entries(step.states)) {
      const final = stateFrom(step.from + 1, to);
      if (final !== undefined && known.has(final)) continue;
      if (step.from + 1 === version) throw new Error(`machine ${type}: the migration from v${step.from} maps state ${from} to ${to}, which v${version} does not have (states: ${states.join(', ')})`);
      throw new Error(
        `machine ${type}: the migration from v${step.from} maps state ${from} to ${to}, which becomes ${String(final)} in v${version}, a state it does not have: map ${String(final === to ? to : final)} in a later migration`,
      );
    }
  }
  const upcasters = declared?.upcasters ?? {};
  const upcasts = Object.keys(upcasters);
  return {
    current: version,
    oldest,
    stateFrom,
    migrate(from, machine) {
      const state = stateFrom(from, machine.state);
      if (state === undefined) throw new Error(`machine ${type}: no migration from v${from} (this definition is v${version} and migrates from v${oldest})`);
      let data: unknown = structuredClone(machine.data);
      let at = machine.state;
      for (let v = from; v < version; v += 1) {
        const step = byVersion.get(v);
        if (step?.data !== undefined) data = step.data(data, { state: at, type: machine.type, id: machine.id });
        at = step?.states[at] ?? at;
      }
      return { state, data };
    },
    upcasts,
    upcast(event) {
      const upcaster = Object.hasOwn(upcasters, event.type) ? (upcasters[event.type] as (event: RsmEvent) => RsmEvent) : undefined;
      if (upcaster === undefined) return event;
      const converted = upcaster(structuredClone(event));
      if (typeof converted !== 'object' || converted === null || typeof converted.type !== 'string') {
        throw new Error(`the upcaster of ${event.type} returned ${converted === null ? 'null' : typeof converted}, not an event`);
      }
      return converted;
    },
  };
}
