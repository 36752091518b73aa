import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DroneSimConfig } from '../../apps/drone-sim/src/config.js';
import { FlightSimulator } from '../../apps/drone-sim/src/flights/flight-simulator.js';

/** A simulator that records every wait it asks for and goes on at once. */
class CountingSimulator extends FlightSimulator {
  readonly waits: number[] = [];
  protected override wait(ms: number): Promise<void> {
    if (ms > 0) this.waits.push(ms);
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The simulator's retries against a delivery service that restarts and then is not ready for the
 * confirmation: the seconds it was down must not make every later not-ready wait the longest one.
 */
describe('drone-sim FlightSimulator retries', () => {
  let server: Server;
  let base: string;
  /** What the confirmation route answers, request by request (then 201). */
  let script: number[] = [];
  const confirmations: number[] = [];

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.url?.endsWith('/confirmations') === true) {
          const status = script.shift() ?? 201;
          confirmations.push(status);
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(status === 409 ? { statusCode: 409, currentState: 'Scheduled' } : { ok: true }));
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('backs off from a service that is down and from a delivery that is not ready apart', async () => {
    const config = { DRONE_SCHEDULER_URL: base, DELIVERY_URL: base, LEG_MS_MIN: 0, LEG_MS_MAX: 0, REPORT_RETRY_MS: 60_000, MAX_FLIGHTS: 10, SERVICE_API_KEYS: ['k'] } as unknown as DroneSimConfig;
    const sim = new CountingSimulator(config);
    // Six answers of a restarting service, then three of a delivery that has not heard of the pickup.
    script = [503, 503, 503, 503, 503, 503, 409, 409, 409];
    assert.equal(sim.start({ droneId: 'd1', deliveryId: 'x1', pickupLocation: 'a', dropOffLocation: 'b', confirmationRequired: 'None', from: 'EnRouteToDropoff' }), 'started');
    const deadline = Date.now() + 30_000;
    while (sim.flown === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    sim.onApplicationShutdown();
    assert.equal(sim.flown, 1, 'the flight ended');
    assert.deepEqual(confirmations, [503, 503, 503, 503, 503, 503, 409, 409, 409, 201]);
    assert.deepEqual(sim.waits, [25, 50, 100, 200, 250, 250, 100, 200, 400], 'down: 25 ms doubling to 250; not ready: from 100 ms again');
  });
});
