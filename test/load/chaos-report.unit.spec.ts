// The chaos report's model and page, from a hand-made run: what the charts get, that the chart
// library is inlined (no network when the page is opened), and that the disruptions are marked.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { killSequence, type ChaosRun } from '../../load-tests/chaos/src/chaos-experiment.js';
import { buildReport, renderReportHtml, uplotAssets, writeReport, type ChaosReport, type TimeSeriesSection } from '../../load-tests/chaos/src/report.js';
import { countPerSecond, percentile, percentilesPerSecond } from '../../load-tests/chaos/src/timeline.js';

function run(label: string, events: ChaosRun['events'], completedRate: number): ChaosRun {
  return {
    label,
    load: { accepted: 9, acceptedPerSecond: [3, 3, 3], refusedPerSecond: [0, 4], firstAttemptAt: new Map([['x-1', 0]]), acceptanceLatenciesMs: [10, 20, 900], attempts: 13, gaveUp: 0, startedAt: 1_700_000_000_000 },
    events,
    results: [{ id: 1, name: 'every accepted request ended', ok: true, counts: { accepted: 9 }, problems: [] }],
    quiet: true,
    completedPerSecond: [0, 2, 3, 4],
    completedRate,
    acceptanceP99Ms: 900,
    e2eMs: { p50: 1_500, p95: 4_000, p99: 4_200 },
    e2eBySecondMs: { p50: [null, 900, 1_500, 4_000], p95: [null, 1_000, 2_000, 4_200], p99: [null, 1_000, 2_000, 4_200] },
  };
}

const chaos = run(
  'chaos',
  [
    { atS: 1.2, what: 'ingestion: SIGKILL pid 42', kind: 'kill' },
    { atS: 2, what: 'redis: FLUSHALL', kind: 'redis' },
    { atS: 2.5, what: 'postgres 16: restarted', kind: 'postgres' },
  ],
  1.8,
);
const baseline = run('no chaos', [], 2.4);
const at = new Date('2026-01-01T00:00:00Z');

const timeseries = (report: ChaosReport, runIndex: number, title: string) => {
  const section = report.runs[runIndex]?.sections.find((s) => s.title === title);
  assert.ok(section?.kind === 'timeseries', `run ${runIndex} has a "${title}" chart`);
  return section;
};
const values = (section: TimeSeriesSection, label: string) => section.series.find((s) => s.label === label)?.values;

describe('chaos report model', () => {
  const report = buildReport([baseline, chaos], at);

  it('charts accepted, completed and refused per second over one time axis, short series padded with zeros', () => {
    const perSecond = timeseries(report, 1, 'Deliveries per second');
    assert.deepEqual(perSecond.seconds, [0, 1, 2, 3]);
    assert.deepEqual(values(perSecond, 'accepted'), [3, 3, 3, 0]);
    assert.deepEqual(values(perSecond, 'completed'), [0, 2, 3, 4]);
    assert.deepEqual(values(perSecond, 'refused'), [0, 4, 0, 0]);
  });

  it('charts end-to-end p50/p95/p99 in seconds, a second without completions a gap rather than zero', () => {
    const latency = timeseries(report, 1, 'End-to-end latency');
    assert.equal(latency.yLabel, 'seconds');
    assert.deepEqual(values(latency, 'p50'), [null, 0.9, 1.5, 4]);
    assert.deepEqual(values(latency, 'p99'), [null, 1, 2, 4.2]);
  });

  it('marks every disruption on both charts, each kind by its own name', () => {
    for (const title of ['Deliveries per second', 'End-to-end latency']) {
      assert.deepEqual(timeseries(report, 1, title).marks, [
        { atS: 1.2, kind: 'kill', label: 'ingestion' },
        { atS: 2, kind: 'redis', label: 'Redis flush' },
        { atS: 2.5, kind: 'postgres', label: 'Postgres restart' },
      ]);
    }
    assert.deepEqual(timeseries(report, 0, 'Deliveries per second').marks, []);
  });

  it('gives the chaos / no-chaos ratio of completed per second only when both ran', () => {
    assert.equal(report.ratio, 1.8 / 2.4);
    assert.equal(buildReport([chaos], at).ratio, undefined);
  });

  it('leaves the per-request detail out of report.json, and keeps the sections in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-report-'));
    const { json } = writeReport(dir, [baseline, chaos], at);
    const written = JSON.parse(readFileSync(json, 'utf8')) as ChaosReport & { runs: { load: Record<string, unknown> }[] };
    assert.equal(written.schemaVersion, 1);
    assert.equal(written.runs[1]?.load.acceptanceLatenciesMs, undefined);
    assert.equal(written.runs[1]?.load.firstAttemptAt, undefined);
    assert.deepEqual(written.runs[1]?.load.refusedPerSecond, [0, 4]);
    assert.deepEqual(written.runs[1]?.sections, report.runs[1]?.sections);
  });
});

