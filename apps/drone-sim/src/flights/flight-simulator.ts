import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { z } from 'zod';
import { flightSchema, type Flight } from '#contracts';
import type { DroneSimConfig } from '../config.js';
import { DRONE_SIM_CONFIG } from '../tokens.js';
import { JsonClient } from '#service-kit';

type Leg = 'EnRouteToPickup' | 'EnRouteToDropoff' | 'Returning';
const LEGS: readonly Leg[] = ['EnRouteToPickup', 'EnRouteToDropoff', 'Returning'];

/** The drone-scheduler's list of flights in the air: its size is bounded by the fleet's. */
const flightsAnswer = z.object({ flights: z.array(z.unknown()).max(100_000) });
/** That list's largest answer read (about 250 bytes a flight). */
const MAX_FLIGHTS_ANSWER_BYTES = 32 * 1024 * 1024;

/**
 * Flies drones in accelerated time, as an external actor would: after each leg it reports to the
 * drone-scheduler (and, at drop-off, confirms to the delivery service). It keeps nothing durable on
 * purpose: when it starts, it asks the drone-scheduler which drones are in the air and flies each
 * on from the leg it is on (a restart lost them); a flight lost otherwise is asked again by the
 * drone's watchdog.
 */
@Injectable()
export class FlightSimulator implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FlightSimulator.name);
  private readonly active = new Map<string, Leg>();
  private stopped = false;
  private readonly client = new JsonClient();
  flown = 0;
  abandoned = 0;
  /** Flights taken over from the drone-scheduler's list at start. */
  resumed = 0;

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

  /**
   * Resumes the flights in the air before this process takes requests, when the drone-scheduler
   * answers at once; otherwise keeps asking in the background (it may be starting too), and the
   * drones' watchdogs remain the fallback.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!(await this.resume(true))) void this.resume(false);
  }

  /**
   * Asks the drone-scheduler for every flight in the air and starts each (one this process already
   * flies is left alone). With `once`, a single try; else tries until it is answered or
   * REPORT_RETRY_MS passed. Returns false when it should be asked again later (no answer, or a
   * 5xx), true once done: the list read, or an answer that asking again would not change (any
   * other status, too long, not a list). The answer is checked like any input: an item that is not a
   * flight is skipped and counted in the log.
   */
  async resume(once: boolean): Promise<boolean> {
    const url = `${this.config.DRONE_SCHEDULER_URL}/api/flights`;
    const deadline = Date.now() + this.config.REPORT_RETRY_MS;
    for (let tries = 0; !this.stopped; tries += 1) {
      let delay: number;
      try {
        const answer = await this.client.get(url, { authorization: `Bearer ${this.config.SERVICE_API_KEYS[0] ?? ''}` }, 10_000, MAX_FLIGHTS_ANSWER_BYTES);
        if (answer.status === 200 && !answer.tooLong) {
          const list = flightsAnswer.safeParse(parseJson(answer.body));
          if (!list.success) {
            this.logger.warn(`not resuming flights: ${url} answered a list that is not one`);
            return true;
          }
          let started = 0;
          let invalid = 0;
          for (const item of list.data.flights) {
            const flight = flightSchema.safeParse(item);
            if (!flight.success) invalid += 1;
            else if (this.start(flight.data) === 'started') started += 1;
          }
          this.resumed += started;
          if (started > 0 || invalid > 0) this.logger.log(`resumed ${started} of ${list.data.flights.length} flights in the air${invalid > 0 ? `; ${invalid} not valid flights skipped` : ''}`);
          return true;
        }
        if (answer.status < 500 || answer.tooLong) {
          // Not a drone-scheduler that lists flights, not to this key, or not a list: asking again will not help.
          this.logger.warn(`not resuming flights: ${url} answered ${answer.status}${answer.tooLong ? ' (too long)' : ''}`);
          return true;
        }
        // A 5xx: the drone-scheduler is overloaded or failing. Each ask is a read of every drone in
        // the air, so it is asked again seconds apart, not at a refused connection's pace.
        delay = busyDelay(tries);
      } catch {
        // the drone-scheduler is down or starting: try again
        delay = downDelay(tries);
      }
      if (once || Date.now() > deadline) return false;
      await this.wait(delay);
    }
    return false;
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
    // Unconfirmed, the flight ends here: the drone stays on its way back, and its watchdog asks for
    // the flight again from that leg, which confirms first. Flown home instead, the drone would be
    // Idle with nothing left to confirm the delivery, and the delivery and its workflow would wait for ever.
    if (flight.from === 'Returning' && !(await this.report(confirmUrl, confirmation, true))) return;
    for (const leg of LEGS.slice(LEGS.indexOf(flight.from))) {
      this.active.set(key, leg);
      await this.wait(this.config.LEG_MS_MIN + Math.random() * Math.max(0, this.config.LEG_MS_MAX - this.config.LEG_MS_MIN));
      const status = leg === 'EnRouteToPickup' ? 'PickedUp' : leg === 'EnRouteToDropoff' ? 'Delivered' : 'Returned';
      if (!(await this.report(`${this.config.DRONE_SCHEDULER_URL}/api/drones/${flight.droneId}/status`, { deliveryId: flight.deliveryId, status }, false))) return;
      if (status === 'Delivered' && !(await this.report(confirmUrl, confirmation, true))) return;
    }
    this.flown += 1;
  }

  /**
   * Posts a report until it is taken. A drone that says the flight is not its own (409) ends the
   * flight; a delivery that is not yet ready for its confirmation (409), or not yet made (404), is
   * asked again, at most for REPORT_RETRY_MS. An answer
   * that asking again will not change (a refused key, an unknown drone or delivery, a refused body)
   * ends the flight at once, rather than asking several times a second for REPORT_RETRY_MS; a busy
   * service (429, 5xx) is asked again after its `Retry-After`, when it sends one.
   */
  private async report(url: string, body: object, confirmation: boolean): Promise<boolean> {
    const deadline = Date.now() + this.config.REPORT_RETRY_MS;
    // Two reasons to ask again, each with its own backoff: a service that does not answer (down or
    // restarting) and a delivery not ready for its confirmation yet. Counted apart, so that the
    // seconds a restart took do not make every later not-ready wait the longest one.
    let down = 0;
    let notReady = 0;
    while (!this.stopped) {
      let delay: number;
      try {
        // The simulator reads nothing of an accepted report: a confirmation need not read the delivery back.
        const response = await this.client.post(url, body, { authorization: `Bearer ${this.config.SERVICE_API_KEYS[0] ?? ''}`, prefer: 'return=minimal' }, 10_000);
        if (response.status >= 200 && response.status < 300) return true;
        if ((response.status === 409 || response.status === 404) && confirmation) {
          // Already confirmed, or cancelled: nothing left to report. Otherwise not ready yet: retry.
          // A delivery not found is not ready either: the workflow asks for it in the step that
          // dispatches the drone, and a busy or restarting delivery service may not have made it yet.
          const current = (parseJson(response.body) as { currentState?: unknown } | undefined)?.currentState;
          if (current === 'Completed' || current === 'Cancelled') return true;
          delay = notReadyDelay(notReady);
          notReady += 1;
        } else if (response.status === 409) {
          this.logger.log(`abandoning flight: ${url} answered 409 ${response.body}`);
          this.abandoned += 1;
          return false;
        } else if (FINAL_ANSWERS.has(response.status)) {
          this.logger.warn(`abandoning flight: ${url} answered ${response.status} ${response.body.slice(0, 200)}`);
          this.abandoned += 1;
          return false;
        } else {
          delay = retryAfterMs(response.retryAfter) ?? downDelay(down);
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

/** Answers to a report that asking again would not change: the flight is abandoned. */
const FINAL_ANSWERS: ReadonlySet<number> = new Set([400, 401, 403, 404, 405, 410, 413, 415, 422]);

/** A `Retry-After` of whole seconds, capped at 10 s; undefined when absent or not seconds. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Math.min(10_000, Number(header.trim()) * 1_000);
}

/**
 * A service that does not answer is asked every quarter second at most: a refused connection costs
 * next to nothing, and the drone waits on it.
 */
const downDelay = (tries: number): number => Math.min(250, 25 * 2 ** Math.min(tries, 4));

/** A drone-scheduler that answers 5xx to the list of flights is asked at 1 s, doubling to 10 s. */
const busyDelay = (tries: number): number => Math.min(10_000, 1_000 * 2 ** Math.min(tries, 4));

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
