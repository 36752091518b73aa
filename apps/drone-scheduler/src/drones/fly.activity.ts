import { Inject, type OnApplicationShutdown } from '@nestjs/common';
import type { ActivityContext } from '#rsm';
import { RsmActivity, type RsmActivityHandlerOf } from '#rsm/nest';
import { flyActivity, type FlightRequest } from '#contracts';
import { JsonClient } from '#service-kit';
import { DRONE_SCHEDULER_CONFIG } from '../tokens.js';
import type { DroneSchedulerConfig } from '../config.js';

/** One attempt's longest wait for the simulator's answer (the retry policy's `timeoutMs` aborts it too). */
const ATTEMPT_TIMEOUT_MS = 5_000;

/**
 * Hands a flight to the drone simulator (the external actor that flies drones). Runs after the
 * dispatching step commits, retried with one idempotency key; the simulator ignores a flight it
 * already flies. Retries come at most 2 s apart (for about 2.5 minutes): the drone and its delivery
 * wait on the flight, and a restarted simulator is back within a second or two.
 */
@RsmActivity(flyActivity, { maxAttempts: 80, initialBackoffMs: 250, maxBackoffMs: 2_000, timeoutMs: ATTEMPT_TIMEOUT_MS })
export class FlyActivity implements RsmActivityHandlerOf<typeof flyActivity>, OnApplicationShutdown {
  private readonly client = new JsonClient();

  constructor(@Inject(DRONE_SCHEDULER_CONFIG) private readonly config: DroneSchedulerConfig) {}

  async run(flight: FlightRequest, ctx: ActivityContext): Promise<{ status: number }> {
    const headers = { 'idempotency-key': ctx.idempotencyKey, authorization: `Bearer ${this.config.SERVICE_API_KEYS[0] ?? ''}` };
    const response = await this.client.post(`${this.config.SIM_URL}/api/flights`, flight, headers, ATTEMPT_TIMEOUT_MS, ctx.signal);
    if (response.status < 200 || response.status >= 300) throw new Error(`simulator answered ${response.status}: ${response.body.slice(0, 500)}`);
    return { status: response.status };
  }

  onApplicationShutdown(): void {
    this.client.close();
  }
}
