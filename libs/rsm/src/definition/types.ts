/** Any event: plain JSON with a `type` discriminator. */
export interface RsmEvent {
  readonly type: string;
}

/**
 * What a machine answers with `ctx.reply`, by event type; `request` resolves to it. An event type
 * not listed answers `Json | undefined`. Declare it as a type alias (`type R = { Check: ... }`).
 */
export type ReplyMap = object;

/** The reply of event type `T` under `R`. */
export type ReplyOf<R, T extends string> = T extends keyof R ? R[T] : Json | undefined;

/**
 * The address of a machine: its type and its id. The type decides which service owns it. A ref
 * made by `definition.ref(id)` (or by a typed ref constructor such as those in `libs/contracts`)
 * also carries the machine's event union, reply types and data type at compile time only, so the
 * compiler checks every `send`, `create` and `request` to it, in handlers and in `RsmRuntime`
 * alike, and `get` returns its data typed. A plain `{ type, id }` is an untyped ref: any event goes.
 */
export interface MachineRef<E extends RsmEvent = RsmEvent, R extends ReplyMap = object, D = unknown> {
  readonly type: string;
  readonly id: string;
  /** Phantom: never present at run time. */
  readonly __machine?: { readonly events: E; readonly replies: R; readonly data: D };
}

/**
 * The name of an activity with the types of its input and output, shared by the machines that call
 * it (`ctx.call(ref, input)`) and the provider that implements it (`@RsmActivity(ref)`).
 *
 * @example
 * export const notify: ActivityRef<'notify', { url: string }, { status: number }> = { name: 'notify' };
 */
export interface ActivityRef<Name extends string = string, Input extends Json = Json, Output extends Json = Json> {
  readonly name: Name;
  /** Phantom: never present at run time. */
  readonly __activity?: { readonly input: Input; readonly output: Output };
}

/** The input type of an activity ref. */
export type ActivityInput<A> = A extends ActivityRef<string, infer I, Json> ? I : never;
/** The output type of an activity ref. */
export type ActivityOutput<A> = A extends ActivityRef<string, Json, infer O> ? O : never;

/**
 * What may be sent to a machine whose ref carries events `E`: one of them, or any event for an
 * untyped ref (whose `E` is `RsmEvent` itself).
 */
export type EventTo<E extends RsmEvent> = RsmEvent extends E ? RsmEvent | { readonly type: string; readonly [field: string]: unknown } : E;

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

/** Both outcome events of activity `A`, typed by its ref: `ActivityOutcome<typeof notify>`. */
export type ActivityOutcome<A extends ActivityRef> = ActivityCompleted<A['name'], ActivityOutput<A>> | ActivityFailed<A['name']>;

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

/** The longest delay setTimeout honours (about 24.8 days); Node runs a longer one after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Why `id` is not a valid machine id, or undefined when it is one. */
export function invalidIdReason(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return 'the id must be a non-empty string';
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) return `the id must be at most ${MAX_ID_BYTES} bytes of UTF-8`;
  // A URL path drops these segments, even percent-encoded: no admin route, console or CLI could reach the machine.
  if (id === '.' || id === '..') return "the id cannot be '.' or '..'";
  return undefined;
}

/** What a machine type may look like; also what `machineKey` relies on (no `/`). */
export const MACHINE_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** The longest machine type and event type a message between services may carry (the receiver refuses longer ones). */
export const MAX_TYPE_LENGTH = 200;
