import { RsmActivity, type ActivityContext, type RsmActivityHandler } from '#rsm';

/**
 * Calls the webhook a customer registered with `notifymerequests`, once the delivery completes.
 * At least once, with the same `Idempotency-Key` on every attempt so the receiver can drop repeats.
 */
@RsmActivity('notify', { maxAttempts: 8, initialBackoffMs: 500, maxBackoffMs: 30_000, timeoutMs: 5_000 })
export class NotifyActivity implements RsmActivityHandler<{ url: string; deliveryId: string; stage: string }, { status: number }> {
  async run(input: { url: string; deliveryId: string; stage: string }, ctx: ActivityContext): Promise<{ status: number }> {
    const response = await fetch(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
      body: JSON.stringify({ deliveryId: input.deliveryId, stage: input.stage }),
      signal: ctx.signal,
    });
    if (response.status >= 500 || response.status === 429) throw new Error(`webhook answered ${response.status}`);
    return { status: response.status };
  }
}
