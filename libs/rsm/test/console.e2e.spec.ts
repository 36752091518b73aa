import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { defineMachine, RsmRuntime } from '#rsm';
import { RsmModule } from '#rsm/nest';
import { consoleSettings } from '../src/nest/rsm-console.controller.js';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

const TOKEN = 'console-operator-token-0123456789abcdef';
/** Debian's Chromium, installed by scripts/test-prerequisites.ts; no browser is downloaded. */
const CHROMIUM = '/usr/bin/chromium';
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

describe('the operator console in a real Chromium', { timeout: 120_000 }, () => {
  const schema = uniqueSchema('console');
  let app: INestApplication;
  let rsm: RsmRuntime;
  let url: string;
  let browser: Browser;
  let page: Page;
  /** What the page logged as an error or threw: a missing file or a script error shows here. */
  const pageErrors: string[] = [];

  before(async () => {
    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'console-test',
          postgres: { url: testConfig.DATABASE_URL, schema },
          redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('console'), signingKeys: TEST_SIGNING_KEYS },
          adminTokens: [TOKEN],
          routes: { Depot: 'depot' },
          console: { services: { depot: 'http://depot.example:3009/' } },
          deps: { logger: quietLogger },
          exitOnFatalError: false,
        }),
        RsmModule.forFeature([Counter, Parcel]),
      ],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    rsm = app.get(RsmRuntime);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // The wrong key's 401 is expected; anything else the browser reports is a defect.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('status of 401')) pageErrors.push(message.text());
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await dropSchemas(schema);
  });

  it('refuses a caller without an operator token, in the API and at the login box', async () => {
    assert.equal((await fetch(`${url}/rsm/types`)).status, 401);
    assert.equal((await fetch(`${url}/rsm/types`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
    const bare = await fetch(`${url}/rsm/console`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), 'console/', 'a relative redirect: it cannot leave this path');
    const served = await fetch(`${url}/rsm/console/`);
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal((await fetch(`${url}/rsm/console/assets/..%2F..%2Fpackage.json`)).status, 404);

    await page.goto(`${url}/rsm/console`);
    await page.fill('input[name=token]', 'not-the-token');
    await page.click('button[type=submit]');
    await page.getByTestId('login-error').filter({ hasText: 'Refused (401)' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused token is not kept');
  });

  it('signs in, and the overview counts follow the machines without a reload', async () => {
    await page.fill('input[name=token]', TOKEN);
    await page.fill('input[name=actor]', 'alice');
    await page.click('button[type=submit]');
    await page.getByTestId('type-Parcel').waitFor();
    assert.equal(page.url().includes(TOKEN), false, 'the token is never in the URL');
    const openCounters = page.getByTestId('counts-Counter').locator('tr[data-state=Open][data-status=active] td.count');
    for (const n of [1, 2]) {
      await rsm.create(Counter.ref(`overview-${n}`), { type: 'Open' });
      await openCounters.filter({ hasText: new RegExp(`^${n}$`) }).waitFor();
    }
    await page.getByTestId('type-Counter').getByTestId('diagram').locator('svg').waitFor();
    await page.getByTestId('inbox-depth').waitFor();
    await page.getByTestId('counts-Counter').getByRole('link', { name: 'Open' }).click();
    await page.getByTestId('machines').getByRole('link', { name: 'Counter/overview-2' }).waitFor();
    await page.click('a[href="#/"]');
    await page.getByTestId('type-Counter').getByTestId('diagram').locator('svg').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });
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
    assert.equal(await shipped.locator('a[data-service=depot]').getAttribute('href'), 'http://depot.example:3009/rsm/console/#/machine/Depot/north');
    // Its send to the depot service waits in the outbox (nobody runs it here); the receiver opens in the depot's console.
    const receiver = page.locator('a[data-service=depot]', { hasText: 'Depot/north' });
    await receiver.first().waitFor();
    assert.equal(await receiver.first().getAttribute('href'), 'http://depot.example:3009/rsm/console/#/machine/Depot/north');
    await page.screenshot({ path: join(SCREENSHOTS, 'machine.png'), fullPage: true });

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

  it('refuses a console services URL that is not http(s), naming the setting', () => {
    assert.throws(() => consoleSettings({ console: { services: { depot: 'javascript:alert(1)' } } }), /console\.services\.depot/);
    assert.throws(() => consoleSettings({ console: { services: { depot: 'http://user:pw@depot:3000' } } }), /console\.services\.depot/);
    assert.deepEqual(consoleSettings({ service: 'a', console: { services: { b: 'https://b.example/x/' } } }).services, { b: 'https://b.example/x' });
  });

  it('fits a narrow screen: nothing wider than the phone', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.click('a[href="#/"]');
    await page.getByTestId('type-Parcel').waitFor();
    const widths = await page.evaluate<{ page: number; screen: number }>('({ page: document.documentElement.scrollWidth, screen: window.innerWidth })');
    assert.ok(widths.page <= widths.screen, `page ${widths.page}px wide on a ${widths.screen}px screen`);
    assert.deepEqual(pageErrors, [], 'the browser reported no error during the whole run');
  });
});
