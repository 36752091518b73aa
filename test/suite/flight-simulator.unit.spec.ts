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
  /** What the confirmation route answers, request by request (then 201); with a Retry-After as `[status, seconds]`. */
  let script: (number | [number, string])[] = [];
  /** Status reports by drone, in order. */
  const reports: string[] = [];
  const confirmations: number[] = [];
  /** What GET /api/flights answers, request by request (then an empty list). */
  let flightLists: { status: number; body: unknown }[] = [];
  const flightListAuth: (string | undefined)[] = [];
  const statusUrls: string[] = [];

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method === 'GET' && request.url === '/api/flights') {
          const next = flightLists.shift() ?? { status: 200, body: { flights: [] } };
          flightListAuth.push(request.headers.authorization);
          response.writeHead(next.status, { 'content-type': 'application/json' });
          response.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body));
          return;
        }
        if (request.method === 'POST' && request.url?.endsWith('/status') === true) {
          statusUrls.push(request.url);
          reports.push(`${request.url.split('/')[3] ?? ''} ${(JSON.parse(Buffer.concat(chunks).toString()) as { status: string }).status}`);
        }
        if (request.url?.endsWith('/confirmations') === true) {
          const next = script.shift() ?? 201;
          const [status, retryAfter] = typeof next === 'number' ? [next, undefined] : next;
          confirmations.push(status);
          response.writeHead(status, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
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
    // Six answers of a restarting service, then a delivery not made yet (the workflow asks for it as
    // it dispatches the drone), then two of a delivery that has not heard of the pickup.
    script = [503, 503, 503, 503, 503, 503, 404, 409, 409];
    assert.equal(sim.start({ droneId: 'd1', deliveryId: 'x1', pickupLocation: 'a', dropOffLocation: 'b', confirmationRequired: 'None', from: 'EnRouteToDropoff' }), 'started');
    const deadline = Date.now() + 30_000;
    while (sim.flown === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    sim.onApplicationShutdown();
    assert.equal(sim.flown, 1, 'the flight ended');
    assert.deepEqual(confirmations, [503, 503, 503, 503, 503, 503, 404, 409, 409, 201]);
    assert.deepEqual(sim.waits, [25, 50, 100, 200, 250, 250, 100, 200, 400], 'down: 25 ms doubling to 250; not ready: from 100 ms again');
  });

  it('ends a flight unconfirmed, before flying home, when the delivery refuses its confirmation for good', async () => {
    const config = { DRONE_SCHEDULER_URL: base, DELIVERY_URL: base, LEG_MS_MIN: 0, LEG_MS_MAX: 0, REPORT_RETRY_MS: 60_000, MAX_FLIGHTS: 10, SERVICE_API_KEYS: ['k'] } as unknown as DroneSimConfig;
    const flight = { pickupLocation: 'a', dropOffLocation: 'b', confirmationRequired: 'None', from: 'EnRouteToPickup' } as const;
    for (const [refusal, droneId, from] of [[422, 'r1', 'EnRouteToPickup'], [401, 'r2', 'EnRouteToDropoff'], [403, 'r3', 'Returning']] as const) {
      const sim = new CountingSimulator(config);
      script = [refusal];
      confirmations.length = 0;
      reports.length = 0;
      assert.equal(sim.start({ ...flight, droneId, deliveryId: `x-${droneId}`, from }), 'started');
      const deadline = Date.now() + 30_000;
      while (sim.abandoned === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      while (sim.flights().length > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      sim.onApplicationShutdown();
      assert.deepEqual(confirmations, [refusal], 'asked once: asking again would not change the answer');
      assert.equal(sim.abandoned, 1);
      assert.equal(sim.flown, 0);
      // The drone is not reported home: it stays on its way back, and its watchdog asks for the
      // flight again from there, which confirms first.
      const expected = { EnRouteToPickup: ['PickedUp', 'Delivered'], EnRouteToDropoff: ['Delivered'], Returning: [] }[from].map((status) => `${droneId} ${status}`);
      assert.deepEqual(reports, expected, String(refusal));
      assert.deepEqual(sim.waits, [], 'no retry waits');
    }
  });

  it("waits a busy delivery service's Retry-After before confirming again", async () => {
    const config = { DRONE_SCHEDULER_URL: base, DELIVERY_URL: base, LEG_MS_MIN: 0, LEG_MS_MAX: 0, REPORT_RETRY_MS: 60_000, MAX_FLIGHTS: 10, SERVICE_API_KEYS: ['k'] } as unknown as DroneSimConfig;
    const sim = new CountingSimulator(config);
    script = [[503, '2'], [429, '1'], [503, 'Wed, 21 Oct 2099 07:28:00 GMT'], [503, '99999']];
    confirmations.length = 0;
    assert.equal(sim.start({ droneId: 'b1', deliveryId: 'xb1', pickupLocation: 'a', dropOffLocation: 'b', confirmationRequired: 'None', from: 'EnRouteToDropoff' }), 'started');
    const deadline = Date.now() + 30_000;
    while (sim.flown === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    sim.onApplicationShutdown();
    assert.equal(sim.flown, 1);
    assert.deepEqual(confirmations, [503, 429, 503, 503, 201]);
    assert.deepEqual(sim.waits, [2_000, 1_000, 100, 10_000], 'seconds as asked; a date is not followed (the quarter-second backoff instead), and at most 10 s');
  });

  it('resumes the flights the drone-scheduler lists, once each, and skips what is not a flight', async () => {
    const config = { DRONE_SCHEDULER_URL: base, DELIVERY_URL: base, LEG_MS_MIN: 0, LEG_MS_MAX: 0, REPORT_RETRY_MS: 60_000, MAX_FLIGHTS: 10, SERVICE_API_KEYS: ['k'] } as unknown as DroneSimConfig;
    const sim = new CountingSimulator(config);
    const flying = { droneId: 'd2', deliveryId: 'x2', pickupLocation: 'a', dropOffLocation: 'b', confirmationRequired: 'None', from: 'EnRouteToDropoff' };
    // A drone-scheduler that is starting (refusing twice), then one that lists two flights, one of
    // them twice, and things that are not flights.
    flightLists = [
      { status: 503, body: {} },
      { status: 503, body: {} },
      { status: 200, body: { flights: [flying, { ...flying, droneId: 'd3', deliveryId: 'x3', from: 'Returning' }, flying, { droneId: 'd4' }, 'x', { ...flying, droneId: 'd5', deliveryId: 'x5', extra: 1 }] } },
    ];
    statusUrls.length = 0;
    assert.equal(await sim.resume(true), false, 'a single try against a starting service fails');
    assert.equal(await sim.resume(false), true);
    assert.deepEqual(sim.waits, [1_000], 'a 5xx is asked again a second later, not at a refused connection\'s pace');
    assert.equal(sim.resumed, 2, 'two flights resumed: the repeat and the three invalid items are not');
    assert.deepEqual(flightListAuth.slice(-3), ['Bearer k', 'Bearer k', 'Bearer k'], 'asked with the service key');
    const deadline = Date.now() + 30_000;
    while (sim.flown < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sim.flown, 2);
    // Each resumed flight flew on from its drone's leg: d2 from drop-off (Delivered, Returned), d3 only back.
    assert.deepEqual(statusUrls.sort(), ['/api/drones/d2/status', '/api/drones/d2/status', '/api/drones/d3/status']);

    // Answers that are not a list, or not for this key, end the resume without flights.
    for (const answer of [{ status: 200, body: '{"flights":"all of them"}' }, { status: 200, body: 'not json' }, { status: 400, body: {} }, { status: 403, body: {} }, { status: 404, body: {} }]) {
      flightLists = [answer];
      assert.equal(await sim.resume(false), true, JSON.stringify(answer));
    }
    assert.equal(sim.resumed, 2);
    sim.onApplicationShutdown();
  });
});
