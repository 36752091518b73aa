import { Inject } from '@nestjs/common';
import type { ActivityContext } from '#rsm';
import { RsmActivity, type RsmActivityHandlerOf } from '#rsm/nest';
import { flyActivity, type FlightRequest } from '#contracts';
import { DRONE_SCHEDULER_CONFIG } from '../tokens.js';
import type { DroneSchedulerConfig } from '../config.js';

/**
 * Hands a flight to the drone simulator (the external actor that flies drones). Runs after the
 * dispatching step commits, retried with one idempotency key; the simulator ignores a flight it
 * already flies. Retries come at most 2 s apart (for about 2.5 minutes): the drone and its delivery
 * wait on the flight, and a restarted simulator is back within a second or two.
 */
@RsmActivity(flyActivity, { maxAttempts: 80, initialBackoffMs: 250, maxBackoffMs: 2_000, timeoutMs: 5_000 })
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
