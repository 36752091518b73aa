import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { defineMachine, RsmRuntime, type RsmLogger } from '#rsm';
import { tokenFingerprint } from '#rsm/nest';
import { droneRef, EVENT_CONTRACTS, MACHINE_ROUTES, SERVICES, type ServiceName } from '#contracts';
import { suiteTestConfig } from '../support/config.js';
import { http, SuiteProcesses } from '../support/suite-processes.js';
import { launchChromium } from '../../libs/rsm/test/support/chromium.js';

const SCREENSHOTS = join(import.meta.dirname, '..', '..', '..', 'docs', 'console');
/** The services that run machines, each serving a console (drone-sim runs none). */
const CONSOLES = SERVICES.filter((s): s is Exclude<ServiceName, 'drone-sim'> => s !== 'drone-sim');
/** Generous: on two loaded cores an app takes 10-60 s to start. */
const READY_MS = 120_000;

const quiet: RsmLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/**
 * The dead letter this test provokes, and why this way: no handler of the suite throws, and every
 * REST route asks its machine with `request` (a refusal is answered, never dead-lettered), so a
 * dead letter can only come from another service's event. The honest one here is an event that
 * reaches a machine before the machine exists: a maintenance service (this peer runtime, on the
 * suite's Redis prefix with its signing key, as a real service would be) grounds drone-2, which the
 * running drone-scheduler has not commissioned yet (FLEET_SIZE=1). The real drone-scheduler
 * dead-letters it as "no machine Drone/drone-2". The operator grows the fleet (drone-scheduler
 * restarted with FLEET_SIZE=2, as a configuration rollout would), then redrives the letter from the
 * console: the new drone takes the Fault and moves Idle -> Offline.
 */
