import { rememberJson, unstorableReason } from '../definition/json-text.js';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import { describeError, type MachineSnapshot } from '../definition/step-executor.js';
import { compositeKey, type RsmEvent } from '../definition/types.js';

/** Why a process leaves a machine's events where they are instead of stepping it. */
export type DeferReason = 'newer_version' | 'no_migration';

/**
 * A stored machine as a definition sees it. Shared by the Postgres runtime (steps and
 * inspection), the TestRuntime and the simulator, so all three migrate the same way.
 */
export type VersionedMachine =
  /** Stored at the definition's version, in a state it has. */
  | { readonly kind: 'current'; readonly machine: MachineSnapshot }
  /** Stored at an older version: migrated in memory (state renamed or mapped, data transformed). */
  | { readonly kind: 'migrated'; readonly machine: MachineSnapshot; readonly from: number }
  /** Not steppable by this definition: stored by a newer one, or no migration leads here. */
  | { readonly kind: 'defer'; readonly reason: DeferReason; readonly detail: string }
  /** A data migration threw: the step fails as a throwing handler does. */
  | { readonly kind: 'failed'; readonly from: number; readonly error: string };

/**
 * The machine stored at `storedVersion` as `definition` steps it. Cheap for a current machine (a
 * comparison and a lookup); a migration runs the declared steps in memory and writes nothing.
 * A halted machine is never migrated: it takes no step in any version.
 *
 * @example
 * const view = migrateMachine(Counter, snapshot, row.definitionVersion);
 * if (view.kind === 'migrated') console.log(`shown as v${Counter.version}, stored at v${view.from}`);
 */
export function migrateMachine(definition: AnyMachineDefinition, machine: MachineSnapshot, storedVersion: number): VersionedMachine {
  const versions = definition.versions;
  const states = definition.states as readonly string[];
  if (storedVersion === versions.current && (machine.status === 'halted' || states.includes(machine.state))) return { kind: 'current', machine };
  const at = `${machine.type} v${storedVersion}`;
  if (storedVersion > versions.current) {
    return { kind: 'defer', reason: 'newer_version', detail: `${machine.type}/${machine.id} is stored at v${storedVersion}; this process runs v${versions.current}: a process running v${storedVersion} or later steps it` };
  }
  if (machine.status === 'halted') return { kind: 'current', machine };
  if (storedVersion < versions.oldest) {
    return { kind: 'defer', reason: 'no_migration', detail: `${at} has no migration: this process runs v${versions.current}, which migrates from v${versions.oldest}` };
  }
  const state = versions.stateFrom(storedVersion, machine.state);
  if (state === undefined || !states.includes(state)) {
    return { kind: 'defer', reason: 'no_migration', detail: `state ${machine.state} of ${at} is not a state of v${versions.current} and no migration maps it` };
  }
  if (storedVersion === versions.current) return { kind: 'current', machine };
  try {
    const migrated = versions.migrate(storedVersion, machine);
    // What a migration returns is stored as jsonb: the same JSON rule as a handler's data. Its text
    // is remembered, so the handler's copy is parsed from it. Data that cannot be stored fails here,
    // for this machine alone: written, it would fail the statement of every machine written with it.
    const text = JSON.stringify(migrated.data) as string | undefined;
    if (text === undefined) return { kind: 'failed', from: storedVersion, error: `migration from v${storedVersion} failed: it returned no data (${typeof migrated.data})` };
    const unstorable = unstorableReason(migrated.data);
    if (unstorable !== undefined) return { kind: 'failed', from: storedVersion, error: `migration from v${storedVersion} failed: ${unstorable}` };
    rememberJson(migrated.data, text);
    return { kind: 'migrated', machine: { ...machine, state: migrated.state, data: migrated.data }, from: storedVersion };
  } catch (error) {
    return { kind: 'failed', from: storedVersion, error: `migration from v${storedVersion} failed: ${describeError(error)}` };
  }
}

