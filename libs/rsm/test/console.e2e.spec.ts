import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Browser, Page } from 'playwright-core';
import { defineMachine, RsmRuntime } from '#rsm';
import { RsmModule } from '#rsm/nest';
import { consoleSettings } from '../src/nest/rsm-console.controller.js';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { launchChromium } from './support/chromium.js';

const TOKEN = 'console-operator-token-0123456789abcdef';
/** An operator token the console-test service knows and the warehouse service does not. */
const TOKEN_HERE_ONLY = 'console-operator-token-here-only-0123456789';
const SCREENSHOTS = join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'console');

/** While true, shipping fails: the test's way to provoke a dead letter, and to let its redrive succeed. */
let depotClosed = false;

const Parcel = defineMachine<{ label: string; shippedBy?: string }, { type: 'Label'; label: string } | { type: 'Ship'; by: string }>()({
  type: 'Parcel',
  initial: 'Packing',
  initialData: () => ({ label: '' }),
  states: {
    Packing: {
      on: {
        Label: (data, event) => {
          data.label = event.label;
        },
        Ship: (data, event, ctx) => {
          if (depotClosed) throw new Error('the depot is closed');
          data.shippedBy = event.by;
          ctx.send({ type: 'Depot', id: 'north' }, { type: 'Expect' });
          ctx.goto('Shipped');
        },
      },
      targets: { Ship: 'Shipped' },
    },
    Shipped: {},
  },
  failure: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 },
});

/** A second service with its own type, schema and console: the overview and search reach it cross-origin. */
const Crate = defineMachine<{ items: number }, { type: 'Stack' } | { type: 'Load' }>()({
  type: 'Crate',
  initial: 'Stacked',
  initialData: () => ({ items: 0 }),
  states: {
    Stacked: {
      on: {
        Stack: (data) => {
          data.items += 1;
        },
        Load: (_data, _event, ctx) => ctx.goto('Loaded'),
      },
      targets: { Load: 'Loaded' },
    },
    Loaded: {},
  },
});

