/** Any event: plain JSON with a `type` discriminator. */
export interface RsmEvent {
  readonly type: string;
}

/**
 * The address of a machine: its type and its id. The type decides which service owns it. A ref
 * made by `definition.ref(id)` also carries the machine's event types, so sends to it are checked.
 */
export interface MachineRef<E extends RsmEvent = RsmEvent> {
  readonly type: string;
  readonly id: string;
  /** Phantom: never present at run time. */
  readonly __events?: E;
}

/** JSON values as stored in Postgres `jsonb`. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/**
 * The event a durable timer delivers when it fires.
 *
 * @example
 * type Events = { type: 'Start' } | TimeoutEvent<'deadline'>;
 */
export interface TimeoutEvent<Name extends string = string> {
  readonly type: 'Timeout';
  readonly name: Name;
  readonly payload?: Json;
}

/**
 * The event an activity delivers when one of its attempts succeeds.
 *
 * @example
 * type Events = ActivityCompleted<'notify', { status: number }> | ActivityFailed<'notify'>;
 */
export interface ActivityCompleted<Name extends string = string, Output = Json> {
  readonly type: 'ActivityCompleted';
  readonly activity: Name;
  readonly callId: string;
  readonly output: Output;
}

/** The event an activity delivers when its retry policy is exhausted. */
export interface ActivityFailed<Name extends string = string> {
  readonly type: 'ActivityFailed';
  readonly activity: Name;
  readonly callId: string;
  readonly error: string;
  readonly attempts: number;
}

/**
 * `type/id`: the string form of a machine reference, used as map key and in logs. Unambiguous
 * because a type never contains `/` (checked by `defineMachine`, and by the receiver for refs that
 * come from elsewhere); the id may contain anything.
 */
export function machineKey(ref: MachineRef): string {
  return `${ref.type}/${ref.id}`;
}

/** Parses `type/id` back into a reference; the id may itself contain slashes. */
export function parseMachineKey(key: string): MachineRef {
  const slash = key.indexOf('/');
  if (slash <= 0) {
    throw new Error(`not a machine key: ${JSON.stringify(key)}`);
  }
  return { type: key.slice(0, slash), id: key.slice(slash + 1) };
}

/**
 * One key for several strings, unambiguous whatever they contain (spaces, separators, quotes):
 * the JSON of the array. For in-memory maps; never split, keep the parts beside it instead.
 */
export function compositeKey(...parts: readonly (string | number)[]): string {
  return JSON.stringify(parts);
}

/**
 * The longest id, in UTF-8 bytes. Ids are primary-key columns (Postgres btree rows are bounded)
 * and travel between services, whose receivers refuse longer ones: refused at the source instead.
 */
export const MAX_ID_BYTES = 512;

/** Why `id` is not a valid machine id, or undefined when it is one. */
export function invalidIdReason(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return 'the id must be a non-empty string';
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) return `the id must be at most ${MAX_ID_BYTES} bytes of UTF-8`;
  return undefined;
}

/** What a machine type may look like; also what `machineKey` relies on (no `/`). */
export const MACHINE_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;
