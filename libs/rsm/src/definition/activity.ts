import type { Json } from './types.js';

/** What an activity attempt knows besides its input. */
export interface ActivityContext {
  /** The same for every attempt of one call: pass it to the external system to make retries safe. */
  readonly idempotencyKey: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly machine: { readonly type: string; readonly id: string };
  readonly callId: string;
  /** Aborted when the attempt times out or the process stops. */
  readonly signal: AbortSignal;
}

/** Retry policy of an activity. */
export interface ActivityRetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** One attempt taking longer than this fails. */
  readonly timeoutMs: number;
}

export const DEFAULT_ACTIVITY_RETRY: ActivityRetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 200,
  maxBackoffMs: 30_000,
  timeoutMs: 10_000,
};

/**
 * An external side effect. It runs after the step that called it commits, at least once, and its
 * outcome comes back to the machine as an `ActivityCompleted` or `ActivityFailed` event.
 *
 * @example
 * const notify: ActivityDefinition<{ url: string }, { status: number }> = {
 *   name: 'notify',
 *   run: async ({ url }, ctx) => ({ status: (await fetch(url, { method: 'POST', headers: { 'Idempotency-Key': ctx.idempotencyKey }, signal: ctx.signal })).status }),
 * };
 */
export interface ActivityDefinition<Input = Json, Output = Json> {
  readonly name: string;
  readonly retry?: Partial<ActivityRetryPolicy>;
  run(input: Input, ctx: ActivityContext): Promise<Output>;
}

export type AnyActivityDefinition = ActivityDefinition<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
