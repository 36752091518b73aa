import type { ActivityRef, EventTo, Json, MachineRef, ReplyMap, RsmEvent } from './types.js';

/** Options of {@link StepContext.startTimer}. */
export interface TimerOptions {
  /** Fire again every `periodMs` after the first firing, until cancelled. */
  readonly periodMs?: number;
  /** Carried in the `Timeout` event. */
  readonly payload?: Json;
}

/** Options of {@link StepContext.call}. */
export interface CallOptions {
  /**
   * Names this call in its result event. Defaults to `<activity>#<n>` where n counts the calls of
   * this step, so it is stable across re-executions of the same step.
   */
  readonly callId?: string;
}

/**
 * What a handler may do besides changing its data. Nothing happens until the step commits: the
 * runtime records each request and applies it in the step's transaction, or not at all.
 *
 * @example
 * Idle: { on: { Reserve: (data, e, ctx) => { data.deliveryId = e.deliveryId; ctx.goto('Reserved'); ctx.reply({ ok: true }); } } }
 */
export interface StepContext<State extends string = string, Reply = Json> {
  /** This machine. */
  readonly self: MachineRef;
  /** The state the machine was in when the event arrived. */
  readonly state: State;
  /** The machine that sent the event, if it was another machine. */
  readonly sender: MachineRef | undefined;
  /** A stable id of the event being handled (the same on every re-execution of this step). */
  readonly eventId: string;
  /** Wall-clock time of this attempt; handlers need not be deterministic. */
  readonly now: Date;
  /** Moves the machine to `state` when the step commits. */
  goto(state: State): void;
  /**
   * Sends `event` to another machine, in this service or another one; FIFO per sender/receiver pair.
   * The event must be one of the events `to` carries (any event for an untyped `{ type, id }`).
   */
  send<E extends RsmEvent>(to: MachineRef<E, ReplyMap, unknown>, event: NoInfer<EventTo<E>>): void;
  /** Creates machine `to` (idempotent on type and id) and delivers `initEvent` to it if it was new. */
  create<E extends RsmEvent>(to: MachineRef<E, ReplyMap, unknown>, initEvent: NoInfer<EventTo<E>>): void;
  /** Starts (or restarts) the durable timer `name`; it delivers `{ type: 'Timeout', name }`. */
  startTimer(name: string, delayMs: number, options?: TimerOptions): void;
  /** Cancels timer `name`; a cancelled timer never delivers, even if it was already due. */
  cancelTimer(name: string): void;
  /**
   * Calls activity `activity` after the step commits, at least once, with one idempotency key for all
   * attempts. Its outcome comes back as an `ActivityCompleted` or `ActivityFailed` event.
   * Returns the call id.
   */
  call<Name extends string, Input extends Json, Output extends Json>(activity: ActivityRef<Name, Input, Output>, input: NoInfer<Input>, options?: CallOptions): string;
  /**
   * Answers the caller waiting on this event (see `RsmRuntime.request`). At most once per step. The
   * value has the reply type the machine declares for this event.
   */
  reply(value: Reply): void;
  /** Ends the machine when the step commits; later events go to dead letters. */
  halt(): void;
  /**
   * Tells admission control that this machine holds work in its data that it cannot serve yet (a
   * queue of requests waiting for a resource), the oldest of which has waited `waitedMs`. It counts
   * as lag, as an event waiting in the inbox does, so that work parked in a machine's data cannot
   * grow while intake stays open. Call it on every step while the queue lasts (0, or no call, when
   * it is empty); a figure not renewed lapses after `admission.windowMs`. The last call of a step wins.
   */
  backlog(waitedMs: number): void;
}
