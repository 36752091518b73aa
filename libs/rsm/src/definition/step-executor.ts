import type { Effect } from './effects.js';
import { copyJson } from './json-text.js';
import type { AnyMachineDefinition } from './machine-definition.js';
import type { CallOptions, StepContext, TimerOptions } from './step-context.js';
import { invalidIdReason, MACHINE_TYPE_PATTERN, MAX_TYPE_LENGTH, type ActivityRef, type Json, type MachineRef, type RsmEvent } from './types.js';

/**
 * The longest delay or period a timer takes: 100 years. Past it, the time a periodic timer fires
 * next would leave Postgres's range, and that poll would fail for every timer of the service.
 */
export const MAX_TIMER_SPAN_MS = 100 * 365.25 * 24 * 3_600_000;

/** The machine as a step sees it. */
export interface MachineSnapshot {
  readonly type: string;
  readonly id: string;
  readonly state: string;
  readonly data: unknown;
  readonly status: MachineStatus;
}

export type MachineStatus = 'active' | 'halted' | 'faulted';

/** One event addressed to a machine, with what the runtime knows of its origin. */
export interface Envelope {
  readonly eventId: string;
  readonly event: RsmEvent;
  readonly sender: MachineRef | undefined;
}

/** The result of running one handler; nothing of it is visible until the runtime commits it. */
export type StepOutcome =
  | {
      readonly kind: 'committed';
      readonly state: string;
      readonly data: unknown;
      readonly halted: boolean;
      readonly effects: readonly Effect[];
      /** What the handler reported with `ctx.backlog`, if it did. */
      readonly backlogMs?: number;
    }
  /** The event can never be handled as it is (not accepted, invalid payload, machine halted). */
  | { readonly kind: 'rejected'; readonly reason: string }
  /** The handler threw; the event may be retried. */
  | { readonly kind: 'failed'; readonly error: string };

/**
 * Runs one event through a machine definition, in memory. Shared by the Postgres runtime, the
 * in-memory test runtime and the simulator, so all three give a handler the same semantics.
 */
export async function executeStep(
  definition: AnyMachineDefinition,
  machine: MachineSnapshot,
  envelope: Envelope,
  now: Date,
  /**
   * The caller owns `machine.data` and can restore it if the step fails: the handler works on it
   * in place instead of on a copy (see `planStep`).
   */
  owned = false,
): Promise<StepOutcome> {
  if (machine.status !== 'active') {
    return { kind: 'rejected', reason: `machine ${machine.type}/${machine.id} is ${machine.status}` };
  }
  const { event } = envelope;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
    return { kind: 'rejected', reason: 'event has no string "type"' };
  }
  const handler = definition.handlerFor(machine.state, event.type);
  if (handler === undefined) {
    const accepted = definition.accepts(machine.state);
    return {
      kind: 'rejected',
      reason: `state ${machine.state} of ${machine.type} does not accept ${event.type} (accepts: ${accepted.join(', ') || 'nothing'})`,
    };
  }
  const schema = (definition.spec.schemas as Record<string, import('@standard-schema/spec').StandardSchemaV1> | undefined)?.[
    event.type
  ];
  if (schema !== undefined) {
    const result = await schema['~standard'].validate(event);
    if (result.issues !== undefined) {
      const issues = result.issues
        .map((issue) => `${(issue.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.') || '(event)'}: ${issue.message}`)
        .join('; ');
      return { kind: 'rejected', reason: `invalid ${event.type}: ${issues}` };
    }
  }

  const effects: Effect[] = [];
  let nextState = machine.state;
  let halted = false;
  let replied = false;
  let calls = 0;
  let backlogMs: number | undefined;
  const states = definition.states as readonly string[];
  const allowed = definition.targetsOf(machine.state, event.type);
  let undeclaredGoto: string | undefined;
  const self: MachineRef = { type: machine.type, id: machine.id };
  const ctx: StepContext = {
    self,
    state: machine.state,
    sender: envelope.sender,
    eventId: envelope.eventId,
    now,
    goto(state) {
      if (!states.includes(state)) throw new Error(`goto: ${machine.type} has no state ${state}`);
      if (state !== machine.state && !allowed.includes(state)) {
        // Recorded as well as thrown, so a handler that catches it still fails the step.
        undeclaredGoto = `goto ${state}: ${machine.type} declares no transition ${machine.state} --${event.type}--> ${state} (declared targets: ${allowed.join(', ') || 'none'})`;
        throw new Error(undeclaredGoto);
      }
      nextState = state;
    },
    send(to, sent) {
      effects.push({ kind: 'send', to: checkRef(to), event: checkEvent(sent) });
    },
    create(to, initEvent) {
      effects.push({ kind: 'create', to: checkRef(to), event: checkEvent(initEvent) });
    },
    startTimer(name: string, delayMs: number, options?: TimerOptions) {
      if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_TIMER_SPAN_MS) throw new Error(`startTimer ${name}: delay must be 0 to ${MAX_TIMER_SPAN_MS} ms (100 years)`);
      const period = options?.periodMs ?? null;
      if (period !== null && (!Number.isFinite(period) || period <= 0 || period > MAX_TIMER_SPAN_MS)) {
        throw new Error(`startTimer ${name}: period must be > 0 and at most ${MAX_TIMER_SPAN_MS} ms (100 years)`);
      }
      // Whole milliseconds, as the timer table keeps them.
      const periodMs = period === null ? null : Math.ceil(period);
      effects.push({ kind: 'startTimer', name, delayMs, periodMs, payload: options?.payload ?? null });
    },
    cancelTimer(name) {
      effects.push({ kind: 'cancelTimer', name });
    },
    call(activityRef: ActivityRef, input: Json, options?: CallOptions) {
      const activity = activityRef.name;
      if (typeof activity !== 'string' || activity === '') throw new Error('call: the activity has no name');
      calls += 1;
      const callId = options?.callId ?? `${activity}#${calls}`;
      effects.push({
        kind: 'call',
        activity,
        input,
        callId,
        idempotencyKey: activityIdempotencyKey(machine, envelope.eventId, callId),
      });
      return callId;
    },
    reply(value) {
      if (replied) throw new Error('reply called twice in one step');
      replied = true;
      effects.push({ kind: 'reply', value });
    },
    halt() {
      halted = true;
    },
    backlog(waitedMs) {
      if (typeof waitedMs !== 'number' || !Number.isFinite(waitedMs)) throw new Error('backlog: waitedMs must be a finite number');
      backlogMs = Math.max(0, waitedMs);
    },
  };

  try {
    const data: unknown = owned ? machine.data : copyJson(machine.data);
    const returned: unknown = await withHandlerTimeout(handler(data, event, ctx), definition.failure.handlerTimeoutMs);
    if (undeclaredGoto !== undefined) return { kind: 'failed', error: `Error: ${undeclaredGoto}` };
    return {
      kind: 'committed',
      state: nextState,
      data: returned === undefined ? data : returned,
      halted,
      effects,
      ...(backlogMs !== undefined ? { backlogMs } : {}),
    };
  } catch (error) {
    return { kind: 'failed', error: describeError(error) };
  }
}

