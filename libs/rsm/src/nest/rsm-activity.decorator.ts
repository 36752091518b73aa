import { Injectable, SetMetadata, applyDecorators } from '@nestjs/common';
import type { ActivityContext, ActivityRetryPolicy } from '../definition/activity.js';
import type { ActivityInput, ActivityOutput, ActivityRef } from '../definition/types.js';
import { RSM_ACTIVITY_METADATA } from './rsm.constants.js';

/** A provider that implements an activity; Nest injects its dependencies. */
export interface RsmActivityHandler<Input = unknown, Output = unknown> {
  run(input: Input, ctx: ActivityContext): Promise<Output>;
}

/** The provider of activity `A`, typed by its ref: `implements RsmActivityHandlerOf<typeof notify>`. */
export type RsmActivityHandlerOf<A extends ActivityRef> = RsmActivityHandler<ActivityInput<A>, ActivityOutput<A>>;

export interface RsmActivityMetadata {
  readonly name: string;
  readonly retry?: Partial<ActivityRetryPolicy>;
}

/**
 * Marks a provider as the implementation of activity `name`. The module finds it at start-up; a
 * name implemented twice stops start-up.
 *
 * @example
 * @RsmActivity(notify, { maxAttempts: 8 })
 * export class NotifyActivity implements RsmActivityHandlerOf<typeof notify> {
 *   constructor(private readonly http: WebhookClient) {}
 *   run(input: { url: string }, ctx: ActivityContext) { return this.http.post(input.url, ctx.idempotencyKey); }
 * }
 */
export function RsmActivity(activity: string | ActivityRef, retry?: Partial<ActivityRetryPolicy>): ClassDecorator {
  const name = typeof activity === 'string' ? activity : activity.name;
  return applyDecorators(Injectable(), SetMetadata(RSM_ACTIVITY_METADATA, { name, retry } satisfies RsmActivityMetadata));
}