describe('chaos report page', () => {
  const assets = uplotAssets();
  const report = buildReport([baseline, chaos], at);
  const html = renderReportHtml(report, assets);
  const chartData = () => {
    const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
    assert.ok(match?.[1] !== undefined, 'the page carries its chart data');
    return JSON.parse(match[1]) as { elementId: string; section: TimeSeriesSection }[];
  };

  it('inlines the chart library and loads nothing from the network', () => {
    assert.ok(assets.script.length > 10_000 && html.includes(assets.script), 'uPlot is inlined whole');
    assert.ok(html.includes(assets.css), 'its stylesheet too');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import/);
  });

  it('hands uPlot every series and every mark, and has an element for each chart', () => {
    const charts = chartData();
    assert.equal(charts.length, 4, 'two charts for each of two runs');
    const chaosPerSecond = charts.find((c) => c.elementId === 'chart-1-0')?.section;
    assert.deepEqual(chaosPerSecond?.series.map((s) => s.label), ['accepted', 'completed', 'refused']);
    assert.deepEqual(chaosPerSecond?.series.find((s) => s.label === 'refused')?.values, [0, 4, 0, 0]);
    assert.deepEqual(chaosPerSecond?.marks.map((m) => m.atS), [1.2, 2, 2.5]);
    for (const c of charts) assert.ok(html.includes(`<div class="chart" id="${c.elementId}"></div>`), c.elementId);
    assert.match(html, /new uPlot\(options/);
  });

  it('names each kind of disruption in a legend under the chart', () => {
    assert.match(html, /dashed lines: .*an app killed.*Redis flushed \(all data lost\).*Postgres restarted/);
    assert.match(html, /no disruptions/, 'the no-chaos run says so');
  });

  it('keeps a hostile label from ending the data script or injecting markup', () => {
    const hostile = run('</script><script>alert(1)</script>', [{ atS: 1, what: '<img src=x onerror=alert(1)>', kind: 'kill' }], 1);
    const page = renderReportHtml(buildReport([hostile], at), assets);
    assert.ok(!page.includes('<script>alert(1)'), 'the label is escaped');
    assert.ok(!page.includes('<img src=x'), 'the event is escaped');
    const data = /id="report-data">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
    assert.equal((JSON.parse(data) as { section: TimeSeriesSection }[])[0]?.section.marks[0]?.label, '<img src=x onerror=alert(1)>');
  });

  it('renders a table section added to the model, for findings beyond the charts', () => {
    const extended: ChaosReport = { ...report, sections: [{ kind: 'table', title: 'Requests by route and status', columns: ['route', 'status', 'count'], rows: [['POST /api/deliveryrequests', '400', 12]] }] };
    const page = renderReportHtml(extended, assets);
    assert.match(page, /<h3>Requests by route and status<\/h3><table><thead><tr><th>route<\/th><th>status<\/th><th>count<\/th><\/tr><\/thead><tbody><tr><td>POST \/api\/deliveryrequests<\/td><td>400<\/td><td class="num">12<\/td><\/tr>/);
  });
});

describe('chaos timeline', () => {
  it('takes nearest-rank percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('buckets by whole seconds since the start, a time before it in second 0', () => {
    assert.deepEqual(countPerSecond([1_000, 1_999, 2_000, 3_500, 900], 1_000, 5), [3, 1, 1, 0, 0]);
  });

  it('gives each second the percentiles of its own values, null for a second with none', () => {
    const series = percentilesPerSecond(
      [
        { atMs: 10_100, value: 1_000 },
        { atMs: 10_900, value: 3_000 },
        { atMs: 12_000, value: 500 },
      ],
      10_000,
      [50, 99],
    );
    assert.deepEqual(series, { p50: [1_000, null, 500], p99: [3_000, null, 500] });
  });
});

describe('which app each kill takes', () => {
  it('in turn: the apps in the order given, round and round, the same in every run', () => {
    const next = killSequence(['workflow', 'delivery', 'package'], 'in-turn');
    assert.deepEqual(Array.from({ length: 5 }, () => next()), ['workflow', 'delivery', 'package', 'workflow', 'delivery']);
  });

  it('at random: each kill drawn from all the apps', () => {
    const draws = [0.99, 0, 0.5];
    const next = killSequence(['a', 'b', 'c'], 'random', () => draws.shift() ?? 0);
    assert.deepEqual([next(), next(), next()], ['c', 'a', 'b']);
    assert.throws(() => killSequence([], 'in-turn'), /no app to kill/);
  });
});
