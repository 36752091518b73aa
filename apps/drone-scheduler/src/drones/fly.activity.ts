import { Inject } from '@nestjs/common';
import type { ActivityContext } from '#rsm';
import { RsmActivity, type RsmActivityHandlerOf } from '#rsm/nest';
import { flyActivity, type FlightRequest } from '#contracts';
import { DRONE_SCHEDULER_CONFIG } from '../tokens.js';
import type { DroneSchedulerConfig } from '../config.js';

/**
 * Hands a flight to the drone simulator (the external actor that flies drones). Runs after the
 * dispatching step commits, retried with one idempotency key; the simulator ignores a flight it
 * already flies.
 */
@RsmActivity(flyActivity, { maxAttempts: 20, initialBackoffMs: 500, maxBackoffMs: 10_000, timeoutMs: 5_000 })
export class FlyActivity implements RsmActivityHandlerOf<typeof flyActivity> {
  constructor(@Inject(DRONE_SCHEDULER_CONFIG) private readonly config: DroneSchedulerConfig) {}

  async run(flight: FlightRequest, ctx: ActivityContext): Promise<{ status: number }> {
    const response = await fetch(`${this.config.SIM_URL}/api/flights`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey, authorization: `Bearer ${this.config.SERVICE_API_KEYS[0] ?? ''}` },
      body: JSON.stringify(flight),
      signal: ctx.signal,
    });
    if (!response.ok) throw new Error(`simulator answered ${response.status}: ${await response.text()}`);
    return { status: response.status };
  }
}
