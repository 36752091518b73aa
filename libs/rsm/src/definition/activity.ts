import { MAX_TIMER_MS, type Json } from './types.js';

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


/**
 * What is wrong with an activity's retry policy (merged with the defaults), naming the field, or
 * undefined. Checked when the activity is registered: a bad one stops start-up.
 */
export function retryPolicyProblem(policy: ActivityRetryPolicy): string | undefined {
  const whole = (value: number, min: number) => Number.isSafeInteger(value) && value >= min;
  if (!whole(policy.maxAttempts, 1)) return `maxAttempts must be a whole number of at least 1 (got ${policy.maxAttempts})`;
  if (!whole(policy.initialBackoffMs, 0) || policy.initialBackoffMs > MAX_TIMER_MS) return `initialBackoffMs must be a whole number of ms from 0 to ${MAX_TIMER_MS} (got ${policy.initialBackoffMs})`;
  if (!whole(policy.maxBackoffMs, policy.initialBackoffMs) || policy.maxBackoffMs > MAX_TIMER_MS) return `maxBackoffMs must be a whole number of ms from initialBackoffMs to ${MAX_TIMER_MS} (got ${policy.maxBackoffMs})`;
  if (!whole(policy.timeoutMs, 1) || policy.timeoutMs > MAX_TIMER_MS) return `timeoutMs must be a whole number of ms from 1 to ${MAX_TIMER_MS} (got ${policy.timeoutMs})`;
  return undefined;
}