/** The event as `definition` handles it (its upcaster applied), or why it cannot be converted. */
export function upcastEvent(definition: AnyMachineDefinition, event: RsmEvent): { readonly event: RsmEvent } | { readonly error: string } {
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return { event };
  try {
    return { event: definition.versions.upcast(event) };
  } catch (error) {
    return { error: `upcasting ${event.type} failed: ${describeError(error)}` };
  }
}

/** How many machines of a type are stored at a definition version, in a state and status. */
export interface StoredVersionCount {
  readonly type: string;
  readonly definitionVersion: number;
  readonly state: string;
  readonly status: 'active' | 'halted' | 'faulted';
  readonly count: number;
}

/** Events machines of a type will still be handed: where they wait, their type (any of `eventTypes`), how many. */
export interface PendingEventCount {
  readonly type: string;
  readonly source: 'inbox' | 'timers' | 'activities' | 'reorder buffer';
  readonly eventTypes: readonly string[];
  readonly count: number;
}

/** One reason a definition must not run against what is stored, with the machine type, the state or event, and how many. */
export interface VersionProblem {
  readonly type: string;
  readonly kind: 'state' | 'version' | 'event';
  /** The state, the stored version (`v1`) or the event type concerned. */
  readonly subject: string;
  readonly count: number;
  readonly message: string;
}

/**
 * What `definition` could not handle of what is stored, so that a deploy fails at start-up rather
 * than in traffic: machines in states it does not have and no migration maps, machines stored at
 * versions it cannot migrate from, and pending events of types no state accepts and no upcaster
 * converts. Machines stored at newer versions are a newer process's and are left out; while any
 * exist (this process is the old side of a rolling deploy) pending events are not judged either,
 * since newer code may have sent events this one does not know. Halted machines take no step and
 * are left out.
 */
export function versionProblems(definition: AnyMachineDefinition, stored: readonly StoredVersionCount[], pending: readonly PendingEventCount[]): VersionProblem[] {
  const versions = definition.versions;
  const v = `v${versions.current}`;
  const states = definition.states as readonly string[];
  const found = new Map<string, VersionProblem>();
  const add = (kind: VersionProblem['kind'], subject: string, count: number, message: (n: number) => string, where = '') => {
    const key = compositeKey(kind, subject, where);
    const total = (found.get(key)?.count ?? 0) + count;
    found.set(key, { type: definition.type, kind, subject, count: total, message: `${definition.type} ${v}: ${message(total)}` });
  };
  let newer = false;
  for (const row of stored) {
    if (row.type !== definition.type || row.status === 'halted') continue;
    if (row.definitionVersion > versions.current) {
      newer = true;
      continue;
    }
    if (row.definitionVersion < versions.oldest) {
      add('version', `v${row.definitionVersion}`, row.count, (n) => `${machines(n)} stored at v${row.definitionVersion}, which ${v} cannot migrate (its migrations start at v${versions.oldest})`);
      continue;
    }
    const state = versions.stateFrom(row.definitionVersion, row.state);
    if (state !== undefined && states.includes(state)) continue;
    const at = row.definitionVersion === versions.current ? '' : ` (stored at v${row.definitionVersion})`;
    add('state', row.state, row.count, (n) => `${machines(n)} in state ${row.state}${at}, which ${v} does not have and no migration maps`);
  }
  if (!newer) {
    const accepted = new Set([...definition.transitions().map((t) => t.event), ...versions.upcasts]);
    for (const row of pending) {
      if (row.type !== definition.type || row.eventTypes.some((type) => accepted.has(type))) continue;
      const subject = row.eventTypes.join(' or ');
      add('event', subject, row.count, (n) => `${n} pending ${subject} event${n === 1 ? '' : 's'} (${row.source}), which no state of ${v} accepts and no upcaster converts`, row.source);
    }
  }
  return [...found.values()];
}

function machines(n: number): string {
  return `${n} machine${n === 1 ? '' : 's'}`;
}