/** The handler's result, or a rejection once it has run `ms` without returning. */
async function withHandlerTimeout<T>(result: T | Promise<T>, ms: number): Promise<T> {
  if (!(result instanceof Promise)) return result;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`handler did not return within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([result, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks what a handler addresses and sends as the receiving side will (`delivery/wire-schemas.ts`):
 * a message it would refuse must fail the step that sends it, not commit and then be refused with
 * every other message of its job, each time the sweeper sends them again.
 */
function checkRef(ref: MachineRef): MachineRef {
  const invalid = invalidIdReason(ref?.id);
  const type: unknown = ref?.type;
  const badType = typeof type !== 'string' ? 'the type must be a string' : !MACHINE_TYPE_PATTERN.test(type) || type.length > MAX_TYPE_LENGTH ? `no machine type can be ${JSON.stringify(type).slice(0, 60)}` : undefined;
  if (badType !== undefined || invalid !== undefined) {
    throw new Error(`not a machine reference (${invalid ?? badType ?? ''}): ${JSON.stringify(ref).slice(0, 200)}`);
  }
  return { type: ref.type, id: ref.id };
}

function checkEvent(event: RsmEvent): RsmEvent {
  if (typeof event?.type !== 'string' || event.type.length === 0 || event.type.length > MAX_TYPE_LENGTH) {
    throw new Error(`not an event (its type must be a string of 1 to ${MAX_TYPE_LENGTH} characters): ${JSON.stringify(event)?.slice(0, 200)}`);
  }
  return event;
}

/** A one-line description of anything thrown. */
export function describeError(error: unknown): string {
  // A thrown value is anything code threw, an external system's answer included: an object whose
  // toString is not a function, or a getter that throws, must not make the description throw.
  try {
    if (error instanceof Error) return `${String(error.name)}: ${String(error.message)}`;
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** Retry delay of attempt `attempt` (1-based) under a doubling backoff. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * The idempotency key of an activity call: `type/id:eventId:callId` with the id and the call id
 * percent-encoded where they hold `%`, `:`, `/` or anything but printable ASCII. No id can make two
 * calls share a key (a type has neither separator, and the event id sits between the first `:` and
 * the last one), the key fits in an HTTP header, and plain ids read as they are.
 */
export function activityIdempotencyKey(machine: MachineRef, eventId: string, callId: string): string {
  return `${machine.type}/${escapeForKey(machine.id)}:${eventId}:${escapeForKey(callId)}`;
}

function escapeForKey(text: string): string {
  // A lone surrogate (which Postgres would refuse anyway) cannot be percent-encoded: U+FFFD stands in.
  return text.replace(/[%:/]|[^\x21-\x7e]/gu, (c) => (/[\ud800-\udfff]/u.test(c) ? '%EF%BF%BD' : encodeURIComponent(c)));
}