const Hangar = defineMachine<Record<string, never>, { type: 'Ground'; droneId: string }>()({
  type: 'Hangar',
  initial: 'Open',
  initialData: () => ({}),
  states: { Open: { on: { Ground: (_data, event, ctx) => ctx.send(droneRef(event.droneId), { type: 'Fault' }) } } },
});

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the operator console against the running suite, in a real Chromium', { concurrency: false, timeout: 600_000 }, () => {
  // Every console links to the others, with the URLs a browser on this machine reaches.
  const suite = new SuiteProcesses(
    (s) => {
      const consoles = CONSOLES.map((service) => `${service}=${s.url(service)}`).join(',');
      return { ...Object.fromEntries(CONSOLES.map((service) => [service, { RSM_CONSOLE_SERVICES: consoles }])), 'drone-scheduler': { RSM_CONSOLE_SERVICES: consoles, FLEET_SIZE: '1' } };
    },
    { readyTimeoutMs: READY_MS },
  );
  const deliveryId = `console-${suite.runId}`;
  const packageId = `pkg-console-${suite.runId}`;
  const peerSchema = `e2e_${suite.runId}_hangar`;
  const operatorKey = suite.keys.operatorKey;
  let peer: RsmRuntime;
  let browser: Browser;
  let page: Page;
  /** What the page threw or logged as an error, besides the refusals and the restart this test causes. */
  const pageErrors: string[] = [];
  const started = Date.now();

  const consoleUrl = (service: ServiceName, hash = '') => `${suite.url(service)}/rsm/console/${hash}`;
  /** Signs in at the login box of the console the page shows (each console has its own: the key is kept per origin). */
  const signIn = async () => {
    await page.fill('input[name=token]', operatorKey);
    await page.fill('input[name=actor]', 'alice');
    await page.click('button[type=submit]');
    await page.getByRole('button', { name: 'Sign out (alice)' }).waitFor();
  };
  /** Opens another service's console by the overview's link to it. */
  const followService = async (service: ServiceName) => {
    await page.click('header a[href="#/"]');
    const link = page.getByTestId('services').getByRole('link', { name: service, exact: true });
    assert.equal(await link.getAttribute('href'), consoleUrl(service));
    await link.click();
    await page.waitForURL(`${suite.url(service)}/**`);
  };
  /**
   * Clicks, in the step history of the machine the page shows, the link of a step's send: it must
   * open the receiver in the console of the service that runs it.
   */
  const followSend = async (step: string, to: ServiceName, type: string, id: string) => {
    const link = page.getByTestId('steps').locator('tr', { hasText: step }).locator(`a[data-service="${to}"]`, { hasText: `${type}/${id}` }).first();
    assert.equal(await link.getAttribute('href'), consoleUrl(to, `#/machine/${type}/${encodeURIComponent(id)}`));
    await link.click();
    await page.waitForURL(`${suite.url(to)}/**`);
  };
  const machinePage = async (type: string, id: string) => {
    await page.getByTestId('machine-page').locator('h2', { hasText: `${type}/${id}` }).waitFor();
  };
  const state = async (name: string) => {
    await page.getByTestId('machine-state').filter({ hasText: new RegExp(`^${name}$`) }).waitFor({ timeout: 60_000 });
    await page.getByTestId('diagram').locator('g.current', { hasText: name }).waitFor();
  };
  /** A mark in the page's window: gone if the page reloads, so a change seen with it still there came live. */
  const markDocument = () => page.evaluate('window.__rsmSameDocument = true');
  const sameDocument = async () => assert.equal(await page.evaluate('window.__rsmSameDocument === true'), true, 'the page changed without a reload');

  const service = suite.auth('service');
  /** The test is the drone's radio: each leg happens when the test says, while a console page watches. */
  const reportDrone = async (droneId: string, status: 'PickedUp' | 'Delivered' | 'Returned') =>
    until(`drone ${droneId} to take ${status}`, async () => (await http('POST', `${suite.url('drone-scheduler')}/api/drones/${droneId}/status`, { deliveryId, status }, service)).status === 200);

  before(async () => {
    // The drone simulator is not started: the test flies the drone itself (see reportDrone), so no
    // leg completes before the console page that should see it live is open.
    await Promise.all(CONSOLES.map((s) => suite.start(s)));
    peer = new RsmRuntime(
      {
        service: 'hangar',
        postgres: { url: suiteTestConfig.DATABASE_URL, schema: peerSchema, poolSize: 2 },
        redis: { url: suiteTestConfig.REDIS_URL, prefix: `e2e-${suite.runId}`, signingKeys: [suite.keys.signingKey ?? ''] },
        routes: { ...MACHINE_ROUTES, Hangar: 'hangar' },
      },
      { machines: [Hangar], logger: quiet, contracts: EVENT_CONTRACTS },
    );
    await peer.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (message) => {
      // Expected: the refused keys (401, 403), and the drone-scheduler's restart (connection refused while it is down).
      if (message.type() === 'error' && !/status of 40[13]|ERR_CONNECTION_REFUSED/.test(message.text())) pageErrors.push(message.text());
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await peer?.stop();
    await suite.stopAll();
    const pool = new pg.Pool({ connectionString: suiteTestConfig.DATABASE_URL, max: 1 });
    await pool.query(`DROP SCHEMA IF EXISTS "${peerSchema}" CASCADE`);
    await pool.end();
    console.log(`# console-suite: ${Math.round((Date.now() - started) / 1000)} s in all`);
  });

  it('refuses a user without operator credentials: the API, and the login box of a service console', async () => {
    for (const s of CONSOLES) {
      const types = `${suite.url(s)}/rsm/types`;
      assert.equal((await http('GET', types)).status, 401, `${s}: no key`);
      assert.equal((await http('GET', types, undefined, { authorization: 'Bearer not-an-operator-key-0123456789' })).status, 401, `${s}: a wrong key`);
      // A customer's or a device's key is known to the app, and no operator key: forbidden, as on the apps' own routes.
      assert.equal((await http('GET', types, undefined, suite.auth('customer'))).status, 403, `${s}: a customer key`);
      assert.equal((await http('GET', types, undefined, service)).status, 403, `${s}: a device key`);
      assert.equal((await http('GET', types, undefined, suite.auth('operator'))).status, 200, `${s}: the operator key`);
    }
    // The apps' own operator routes tell the roles apart: a customer key is known there, and forbidden.
    assert.equal((await http('GET', `${suite.url('ingestion')}/api/deliveryrequests`, undefined, suite.auth('customer'))).status, 403);

    await page.goto(consoleUrl('ingestion'));
    for (const [who, key, refusal] of [
      ['a customer key', suite.keys.customerKey, 'Refused (403): this token may not call the RSM admin routes'],
      ['a wrong key', 'not-an-operator-key-0123456789', 'Refused (401): unknown operator token'],
    ] as const) {
      await page.fill('input[name=token]', key);
      await page.fill('input[name=actor]', 'mallory');
      await page.click('button[type=submit]');
      await page.getByTestId('login-error').filter({ hasText: refusal }).waitFor();
      assert.equal(await page.evaluate('sessionStorage.length'), 0, `${who}: nothing is kept`);
      assert.equal(await page.getByRole('button', { name: /^Sign out/ }).count(), 0, `${who}: still at the login box`);
      assert.equal(await page.getByTestId('type-DeliveryRequest').count(), 0, `${who}: no machine shown`);
      await page.reload();
    }
  });

  it('follows a delivery submitted over REST across the five services by the consoles’ own links, live, to its end', async () => {
    await signIn();
    // One overview of the whole suite: ingestion's console reads every service's admin API (CORS for
    // the origins of RSM_CONSOLE_SERVICES) with the same operator key.
    for (const s of CONSOLES) await page.locator(`[data-testid="service-${s}"][data-status=ok]`).waitFor({ timeout: 60_000 });
    await page.getByTestId('service-ingestion').getByTestId('type-DeliveryRequest').waitFor();
    await page.getByTestId('service-drone-scheduler').getByTestId('type-Drone').waitFor();
    const submitted = await http(
      'POST',
      `${suite.url('ingestion')}/api/deliveryrequests`,
      {
        deliveryId,
        ownerId: 'o1',
        pickupLocation: 'Seattle',
        dropOffLocation: 'Redmond',
        pickupTime: new Date().toISOString(),
        deadline: new Date(Date.now() + 30 * 60_000).toISOString(),
        expedited: false,
        confirmationRequired: 'None',
        packageInfo: { packageId, size: 'Small', weight: 2, tag: 'console' },
      },
      suite.auth('customer'),
    );
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));

    // ingestion: the request, found by its id; its step history says where the request went. The
    // search asks every service: the id also names the saga, in the workflow's console.
    await until('the saga to be created', async () => (await http('GET', `${suite.url('workflow')}/api/workflows/${deliveryId}`, undefined, suite.auth('operator'))).status === 200);
    await page.fill('input[name=search]', deliveryId);
    await page.press('input[name=search]', 'Enter');
    const found = page.getByTestId('search-results');
    assert.equal(await found.locator('li[data-service=workflow]').getByRole('link', { name: `DeliverySaga/${deliveryId}` }).getAttribute('href'), consoleUrl('workflow', `#/machine/DeliverySaga/${deliveryId}`));
    await found.locator('li[data-service=ingestion]').getByRole('link', { name: `DeliveryRequest/${deliveryId}` }).click();
    await machinePage('DeliveryRequest', deliveryId);
    await state('Forwarded');
    const submit = page.getByTestId('steps').locator('tr', { hasText: 'Received → Forwarded' });
    assert.match((await submit.textContent()) ?? '', new RegExp(`Submit.*Start → DeliverySaga/${deliveryId} \\(new\\)`));

    // workflow: the saga, in its service's console; a console not yet signed in to asks first.
    await followSend('Received → Forwarded', 'workflow', 'DeliverySaga', deliveryId);
    await page.locator('input[name=token]').waitFor();
    await signIn();
    await machinePage('DeliverySaga', deliveryId);
    await state('Scheduled');
    const droneId = await until('the saga to name its drone', async () => {
      const saga = (await http('GET', `${suite.url('workflow')}/api/workflows/${deliveryId}`, undefined, suite.auth('operator'))).body as { droneId?: string | null };
      return saga.droneId ?? undefined;
    });
    assert.equal(droneId, 'drone-1', 'the fleet has one drone');
    await markDocument();
    await reportDrone(droneId, 'PickedUp');
    await state('Airborne');
    await sameDocument();
    await page.getByTestId('steps').locator('tr', { hasText: 'Scheduled → Airborne' }).waitFor();

    // package: the package the saga registered and linked (its first step's sends), now picked up.
    await followSend('Received → PackagePending', 'package', 'Package', packageId);
    await signIn();
    await machinePage('Package', packageId);
    await state('PickedUp');
    await page.goBack();
    await machinePage('DeliverySaga', deliveryId);

    // delivery: created by the saga once the drone was assigned (the step that dispatched it); headed to drop-off. The drone
    // delivers and confirms while the page watches.
    await followSend('DronePending → Scheduled', 'delivery', 'Delivery', deliveryId);
    await signIn();
    await machinePage('Delivery', deliveryId);
    await state('HeadedToDropoff');
    await markDocument();
    await reportDrone(droneId, 'Delivered');
    await until('the drop-off confirmation to be taken', async () => (await http('POST', `${suite.url('delivery')}/api/deliveries/${deliveryId}/confirmations`, { confirmationType: 'None' }, service)).status === 201);
    await state('Completed');
    await sameDocument();
    await page.getByTestId('steps').locator('tr', { hasText: 'HeadedToDropoff → Completed' }).waitFor();
    await page.goBack();
    await machinePage('DeliverySaga', deliveryId);

    // drone-scheduler: the drone the saga dispatched flies back and is idle again.
    await followSend('DronePending → Scheduled', 'drone-scheduler', 'Drone', droneId);
    await signIn();
    await machinePage('Drone', droneId);
    await state('Returning');
    await markDocument();
    await reportDrone(droneId, 'Returned');
    await state('Idle');
    await sameDocument();

    // Back in the workflow's console (signed in already, in this tab): the saga has reached its final state.
    await page.goBack();
    await machinePage('DeliverySaga', deliveryId);
    await state('Completed');
    await page.getByTestId('steps').locator('tr', { hasText: 'Airborne → Completed' }).filter({ hasText: 'DeliveryCompleted' }).waitFor();
    assert.match((await page.getByTestId('machine-data').textContent()) ?? '', new RegExp(`"droneId": "${droneId}"`));
    await page.screenshot({ path: join(SCREENSHOTS, 'suite-delivery.png'), fullPage: true });
  });

  it('shows a dead letter of the running suite, redriven from the console after a confirmation: the machine moves on, the audit log names who', async () => {
    await followService('drone-scheduler');
    await peer.create(Hangar.ref('hangar-1'), { type: 'Ground', droneId: 'drone-2' });
    const letters = async () =>
      (await http('GET', `${suite.url('drone-scheduler')}/rsm/dead-letters?type=Drone&machineId=drone-2&status=all`, undefined, suite.auth('operator'))).body as {
        items: { id: string; reason: string; redrivenAt: string | null; senderType: string | null }[];
      };
    const letter = await until('the Fault to drone-2 to be dead-lettered', async () => (await letters()).items[0]);
    assert.equal(letter.reason, 'no machine Drone/drone-2');
    assert.equal(letter.senderType, 'Hangar');

    await page.click('header a[href="#/dead-letters"]');
    const row = page.locator(`tr[data-letter="${letter.id}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /Drone\/drone-2.*Fault.*no machine Drone\/drone-2/);
    await row.getByRole('button', { name: 'Inspect' }).click();
    assert.match((await page.getByTestId('payload').textContent()) ?? '', /"type": "Fault"/);
    await page.getByRole('link', { name: 'Hangar/hangar-1' }).waitFor();

    // The operator grows the fleet: drone-scheduler restarts with two drones and commissions drone-2.
    // The console rides out the restart (its polls fail, then answer again).
    await suite.kill('drone-scheduler');
    await suite.start('drone-scheduler', { FLEET_SIZE: '2' });
    await until('drone-2 to be commissioned', async () => {
      const drone = await http('GET', `${suite.url('drone-scheduler')}/api/drones/drone-2`, undefined, suite.auth('operator'));
      return drone.status === 200 && (drone.body as { state: string }).state === 'Idle';
    });

    await row.getByRole('link', { name: 'Drone/drone-2' }).click();
    await machinePage('Drone', 'drone-2');
    await state('Idle');
    await markDocument();
    const own = page.getByTestId('machine-page').locator(`tr[data-letter="${letter.id}"]`);
    await own.getByTestId('redrive').click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.filter({ hasText: 'Redrive 1 dead letter?' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await letters()).items[0]?.redrivenAt, null, 'cancel does nothing');
    await own.getByTestId('redrive').click();
    await dialog.getByTestId('confirm').click();
    await page.getByTestId('notice').filter({ hasText: `${letter.id}: redriven` }).waitFor();

    await state('Offline');
    await sameDocument();
    await page.getByTestId('steps').locator('tr', { hasText: 'Idle → Offline' }).filter({ hasText: 'Fault' }).waitFor();
    await page.getByTestId('machine-page').locator(`tr[data-letter="${letter.id}"][data-redriven=yes]`).waitFor();
    assert.equal(((await http('GET', `${suite.url('drone-scheduler')}/api/drones/drone-2`, undefined, suite.auth('operator'))).body as { state: string }).state, 'Offline');
    await page.screenshot({ path: join(SCREENSHOTS, 'suite-dead-letter.png'), fullPage: true });

    await page.click('header a[href="#/audit"]');
    const audit = page.getByTestId('audit').locator('tr[data-action="dead-letters.redrive"]');
    await audit.first().waitFor();
    const text = (await audit.first().textContent()) ?? '';
    assert.match(text, /alice/);
    assert.match(text, new RegExp(tokenFingerprint(operatorKey)));
    assert.match(text, new RegExp(`"${letter.id}"`));
    assert.match(text, /"redriven": 1/);
    assert.equal(await audit.count(), 1, 'one redrive: the cancelled one wrote nothing');
    assert.deepEqual(pageErrors, [], 'the browser reported no other error during the whole run');
  });
});
