import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Flight } from '#contracts';
import type { DroneSimConfig } from '../config.js';
import { DRONE_SIM_CONFIG } from '../tokens.js';
import { JsonClient } from './json-client.js';

type Leg = 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning';
const LEGS: readonly Leg[] = ['EnRouteToPickup', 'EnRouteToDropoff', 'Returning'];

/**
 * Flies drones in accelerated time, as an external actor would: after each leg it reports to the
 * drone-scheduler (and, at drop-off, confirms to the delivery service). It keeps nothing durable on
 * purpose: a flight lost with this process is asked again by the drone's watchdog.
 */
@Injectable()
export class FlightSimulator implements OnApplicationShutdown {
  private readonly logger = new Logger(FlightSimulator.name);
  private readonly active = new Map<string, Leg>();
  private stopped = false;
  private readonly client = new JsonClient();
  flown = 0;
  abandoned = 0;

  constructor(@Inject(DRONE_SIM_CONFIG) private readonly config: DroneSimConfig) {}

  /** Starts a flight unless this drone already flies this delivery, or too many are in the air. */
  start(flight: Flight): 'started' | 'already flying' | 'full' {
    const key = `${flight.droneId}/${flight.deliveryId}`;
    if (this.active.has(key)) return 'already flying';
    if (this.active.size >= this.config.MAX_FLIGHTS) return 'full';
    this.active.set(key, flight.from);
    void this.fly(key, flight).finally(() => this.active.delete(key));
    return 'started';
  }

  flights(): { key: string; leg: Leg }[] {
    return [...this.active].map(([key, leg]) => ({ key, leg }));
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.client.close();
  }

  private async fly(key: string, flight: Flight): Promise<void> {
    const confirmUrl = `${this.config.DELIVERY_URL}/api/deliveries/${flight.deliveryId}/confirmations`;
    // The drone's camera, scanner or microphone, simulated: the evidence the delivery asked for.
    const confirmation = { confirmationType: flight.confirmationRequired, confirmationBlob: flight.confirmationRequired === 'None' ? '' : `simulated ${flight.confirmationRequired} for ${flight.deliveryId}` };
    // A flight resumed on the way back (this process died after the drop-off) confirms the drop-off
    // again first: the confirmation may be what was lost, and a second one is refused harmlessly.
    if (flight.from === 'Returning') await this.report(confirmUrl, confirmation, true);
    for (const leg of LEGS.slice(LEGS.indexOf(flight.from))) {
      this.active.set(key, leg);
      await this.wait(this.config.LEG_MS_MIN + Math.random() * Math.max(0, this.config.LEG_MS_MAX - this.config.LEG_MS_MIN));
      const status = leg === 'EnRouteToPickup' ? 'PickedUp' : leg === 'EnRouteToDropoff' ? 'Delivered' : 'Returned';
      if (!(await this.report(`${this.config.DRONE_SCHEDULER_URL}/api/drones/${flight.droneId}/status`, { deliveryId: flight.deliveryId, status }, false))) return;
      if (status === 'Delivered') await this.report(confirmUrl, confirmation, true);
    }
    this.flown += 1;
  }

  /**
   * Posts a report until it is taken. A drone that says the flight is not its own (409) ends the
   * flight; a delivery that is not yet ready for its confirmation (409) is asked again.
   */
  private async report(url: string, body: object, retryConflict: boolean): Promise<boolean> {
    const deadline = Date.now() + this.config.REPORT_RETRY_MS;
    // Two reasons to ask again, each with its own backoff: a service that does not answer (down or
    // restarting) and a delivery not ready for its confirmation yet. Counted apart, so that the
    // seconds a restart took do not make every later not-ready wait the longest one.
    let down = 0;
    let notReady = 0;
    while (!this.stopped) {
      let delay: number;
      try {
        const response = await this.client.post(url, body, { authorization: `Bearer ${this.config.SERVICE_API_KEYS[0] ?? ''}` }, 10_000);
        if (response.status >= 200 && response.status < 300) return true;
        if (response.status === 409 && retryConflict) {
          // Already confirmed, or cancelled: nothing left to report. Otherwise not ready yet: retry.
          const current = (parseJson(response.body) as { currentState?: unknown } | undefined)?.currentState;
          if (current === 'Completed' || current === 'Cancelled') return true;
          delay = notReadyDelay(notReady);
          notReady += 1;
        } else if (response.status === 409) {
          this.logger.log(`abandoning flight: ${url} answered 409 ${response.body}`);
          this.abandoned += 1;
          return false;
        } else {
          delay = downDelay(down);
          down += 1;
        }
      } catch {
        // the service is down or restarting: try again
        delay = downDelay(down);
        down += 1;
      }
      if (Date.now() > deadline) {
        this.abandoned += 1;
        this.logger.warn(`gave up reporting to ${url}`);
        return false;
      }
      await this.wait(delay);
    }
    return false;
  }

  /** Waits between legs and between tries (a test counts them instead of waiting). */
  protected wait(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/**
 * A service that does not answer is asked every quarter second at most: a refused connection costs
 * next to nothing, and the drone waits on it.
 */
const downDelay = (tries: number): number => Math.min(250, 25 * 2 ** Math.min(tries, 4));

/**
 * A delivery not ready for its confirmation (its drop-off news is still on the way) is asked at
 * 100 ms, then less often, up to once a second: under a backlog that news can take a while.
 */
const notReadyDelay = (tries: number): number => Math.min(1_000, 100 * 2 ** Math.min(tries, 4));

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
