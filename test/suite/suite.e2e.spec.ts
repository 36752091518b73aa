import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkInvariants, formatResults, readSnapshot, waitUntilQuiet, type SagaView } from '#verifier';
import { retryAfterSeconds } from '../../load-tests/k6/lib/retry-after.js';
import { deliveryRequests } from '../support/delivery-requests.js';
import { http, SuiteProcesses } from '../support/suite-processes.js';

const FLEET = 6;
const deliveryRequest = deliveryRequests('e2e', 10 * 60_000);

describe('the suite end to end, six processes, driven over HTTP', { concurrency: false }, () => {
  const suite = new SuiteProcesses({
    'drone-scheduler': { FLEET_SIZE: String(FLEET) },
    'drone-sim': { LEG_MS_MIN: '0', LEG_MS_MAX: '100' },
  });
  const accepted = new Set<string>();
  const webhookCalls: { key: string | undefined; body: string }[] = [];
  let webhook: Server;

  const customer = suite.auth('customer');
  const service = suite.auth('service');
  const operator = suite.auth('operator');
  const saga = async (id: string) => (await http('GET', `${suite.url('workflow')}/api/workflows/${id}`, undefined, operator)).body as SagaView & { statusCode?: number };
  const waitSaga = async (id: string, states: string[], timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await saga(id);
      if (states.includes(s.state)) return s;
      if (Date.now() > deadline) throw new Error(`saga ${id} is ${s.state ?? JSON.stringify(s)}, waited for ${states.join('|')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const submit = async (body: object, headers: Record<string, string> = {}) => {
    const answer = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, body, { ...customer, ...headers });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    const id = (answer.body as { deliveryId: string }).deliveryId;
    accepted.add(id);
    return { id, answer };
  };

  // A client that honours admission control: a 429 must carry Retry-After, and the request is sent
  // again after it (a loaded CI machine may fall behind during a burst). Bounded: at most 60 tries.
  let refusedForLoad = 0;
  const submitPolitely = async (body: object) => {
    for (let attempt = 1; ; attempt += 1) {
      const answer = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, body, customer);
      if (answer.status === 429 && attempt < 60) {
        const header = answer.headers.get('retry-after');
        assert.ok(header !== null, '429 without Retry-After');
        refusedForLoad += 1;
        await new Promise((resolve) => setTimeout(resolve, retryAfterSeconds(header, Date.now()) * 1_000));
        continue;
      }
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      accepted.add((answer.body as { deliveryId: string }).deliveryId);
      return;
    }
  };

  before(async () => {
    webhook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        webhookCalls.push({ key: request.headers['idempotency-key'] as string | undefined, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    await suite.startAll();
  });

  after(async () => {
    await suite.stopAll();
    await new Promise((resolve) => webhook.close(resolve));
  });

  it('takes a delivery to Completed and calls the webhook once', async () => {
    const { id, answer } = await submit(deliveryRequest());
    assert.equal(answer.headers.get('location'), `/api/deliveryrequests/${id}`);
    const port = (webhook.address() as AddressInfo).port;
    // The delivery exists once the drone is assigned; register the webhook then.
    await waitSaga(id, ['DeliveryPending', 'Scheduled', 'Airborne', 'Completed']);
    for (let i = 0; (await http('POST', `${suite.url('delivery')}/api/deliveries/${id}/notifymerequests`, { url: `http://127.0.0.1:${port}/hook` }, customer)).status !== 201; i += 1) {
      assert.ok(i < 100, 'the delivery appears');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const done = await waitSaga(id, ['Completed']);
    assert.ok(done.droneId);
    const delivery = (await http('GET', `${suite.url('delivery')}/api/deliveries/${id}`, undefined, customer)).body as { stage: string; stages: { stage: string }[] };
    assert.deepEqual(delivery.stages.map((s) => s.stage), ['Created', 'HeadedToPickup', 'HeadedToDropoff', 'Completed']);
    const deadline = Date.now() + 10_000;
    while (webhookCalls.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(webhookCalls.length, 1);
    assert.match(webhookCalls[0]?.key ?? '', /^Delivery\/.+:notify#1$/);
    assert.deepEqual(JSON.parse(webhookCalls[0]?.body ?? '{}'), { deliveryId: id, stage: 'Completed' });
    const month = new Date().toISOString().slice(0, 7).split('-');
    const utilization = (await http('GET', `${suite.url('drone-scheduler')}/api/dronedeliveries/utilization?ownerId=o1&year=${month[0]}&month=${Number(month[1])}`, undefined, customer)).body as { deliveries: number };
    assert.ok(utilization.deliveries >= 1);
  });

  it('answers bad input with 400 and field errors, and changes nothing', async () => {
    const before = ((await http('GET', `${suite.url('ingestion')}/api/deliveryrequests?limit=1000`, undefined, operator)).body as unknown[]).length;
    const bad = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, { ...deliveryRequest(), expedited: 'yes', packageInfo: { packageId: 'x', size: 'Huge', weight: -1, tag: '' } }, customer);
    assert.equal(bad.status, 400);
    const fields = (bad.body as { fields: { path: string }[] }).fields.map((f) => f.path).sort();
    assert.deepEqual(fields, ['expedited', 'packageInfo.size', 'packageInfo.weight']);
    // An owner id that would be a prototype key is no id (it once polluted the Fleet's process).
    const proto = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest({ ownerId: '__proto__' }), customer);
    assert.equal(proto.status, 400);
    assert.deepEqual((proto.body as { fields: { path: string }[] }).fields.map((f) => f.path), ['ownerId']);
    // Limits agree with the machines downstream: a package no drone can lift is refused at intake.
    const heavy = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest({}, { weight: 500 }), customer);
    assert.equal(heavy.status, 400);
    assert.deepEqual((heavy.body as { fields: { path: string }[] }).fields.map((f) => f.path), ['packageInfo.weight']);
    const late = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest({ deadline: new Date(Date.now() - 60_000).toISOString() }), customer);
    assert.equal(late.status, 400);
    assert.deepEqual([...new Set((late.body as { fields: { path: string }[] }).fields.map((f) => f.path))], ['deadline']);
    const after = ((await http('GET', `${suite.url('ingestion')}/api/deliveryrequests?limit=1000`, undefined, operator)).body as unknown[]).length;
    assert.equal(after, before);
    assert.equal((await http('PUT', `${suite.url('package')}/api/packages/p-bad`, { size: 'Small' }, customer)).status, 400);
    assert.equal((await http('GET', `${suite.url('package')}/api/packages/p-bad`, undefined, customer)).status, 404);
  });

  it('returns the same answer for repeated requests and creates nothing new', async () => {
    const body = { ...deliveryRequest(), deliveryId: `dup-${suite.runId}` };
    const answers = await Promise.all(Array.from({ length: 5 }, () => http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, body, customer)));
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202, 202, 202]);
    assert.equal(new Set(answers.map((a) => a.headers.get('location'))).size, 1);
    assert.equal(answers.filter((a) => (a.body as { created: boolean }).created).length, 1);
    accepted.add(body.deliveryId);
    const keyed = deliveryRequest();
    const withKey = await Promise.all(Array.from({ length: 3 }, () => http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, keyed, { ...customer, 'idempotency-key': `key-${suite.runId}` })));
    assert.equal(new Set(withKey.map((a) => (a.body as { deliveryId: string }).deliveryId)).size, 1);
    accepted.add((withKey[0]?.body as { deliveryId: string }).deliveryId);
    // The same id or key with another body is a conflict, not the same request.
    const reused = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, { ...body, dropOffLocation: 'somewhere else' }, customer);
    assert.equal(reused.status, 422, JSON.stringify(reused.body));
    const rekeyed = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest(), { ...customer, 'idempotency-key': `key-${suite.runId}` });
    assert.equal(rekeyed.status, 422, JSON.stringify(rekeyed.body));
    // Another customer choosing the same key makes its own delivery: keys are per owner.
    const theirs = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, deliveryRequest({ ownerId: 'o2' }), { ...suite.auth('other'), 'idempotency-key': `key-${suite.runId}` });
    assert.equal(theirs.status, 202, JSON.stringify(theirs.body));
    assert.equal((theirs.body as { created: boolean }).created, true);
    assert.notEqual((theirs.body as { deliveryId: string }).deliveryId, (withKey[0]?.body as { deliveryId: string }).deliveryId);
    accepted.add((theirs.body as { deliveryId: string }).deliveryId);
    // A request stored under the id its key had before ids were per owner is found by its repeat.
    const oldKey = `old-${suite.runId}`;
    const legacy = { ...deliveryRequest(), deliveryId: `k-${createHash('sha256').update(oldKey).digest('hex').slice(0, 32)}` };
    assert.equal((await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, legacy, customer)).status, 202);
    accepted.add(legacy.deliveryId);
    const { deliveryId: _id, ...withoutId } = legacy;
    const repeat = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, withoutId, { ...customer, 'idempotency-key': oldKey });
    assert.equal(repeat.status, 202, JSON.stringify(repeat.body));
    assert.deepEqual(repeat.body, { deliveryId: legacy.deliveryId, created: false });
    await waitSaga(body.deliveryId, ['Completed']);
  });

  it('fails a delivery whose package is rejected (another owner\'s), undoing nothing that was not done', async () => {
    const packageId = `theirs-${suite.runId}`;
    assert.equal((await http('PUT', `${suite.url('package')}/api/packages/${packageId}`, { size: 'Small', weight: 1, tag: 'o2' }, suite.auth('other'))).status, 201);
    assert.equal((await http('GET', `${suite.url('package')}/api/packages/${packageId}`, undefined, customer)).status, 404, 'another customer\'s package is not seen');
    const { id } = await submit(deliveryRequest({}, { packageId }));
    const failed = await waitSaga(id, ['Failed']);
    assert.match(failed.reason ?? '', /package rejected: belongs to another owner/);
    assert.equal((await http('GET', `${suite.url('delivery')}/api/deliveries/${id}`, undefined, operator)).status, 404);
  });

  it('fails at the deadline when no drone is free, and cancels while waiting, leaving nothing reserved', async () => {
    const holds = Array.from({ length: FLEET }, (_, i) => `hold-${i}`);
    // Book every drone over REST (no saga), waiting until drones come back from earlier flights.
    for (const hold of holds) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const answer = await http('PUT', `${suite.url('drone-scheduler')}/api/dronedeliveries/${hold}`, { ownerId: 'holder' }, service);
        if (answer.status === 200) break;
        assert.equal(answer.status, 202);
        assert.ok(Date.now() < deadline, 'a drone frees up for the hold');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const again = await http('PUT', `${suite.url('drone-scheduler')}/api/dronedeliveries/hold-0`, { ownerId: 'holder' }, service);
    assert.equal(again.status, 200, 'idempotent: the same drone on retry');
    const late = await submit(deliveryRequest({ deadline: new Date(Date.now() + 2_000).toISOString() }));
    const waiting = await submit(deliveryRequest());
    await waitSaga(waiting.id, ['DronePending']);
    assert.equal((await http('DELETE', `${suite.url('ingestion')}/api/deliveryrequests/${waiting.id}`, undefined, customer)).status, 202);
    assert.equal((await waitSaga(waiting.id, ['Cancelled'])).state, 'Cancelled');
    const failed = await waitSaga(late.id, ['Failed'], 15_000);
    assert.match(failed.reason ?? '', /deadline passed/);
    const fleet = (await http('GET', `${suite.url('drone-scheduler')}/api/fleet`, undefined, operator)).body as { assignments: Record<string, string>; waiting: string[] };
    assert.deepEqual(fleet.waiting, []);
    assert.deepEqual(Object.keys(fleet.assignments).sort(), [...holds].sort());
    for (const hold of holds) assert.equal((await http('DELETE', `${suite.url('drone-scheduler')}/api/dronedeliveries/${hold}`, undefined, service)).status, 200);
  });

  it('cancels a scheduled delivery before pickup, and refuses a cancel after pickup (the test flies the drone)', async () => {
    await suite.kill('drone-sim');
    try {
      const early = await submit(deliveryRequest());
      await waitSaga(early.id, ['Scheduled']);
      assert.equal((await http('DELETE', `${suite.url('ingestion')}/api/deliveryrequests/${early.id}`, undefined, customer)).status, 202);
      const cancelled = await waitSaga(early.id, ['Cancelled']);
      const drone = (await http('GET', `${suite.url('drone-scheduler')}/api/drones/${cancelled.droneId}`, undefined, operator)).body as { state: string };
      assert.equal(drone.state, 'Idle');
      assert.equal(((await http('GET', `${suite.url('delivery')}/api/deliveries/${early.id}`, undefined, customer)).body as { stage: string }).stage, 'Cancelled');

      const picked = await submit(deliveryRequest({ confirmationRequired: 'FingerPrint' }));
      const scheduled = await waitSaga(picked.id, ['Scheduled']);
      const droneUrl = `${suite.url('drone-scheduler')}/api/drones/${scheduled.droneId}/status`;
      assert.equal((await http('POST', droneUrl, { deliveryId: picked.id, status: 'PickedUp' }, customer)).status, 403, 'only a device reports a drone status');
      assert.equal((await http('POST', droneUrl, { deliveryId: 'not-mine', status: 'PickedUp' }, service)).status, 409);
      assert.equal((await http('POST', droneUrl, { deliveryId: picked.id, status: 'PickedUp' }, service)).status, 200);
      await waitSaga(picked.id, ['Airborne']);
      // The package is in the air: its drone cannot be released, over REST or by a cancel.
      const release = await http('DELETE', `${suite.url('drone-scheduler')}/api/dronedeliveries/${picked.id}`, undefined, service);
      assert.equal(release.status, 409, JSON.stringify(release.body));
      assert.equal(((await http('GET', `${suite.url('drone-scheduler')}/api/drones/${scheduled.droneId}`, undefined, operator)).body as { state: string }).state, 'EnRouteToDropoff');
      assert.equal((await http('DELETE', `${suite.url('ingestion')}/api/deliveryrequests/${picked.id}`, undefined, customer)).status, 202);
      assert.equal((await http('DELETE', `${suite.url('ingestion')}/api/deliveryrequests/${picked.id}`, undefined, suite.auth('other'))).status, 404, 'another customer cannot cancel it');
      const deliveryUrl = `${suite.url('delivery')}/api/deliveries/${picked.id}`;
      for (let i = 0; ((await http('GET', deliveryUrl, undefined, customer)).body as { stage: string }).stage !== 'HeadedToDropoff'; i += 1) {
        assert.ok(i < 200, 'the delivery heads to drop-off');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const refused = await http('DELETE', deliveryUrl, undefined, customer);
      assert.equal(refused.status, 409);
      assert.equal((refused.body as { currentState: string }).currentState, 'HeadedToDropoff');
      assert.equal((await http('PATCH', deliveryUrl, { dropOffLocation: 'elsewhere' }, customer)).status, 409);
      const history = await waitSaga(picked.id, ['Airborne']);
      for (let i = 0; !(await saga(picked.id)).history.some((h) => h.note?.startsWith('refused') === true); i += 1) {
        assert.ok(i < 200, `the refusal is recorded: ${JSON.stringify(history.history)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal((await http('POST', droneUrl, { deliveryId: picked.id, status: 'Delivered' }, service)).status, 200);
      assert.equal((await http('POST', `${deliveryUrl}/confirmations`, { confirmationType: 'None' }, customer)).status, 403, 'only a device confirms');
      assert.equal((await http('POST', `${deliveryUrl}/confirmations`, { confirmationType: 'None' }, service)).status, 422, 'a FingerPrint delivery needs a fingerprint');
      // As the simulator asks: no representation, so the delivery is not read back.
      const confirmed = await http('POST', `${deliveryUrl}/confirmations`, { confirmationType: 'FingerPrint', confirmationBlob: 'print' }, { ...service, prefer: 'return=minimal' });
      assert.equal(confirmed.status, 201, JSON.stringify(confirmed.body));
      assert.deepEqual(confirmed.body, { id: picked.id, stage: 'Completed' });
      assert.equal(confirmed.headers.get('preference-applied'), 'return=minimal');
      const again = await http('POST', `${deliveryUrl}/confirmations`, { confirmationType: 'FingerPrint', confirmationBlob: 'print' }, service);
      assert.equal(again.status, 409, 'confirmed once');
      assert.equal((again.body as { currentState: string }).currentState, 'Completed');
      assert.equal((await http('POST', droneUrl, { deliveryId: picked.id, status: 'Returned' }, service)).status, 200);
      await waitSaga(picked.id, ['Completed']);
    } finally {
      await suite.start('drone-sim');
    }
  });

  it('a restarted simulator flies on the flights the drone-scheduler lists as in the air', async () => {
    await suite.kill('drone-sim');
    let id = '';
    try {
      ({ id } = await submit(deliveryRequest()));
      // The drone is dispatched while no simulator runs: its fly call fails and is retried.
      const flightsUrl = `${suite.url('drone-scheduler')}/api/flights`;
      let listed: { deliveryId: string; from: string; droneId: string } | undefined;
      for (let i = 0; listed === undefined; i += 1) {
        assert.ok(i < 800, 'the drone-scheduler lists the flight');
        const answer = await http('GET', flightsUrl, undefined, service);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        listed = (answer.body as { flights: { deliveryId: string; from: string; droneId: string }[] }).flights.find((f) => f.deliveryId === id);
        if (listed === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(listed.from, 'EnRouteToPickup');
      assert.equal((await http('GET', flightsUrl, undefined, customer)).status, 403, 'a customer does not see the flights');
    } finally {
      await suite.start('drone-sim');
    }
    // The new simulator read the list before it took requests: it flew the flight, and the fly
    // call retried behind it found it already flying.
    const sim = (await http('GET', `${suite.url('drone-sim')}/api/flights`, undefined, operator)).body as { resumed: number };
    assert.ok(sim.resumed >= 1, JSON.stringify(sim));
    await waitSaga(id, ['Completed'], 60_000);
  });

  it('completes a burst of 500 deliveries on fewer drones, and the verifier passes', async () => {
    const bodies = Array.from({ length: 500 }, () => deliveryRequest());
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++] as object;
          await submitPolitely(body);
        }
      }),
    );
    if (refusedForLoad > 0) console.log(`# ${refusedForLoad} submissions refused with 429 and sent again after Retry-After`);
    const { snapshot, quiet } = await waitUntilQuiet(suite.urls, 180_000, { operatorKey: suite.keys.operatorKey });
    assert.ok(quiet, `quiet: ${snapshot.sagas.filter((s) => !['Completed', 'Failed', 'Cancelled'].includes(s.state)).length} sagas still live`);
    const results = checkInvariants(snapshot, { accepted });
    console.log(formatResults(results).split('\n').map((l) => `# ${l}`).join('\n'));
    assert.deepEqual(results.filter((r) => !r.ok), []);
    const completed = (await readSnapshot(suite.urls, suite.keys.operatorKey)).sagas.filter((s) => s.state === 'Completed').length;
    assert.ok(completed >= 500, `${completed} completed`);
    // The command-line verifier gives the same verdict.
    const cli = join(import.meta.dirname, '..', '..', 'libs', 'verifier', 'src', 'cli.js');
    const u = suite.urls;
    const { stdout } = await promisify(execFile)(process.execPath, [cli, '--ingestion', u.ingestion, '--workflow', u.workflow, '--package', u.package, '--drone-scheduler', u['drone-scheduler'], '--delivery', u.delivery, '--operator-key', suite.keys.operatorKey]);
    assert.match(stdout, /^PASS 1\. conservation/m);
    assert.match(stdout, /^7 passed, 0 failed$/m);
  });

  it('stops every app gracefully on SIGTERM', async () => {
    const ended = await suite.stopAll();
    assert.deepEqual(Object.keys(ended).sort(), ['delivery', 'drone-scheduler', 'drone-sim', 'ingestion', 'package', 'workflow']);
    for (const [service, { ended: how, output }] of Object.entries(ended)) {
      // Nest runs its shutdown hooks, then ends by the same signal.
      assert.ok(how === 'exit 0' || how === 'signal SIGTERM', `${service} ended by ${how}`);
      if (service !== 'drone-sim') assert.match(output, /rsm runtime stopped/, `${service} stopped its runtime before exiting`);
    }
  });
});
