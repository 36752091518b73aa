import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { SERVICES } from '#contracts';
import { renderDashboards } from '../../infra/grafana/src/generate.js';
import { http, SuiteProcesses } from '../support/suite-processes.js';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const DASHBOARDS = join(ROOT, 'infra', 'grafana', 'dashboards');
const ALERTS = join(ROOT, 'infra', 'prometheus', 'alerts.yml');

interface PromResult { status: string; data: { result: unknown[] }; error?: string }

describe('dashboards and alerts against a real Prometheus scraping the suite', { concurrency: false }, () => {
  const suite = new SuiteProcesses({ 'drone-scheduler': { FLEET_SIZE: '4' }, 'drone-sim': { LEG_MS_MIN: '0', LEG_MS_MAX: '50' } });
  const promPort = 29_000 + Math.floor(Math.random() * 500);
  const prom = `http://127.0.0.1:${promPort}`;
  let prometheus: ChildProcess | undefined;

  const query = async (expr: string): Promise<PromResult> =>
    (await (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as PromResult;

  before(async () => {
    await suite.startAll();
    const dir = mkdtempSync(join(tmpdir(), 'tailspin-prom-'));
    const targets = SERVICES.map((app) => `      - targets: ["127.0.0.1:${suite.ports[app]}"]\n        labels: { app: ${app} }`).join('\n');
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${ALERTS}\nscrape_configs:\n  - job_name: tailspin\n    static_configs:\n${targets}\n`,
    );
    await exec('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await query('sum(up{job="tailspin"})').catch(() => undefined);
      if ((up?.data.result[0] as { value: [number, string] } | undefined)?.value[1] === String(SERVICES.length)) break;
      assert.ok(Date.now() < deadline, 'Prometheus scrapes every app');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Traffic for the panels: deliveries to completion, a refused request, a 404.
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const answer = await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, {
        ownerId: 'o1', pickupLocation: 'a', dropOffLocation: 'b', pickupTime: new Date().toISOString(), deadline: new Date(Date.now() + 600_000).toISOString(),
        expedited: false, confirmationRequired: 'None', packageInfo: { packageId: `obs-${suite.runId}-${i}`, size: 'Small', weight: 1, tag: 't' },
      }, suite.auth('customer'));
      ids.push((answer.body as { deliveryId: string }).deliveryId);
    }
    await http('POST', `${suite.url('ingestion')}/api/deliveryrequests`, { ownerId: '' }, suite.auth('customer'));
    await http('GET', `${suite.url('delivery')}/api/deliveries/nope`, undefined, suite.auth('customer'));
    for (const id of ids) {
      for (let n = 0; ((await http('GET', `${suite.url('workflow')}/api/workflows/${id}`, undefined, suite.auth('operator'))).body as { state: string }).state !== 'Completed'; n += 1) {
        assert.ok(n < 400, `delivery ${id} completes`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // Two more scrapes, so every rate() has samples after the traffic, and a gauge refresh (5 s).
    await new Promise((resolve) => setTimeout(resolve, 6_000));
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    await suite.stopAll();
  });

  it('has committed dashboards identical to the code that generates them', () => {
    const rendered = renderDashboards();
    assert.deepEqual(readdirSync(DASHBOARDS).sort(), Object.keys(rendered).sort());
    for (const [file, json] of Object.entries(rendered)) assert.equal(readFileSync(join(DASHBOARDS, file), 'utf8'), json, `${file} is up to date (npm run dashboards)`);
  });

  it('gets data for every panel query of every dashboard', async () => {
    const empty: string[] = [];
    let checked = 0;
    for (const file of readdirSync(DASHBOARDS)) {
      const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as { panels: { title: string; type: string; targets?: { expr: string; datasource: { uid: string } }[] }[] };
      for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
        assert.ok((panel.targets ?? []).length > 0, `${file}: ${panel.title} has queries`);
        for (const t of panel.targets ?? []) {
          assert.equal(t.datasource.uid, 'tailspin-prometheus');
          const result = await query(t.expr.replaceAll('$app', 'ingestion'));
          assert.equal(result.status, 'success', `${file}: ${panel.title}: ${t.expr}: ${result.error ?? ''}`);
          checked += 1;
          if (result.data.result.length === 0) empty.push(`${file}: ${panel.title}: ${t.expr}`);
        }
      }
    }
    assert.deepEqual(empty, [], 'every panel returns data');
    assert.ok(checked >= 30, `${checked} queries checked`);
  });

  it('loads every alert rule and evaluates every expression', async () => {
    const rules = (await (await fetch(`${prom}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; query: string; health: string; lastError?: string }[] }[] } };
    const all = rules.data.groups.flatMap((g) => g.rules);
    // Every rule of the file is loaded (the file is the list: a rule added there is checked here too).
    const declared = (readFileSync(ALERTS, 'utf8').match(/^\s*- alert: /gm) ?? []).length;
    assert.ok(declared >= 7, `${declared} rules in alerts.yml`);
    assert.equal(all.length, declared);
    assert.ok(all.some((r) => r.name === 'SequenceGap'), 'the sequence-gap alert is loaded');
    for (const rule of all) {
      assert.equal((await query(rule.query)).status, 'success', rule.name);
      assert.notEqual(rule.health, 'err', `${rule.name}: ${rule.lastError ?? ''}`);
    }
    await exec('promtool', ['check', 'rules', ALERTS]);
  });
});