/** A port nothing listens on now, for an app that must know its URL (and the other app's) before it starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the operator console in a real Chromium', { timeout: 180_000 }, () => {
  const schema = uniqueSchema('console');
  const warehouseSchema = uniqueSchema('console_wh');
  let app: INestApplication;
  let warehouse: INestApplication;
  let rsm: RsmRuntime;
  let warehouseRsm: RsmRuntime;
  let url: string;
  let warehouseUrl: string;
  /** The depot service's address: it accepts connections and never answers (a hung service) while `depotHangs`, then drops them (a service down). */
  let depotUrl: string;
  let depotHangs = true;
  let depot: Server;
  const depotSockets = new Set<Socket>();
  let browser: Browser;
  let page: Page;
  /** What the page logged as an error or threw: a missing file or a script error shows here. */
  const pageErrors: string[] = [];

  before(async () => {
    depot = createServer((socket) => {
      if (!depotHangs) {
        socket.destroy();
        return;
      }
      depotSockets.add(socket);
      socket.on('close', () => depotSockets.delete(socket));
    });
    await new Promise<void>((resolve) => depot.listen(0, '127.0.0.1', resolve));
    depotUrl = `http://127.0.0.1:${(depot.address() as AddressInfo).port}`;
    const [port, warehousePort] = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${port}`;
    warehouseUrl = `http://127.0.0.1:${warehousePort}`;
    // Each service knows the other's console (and the test service also the hung depot's).
    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'console-test',
          postgres: { url: testConfig.DATABASE_URL, schema },
          redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('console'), signingKeys: TEST_SIGNING_KEYS },
          adminTokens: [TOKEN, TOKEN_HERE_ONLY],
          routes: { Depot: 'depot', Crate: 'warehouse' },
          console: { services: { 'console-test': url, warehouse: `${warehouseUrl}/`, depot: depotUrl } },
          deps: { logger: quietLogger },
          exitOnFatalError: false,
        }),
        RsmModule.forFeature([Counter, Parcel]),
      ],
    })
    class AppModule {}
    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'warehouse',
          postgres: { url: testConfig.DATABASE_URL, schema: warehouseSchema },
          redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('console-wh'), signingKeys: TEST_SIGNING_KEYS },
          adminTokens: [TOKEN],
          console: { services: { 'console-test': url, warehouse: warehouseUrl } },
          deps: { logger: quietLogger },
          exitOnFatalError: false,
        }),
        RsmModule.forFeature([Crate]),
      ],
    })
    class WarehouseModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(port, '127.0.0.1');
    rsm = app.get(RsmRuntime);
    warehouse = await NestFactory.create(WarehouseModule, { logger: false });
    await warehouse.listen(warehousePort, '127.0.0.1');
    warehouseRsm = warehouse.get(RsmRuntime);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // The wrong key's 401 is expected; anything else the browser reports is a defect.
    page.on('console', (message) => {
      // The depot's failures are expected (it hangs, then is down), as is the wrong key's 401.
      if (message.type() === 'error' && !message.text().includes('status of 401') && !message.location().url.startsWith(depotUrl)) pageErrors.push(message.text());
    });
    page.on('requestfailed', (request) => {
      // The depot's requests fail (timed out by the console, then refused); any other failed request is a defect.
      if (!request.url().startsWith(depotUrl)) pageErrors.push(`${request.url()}: ${request.failure()?.errorText ?? 'failed'}`);
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await warehouse?.close();
    for (const socket of depotSockets) socket.destroy();
    await new Promise((resolve) => depot?.close(resolve));
    await dropSchemas(schema, warehouseSchema);
  });

  /** The overview section of one service (this console's own is the first). */
  const section = (service: string) => page.getByTestId(`service-${service}`);
  const signIn = async (token = TOKEN) => {
    await page.fill('input[name=token]', token);
    await page.fill('input[name=actor]', 'alice');
    await page.click('button[type=submit]');
    await page.getByRole('button', { name: 'Sign out (alice)' }).waitFor();
  };

  it('refuses a caller without an operator token, in the API and at the login box', async () => {
    assert.equal((await fetch(`${url}/rsm/types`)).status, 401);
    assert.equal((await fetch(`${url}/rsm/types`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
    const bare = await fetch(`${url}/rsm/console`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), 'console/', 'a relative redirect: it cannot leave this path');
    const served = await fetch(`${url}/rsm/console/`);
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    // The page may call this service and the consoles it knows, nowhere else.
    assert.match(served.headers.get('content-security-policy') ?? '', new RegExp(`connect-src 'self' ${url} ${warehouseUrl} ${depotUrl};`));
    assert.equal((await fetch(`${url}/rsm/console/assets/..%2F..%2Fpackage.json`)).status, 404);

    await page.goto(`${url}/rsm/console`);
    await page.fill('input[name=token]', 'not-the-token');
    await page.click('button[type=submit]');
    await page.getByTestId('login-error').filter({ hasText: 'Refused (401)' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused token is not kept');
    // A name the service would refuse on every action is refused at sign-in, before any call.
    await page.fill('input[name=token]', TOKEN);
    await page.fill('input[name=actor]', 'José Müller');
    await page.click('button[type=submit]');
    await page.getByTestId('login-error').filter({ hasText: 'printable ASCII' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'not signed in');
    await page.fill('input[name=actor]', '');
  });

  it('answers cross-origin reads of /rsm/* from the configured consoles\u2019 origins only', async () => {
    const preflight = (target: string, origin: string) =>
      fetch(`${target}/rsm/machines/counts`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,x-rsm-actor' } });
    const get = (target: string, origin: string, token = TOKEN) => fetch(`${target}/rsm/types`, { headers: { origin, authorization: `Bearer ${token}` } });
    const cors = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));
    // Each service lets the other's console read it: the preflight is answered before any guard.
    for (const [target, origin] of [
      [url, warehouseUrl],
      [warehouseUrl, url],
    ] as const) {
      const answer = await preflight(target, origin);
      assert.equal(answer.status, 204, `preflight of ${origin} to ${target}`);
      assert.equal(answer.headers.get('access-control-allow-origin'), origin);
      assert.equal(answer.headers.get('access-control-allow-methods'), 'GET', 'reads only: actions stay with each service\u2019s own console');
      assert.match(answer.headers.get('access-control-allow-headers') ?? '', /^Authorization, X-Rsm-Actor$/);
      assert.equal(answer.headers.get('access-control-allow-credentials'), null, 'no cookies: the token is a header');
      assert.match(answer.headers.get('vary') ?? '', /Origin/);
      const read = await get(target, origin);
      assert.equal(read.status, 200);
      assert.equal(read.headers.get('access-control-allow-origin'), origin);
      assert.match(read.headers.get('vary') ?? '', /Origin/);
    }
    // A refusal reaches the other console too, so it can say "refused" rather than "unreachable".
    const refused = await get(warehouseUrl, url, TOKEN_HERE_ONLY);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('access-control-allow-origin'), url);
    // Any other origin, however close to a configured one, gets no CORS header at all: neither on its
    // preflight nor on a read (the browser then withholds the answer from its page).
    const port = Number(new URL(warehouseUrl).port);
    for (const origin of ['https://evil.example', 'null', `http://localhost:${port}`, `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, `${warehouseUrl}.evil.example`, depotUrl.replace('127.0.0.1', '127.0.0.2')]) {
      const answer = await preflight(url, origin);
      assert.notEqual(answer.status, 204, `preflight of ${origin}`);
      assert.deepEqual(cors(answer), [], `preflight of ${origin}`);
      const read = await get(url, origin);
      assert.deepEqual(cors(read), [], `read from ${origin}`);
      assert.match(read.headers.get('vary') ?? '', /Origin/, `read from ${origin}: caches keep answers per origin`);
    }
    // Not the warehouse's own console or depot: the warehouse knows only the test service and itself.
    assert.deepEqual(cors(await preflight(warehouseUrl, depotUrl)), []);
    // The console's static files are not part of it.
    assert.deepEqual(cors(await fetch(`${url}/rsm/console/`, { headers: { origin: warehouseUrl } })), []);
  });

  it('signs in, and the overview shows every service: counts on the live diagrams of both, a hung one as timed out, then as unreachable', async () => {
    await signIn();
    await page.getByTestId('type-Parcel').waitFor();
    assert.equal(page.url().includes(TOKEN), false, 'the token is never in the URL');
    // This console's service first, then the others in their configured order.
    const sections = await Promise.all((await page.locator('section.service').all()).map((node) => node.getAttribute('data-testid')));
    assert.deepEqual(sections, ['service-console-test', 'service-warehouse', 'service-depot']);
    const openCounters = section('console-test').getByTestId('counts-Counter').locator('tr[data-state=Open][data-status=active] td.count');
    for (const n of [1, 2]) {
      await rsm.create(Counter.ref(`overview-${n}`), { type: 'Open' });
      await openCounters.filter({ hasText: new RegExp(`^${n}$`) }).waitFor();
    }
    await section('console-test').getByTestId('type-Counter').getByTestId('diagram').locator('svg').waitFor();
    await section('console-test').getByTestId('inbox-depth').waitFor();

    // The warehouse, read cross-origin with the same token: its type, counts and diagram follow it live.
    const warehouseSection = section('warehouse');
    await warehouseSection.getByTestId('type-Crate').waitFor();
    assert.equal(await warehouseSection.getAttribute('data-status'), 'ok');
    const stacked = warehouseSection.getByTestId('counts-Crate').locator('tr[data-state=Stacked][data-status=active] td.count');
    for (const n of [1, 2, 3]) {
      await warehouseRsm.create(Crate.ref(`crate-${n}`), { type: 'Stack' });
      await stacked.filter({ hasText: new RegExp(`^${n}$`) }).waitFor();
    }
    await warehouseRsm.send(Crate.ref('crate-3'), { type: 'Load' });
    await stacked.filter({ hasText: /^2$/ }).waitFor();
    await warehouseSection.getByTestId('counts-Crate').locator('tr[data-state=Loaded] td.count', { hasText: /^1$/ }).waitFor();
    // The counts are drawn on the warehouse's own diagram of Crate.
    const crateDiagram = warehouseSection.getByTestId('type-Crate').getByTestId('diagram');
    await crateDiagram.locator('svg', { hasText: 'Stacked · 2' }).waitFor();
    await crateDiagram.locator('svg', { hasText: 'Loaded · 1' }).waitFor();
    await warehouseSection.getByTestId('inbox-depth').waitFor();
    assert.equal(await warehouseSection.getByTestId('dead-letter-total').getAttribute('href'), `${warehouseUrl}/rsm/console/#/dead-letters`);
    assert.equal(await warehouseSection.getByRole('link', { name: 'Stacked' }).getAttribute('href'), `${warehouseUrl}/rsm/console/#/machines/Crate/Stacked`);
    assert.equal(await warehouseSection.getByRole('link', { name: 'open its console' }).getAttribute('href'), `${warehouseUrl}/rsm/console/`);

    await section('console-test').getByTestId('counts-Counter').getByRole('link', { name: 'Open' }).click();
    await page.getByTestId('machines').getByRole('link', { name: 'Counter/overview-2' }).waitFor();
    await page.click('a[href="#/"]');
    await section('console-test').getByTestId('type-Counter').getByTestId('diagram').locator('svg').waitFor();
    await crateDiagram.locator('svg', { hasText: 'Loaded · 1' }).waitFor();

    // The depot never answers: its section says so, and nothing else on the page waits for it.
    await section('depot').and(page.locator('[data-status=timeout]')).getByTestId('service-trouble').filter({ hasText: 'timed out' }).waitFor();
    assert.equal(await section('console-test').getAttribute('data-status'), 'ok');
    assert.equal(await warehouseSection.getAttribute('data-status'), 'ok');
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });
    // Then it goes down (connections dropped): unreachable, and the others go on.
    depotHangs = false;
    for (const socket of depotSockets) socket.destroy();
    await section('depot').and(page.locator('[data-status=unreachable]')).getByTestId('service-trouble').filter({ hasText: 'unreachable' }).waitFor();
    await warehouseRsm.create(Crate.ref('crate-4'), { type: 'Stack' });
    await stacked.filter({ hasText: /^3$/ }).waitFor();
  });

  it('finds a machine by id: its state highlighted on the diagram and its step history', async () => {
    const ref = Parcel.ref('parcel-42');
    await rsm.create(ref, { type: 'Label', label: 'fragile' });
    await waitFor('the label step', async () => (await rsm.inspect(ref, 5))?.recentSteps.length === 1);
    await page.fill('input[name=search]', 'parcel-42');
    await page.press('input[name=search]', 'Enter');
    await page.getByTestId('machine-page').waitFor();
    assert.equal(await page.getByTestId('machine-state').textContent(), 'Packing');
    // Mermaid gives the highlighted state the `current` class: the node that carries it is Packing.
    const current = page.getByTestId('diagram').locator('g.current');
    await current.first().waitFor();
    assert.match((await current.first().textContent()) ?? '', /Packing/);
    const label = page.getByTestId('steps').locator('tr', { hasText: 'Label' });
    await label.waitFor();
    assert.equal(await label.locator('ul.sends').count(), 0, 'a step that sent nothing lists no sends');
    assert.match((await page.getByTestId('machine-data').textContent()) ?? '', /fragile/);
  });

  it('redrives a dead letter from the console after a confirmation; the machine moves on and the audit log shows it', async () => {
    const ref = Parcel.ref('parcel-42');
    depotClosed = true;
    await rsm.send(ref, { type: 'Ship', by: 'drone-7' });
    const letter = await waitFor('the Ship dead letter', async () => (await rsm.deadLetterPage({ type: 'Parcel', machineId: 'parcel-42' })).items[0], 30_000);
    depotClosed = false;

    const row = page.locator(`tr[data-letter="${letter.id}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: 'Inspect' }).click();
    assert.match((await page.getByTestId('payload').textContent()) ?? '', /drone-7/);
    await row.getByTestId('redrive').click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await rsm.deadLetterPage({ type: 'Parcel', machineId: 'parcel-42' })).items.length, 1, 'cancel does nothing');
    await row.getByTestId('redrive').click();
    await dialog.getByTestId('confirm').click();
    await page.getByTestId('notice').filter({ hasText: 'redriven' }).waitFor();

    await page.getByTestId('machine-state').filter({ hasText: /^Shipped$/ }).waitFor();
    await page.getByTestId('diagram').locator('g.current', { hasText: 'Shipped' }).waitFor();
    const shipped = page.getByTestId('steps').locator('tr', { hasText: 'Packing → Shipped' });
    await shipped.waitFor();
    // The step history keeps what the step sent, linked to the console of the service that runs the receiver.
    assert.match((await shipped.textContent()) ?? '', /Expect → Depot\/north/);
    assert.equal(await shipped.locator('a[data-service=depot]').getAttribute('href'), `${depotUrl}/rsm/console/#/machine/Depot/north`);
    // Its send to the depot service waits in the outbox (nobody runs it here); the receiver opens in the depot's console.
    const receiver = page.locator('a[data-service=depot]', { hasText: 'Depot/north' });
    await receiver.first().waitFor();
    assert.equal(await receiver.first().getAttribute('href'), `${depotUrl}/rsm/console/#/machine/Depot/north`);
    await page.screenshot({ path: join(SCREENSHOTS, 'machine.png'), fullPage: true });
    // That unacknowledged send is in the queue figures the overview reads (`/rsm/queues`, the runtime's gauges, sampled every 5 s).
    assert.equal((await fetch(`${url}/rsm/queues`)).status, 401, 'queue figures need the operator token');
    await waitFor(
      'the outbox depth to count the send to the depot',
      async () => ((await (await fetch(`${url}/rsm/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { outboxDepth: number }).outboxDepth >= 1,
      30_000,
    );

    await page.click('a[href="#/audit"]');
    const audit = page.getByTestId('audit').locator('tr[data-action="dead-letters.redrive"]');
    await audit.first().waitFor();
    const text = (await audit.first().textContent()) ?? '';
    assert.match(text, /alice/);
    assert.match(text, new RegExp(letter.id));
  });

  it('discards several dead letters at once from the dead-letter page, filtered, after a confirmation', async () => {
    for (const n of [1, 2]) {
      const ref = Counter.ref(`closed-${n}`);
      await rsm.create(ref, { type: 'Open' });
      await rsm.request(ref, { type: 'Close' });
      await rsm.send(ref, { type: 'Add', n });
    }
    await waitFor('two Counter dead letters', async () => (await rsm.deadLetterPage({ type: 'Counter' })).items.length === 2, 30_000);
    await page.click('a[href="#/dead-letters"]');
    await page.fill('input[placeholder="type"]', 'Counter');
    await page.getByRole('button', { name: 'Filter' }).click();
    const rows = page.getByTestId('dead-letter-table').locator('tr[data-letter]');
    await waitFor('only the two Counter letters listed', async () => (await rows.count()) === 2 && (await rows.filter({ hasText: 'Parcel/' }).count()) === 0, 30_000);
    for (const box of await page.getByTestId('dead-letter-table').locator('input[type=checkbox]').all()) await box.check();
    await page.getByRole('button', { name: 'Discard selected' }).click();
    await page.getByTestId('confirm-dialog').filter({ hasText: 'Discard 2 dead letters?' }).getByTestId('confirm').click();
    await page.getByTestId('dead-letter-table').getByText('No dead letters match.').waitFor();
    assert.equal((await rsm.deadLetterPage({ type: 'Counter', status: 'all' })).items.length, 0);
    await page.click('a[href="#/audit"]');
    await page.getByTestId('audit').locator('tr[data-action="dead-letters.discard"]', { hasText: 'alice' }).waitFor();
  });

  it('finds a machine of the other service by id, and opens it in that service\u2019s console', async () => {
    // A prefix lists the matches of every service, each linked to its own console; the depot, down, is named.
    await page.fill('input[name=search]', 'crate-');
    await page.press('input[name=search]', 'Enter');
    const results = page.getByTestId('search-results');
    await results.waitFor();
    for (const n of [1, 2, 3, 4]) {
      assert.equal(await results.getByRole('link', { name: `Crate/crate-${n}` }).getAttribute('href'), `${warehouseUrl}/rsm/console/#/machine/Crate/crate-${n}`);
    }
    assert.match((await results.locator('li[data-service=depot]').textContent()) ?? '', /depot: unreachable/);
    await results.getByRole('button', { name: 'Close' }).click();

    // A whole id that one service has opens there: the warehouse's console asks for the key once (its own origin).
    await page.fill('input[name=search]', 'crate-3');
    await page.press('input[name=search]', 'Enter');
    await page.waitForURL(`${warehouseUrl}/rsm/console/#/machine/Crate/crate-3`);
    await signIn();
    await page.getByTestId('machine-page').locator('h2', { hasText: 'Crate/crate-3' }).waitFor();
    assert.equal(await page.getByTestId('machine-state').textContent(), 'Loaded');
    await page.getByTestId('diagram').locator('g.current', { hasText: 'Loaded' }).waitFor();
    // The warehouse's console knows the test service too: its overview reads it.
    await page.click('a[href="#/"]');
    await section('console-test').getByTestId('type-Parcel').waitFor();
    assert.equal(await section('console-test').getAttribute('data-status'), 'ok');

    await page.goto(`${url}/rsm/console/`);
    await section('warehouse').getByTestId('type-Crate').waitFor();
  });

  it('shows a service that refuses the token as refused, and the others as usual', async () => {
    // A key this service knows and the warehouse does not (keys not shared everywhere): a fresh tab signs in with it.
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      other.on('pageerror', (error) => pageErrors.push(String(error)));
      await other.goto(`${url}/rsm/console/`);
      await other.fill('input[name=token]', TOKEN_HERE_ONLY);
      await other.fill('input[name=actor]', 'bob');
      await other.click('button[type=submit]');
      await other.getByTestId('service-console-test').getByTestId('type-Parcel').waitFor();
      const refused = other.getByTestId('service-warehouse');
      await refused.and(other.locator('[data-status=refused]')).waitFor();
      assert.match((await refused.getByTestId('service-trouble').textContent()) ?? '', /refused \(401\): unknown operator token/);
      assert.equal(await refused.getByTestId('type-Crate').count(), 0, 'nothing of the warehouse is shown');
      // The refusal elsewhere does not end the session here.
      assert.equal(await other.getByRole('button', { name: 'Sign out (bob)' }).count(), 1);
      assert.equal(await other.getByTestId('service-console-test').getAttribute('data-status'), 'ok');
      // Search says so too, and still finds what this service has.
      await other.fill('input[name=search]', 'overview-');
      await other.press('input[name=search]', 'Enter');
      const results = other.getByTestId('search-results');
      await results.getByRole('link', { name: 'Counter/overview-1' }).waitFor();
      assert.match((await results.locator('li[data-service=warehouse]').textContent()) ?? '', /warehouse: refused \(401\)/);
    } finally {
      await other.close();
    }
  });

  it('refuses a console services URL that is not http(s), naming the setting', () => {
    assert.throws(() => consoleSettings({ console: { services: { depot: 'javascript:alert(1)' } } }), /console\.services\.depot/);
    assert.throws(() => consoleSettings({ console: { services: { depot: 'http://user:pw@depot:3000' } } }), /console\.services\.depot/);
    assert.deepEqual(consoleSettings({ service: 'a', console: { services: { b: 'https://b.example/x/' } } }).services, { b: 'https://b.example/x' });
  });

  it('polls only while the tab shows: a tab in the background reads nothing until it is shown again', async () => {
    // A tab of its own with a fake clock, so that time passes only when the test says; its calls
    // to this service's counts are counted in the page, as they are made.
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    tab.setDefaultTimeout(30_000);
    await tab.addInitScript(`{
      let hidden = false;
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
      window.setHidden = (value) => { hidden = value; document.dispatchEvent(new Event('visibilitychange')); };
      window.countsCalls = 0;
      const original = window.fetch.bind(window);
      window.fetch = (input, init) => {
        const target = new URL(String(input), location.href);
        if (target.origin === location.origin && target.pathname === '/rsm/machines/counts') window.countsCalls += 1;
        return original(input, init);
      };
    }`);
    await tab.clock.install();
    try {
      await tab.goto(`${url}/rsm/console`);
      await tab.fill('input[name=token]', TOKEN);
      await tab.fill('input[name=actor]', 'alice');
      await tab.click('button[type=submit]');
      const counters = tab.getByTestId('service-console-test').getByTestId('counts-Counter');
      await counters.waitFor();
      const calls = async () => tab.evaluate<number>('window.countsCalls');
      // Asked from here: the page's own timers and animation frames, which waitForFunction polls
      // with, are the fake clock's and stand still.
      const callsAbove = async (n: number) => {
        for (const deadline = Date.now() + 30_000; (await calls()) <= n; ) {
          assert.ok(Date.now() < deadline, `no call to the counts after ${n}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      // Shown: each poll interval reads again.
      const first = await calls();
      await tab.clock.runFor(2_000);
      await callsAbove(first);
      // Hidden: the poll already planned may run once; none is planned after it, however long it stays hidden.
      await tab.evaluate('window.setHidden(true)');
      await tab.clock.runFor(2_000);
      await tab.getByTestId('service-console-test').and(tab.locator('[data-status=ok]')).waitFor();
      const hidden = await calls();
      await tab.clock.runFor(120_000);
      assert.equal(await calls(), hidden, 'no poll while hidden');
      // Shown again: it reads at once, with no interval to wait for, and polls on.
      await rsm.create(Counter.ref('seen-when-shown'), { type: 'Open' });
      await tab.evaluate('window.setHidden(false)');
      await callsAbove(hidden);
      const total = String((await rsm.machineCounts('Counter')).filter((c) => c.state === 'Open' && c.status === 'active').reduce((n, c) => n + c.count, 0));
      await counters.locator('tr[data-state=Open][data-status=active] td.count', { hasText: new RegExp(`^${total}$`) }).waitFor();
      const shown = await calls();
      await tab.clock.runFor(2_000);
      await callsAbove(shown);
    } finally {
      await tab.close();
    }
  });

  it('fits a narrow screen: nothing wider than the phone', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.click('a[href="#/"]');
    await page.getByTestId('type-Parcel').waitFor();
    await section('warehouse').getByTestId('type-Crate').waitFor();
    const widths = await page.evaluate<{ page: number; screen: number }>('({ page: document.documentElement.scrollWidth, screen: window.innerWidth })');
    assert.ok(widths.page <= widths.screen, `page ${widths.page}px wide on a ${widths.screen}px screen`);
    assert.deepEqual(pageErrors, [], 'the browser reported no error during the whole run');
  });
});
