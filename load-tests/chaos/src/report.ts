/**
 * The chaos report: a JSON data model (report.json) and a self-contained HTML page rendered from it
 * (report.html), its charts drawn by uPlot, inlined so the page needs no network.
 *
 * The model is a list of sections per run (and for the whole report), each a time series or a
 * table: a new kind of finding (say, hostile requests by route and status) is one more section,
 * rendered by the same code.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ChaosEvent, ChaosRun } from './chaos-experiment.js';

/** A vertical mark on a time series: a disruption at a second since the load started. */
export interface ReportMark {
  readonly atS: number;
  /** `kill`, `redis`, `postgres` (a known kind gets its own colour and legend entry), or another. */
  readonly kind: string;
  /** Short text drawn beside the mark. */
  readonly label: string;
}

export interface ReportSeries {
  readonly label: string;
  readonly color: string;
  /** Dashed, so a line that often equals another (p99 at a low rate equals p95) leaves it visible. */
  readonly dashed?: boolean;
  /** One value per second of the section's `seconds`; null where there is no value (a gap). */
  readonly values: readonly (number | null)[];
}

export interface TimeSeriesSection {
  readonly kind: 'timeseries';
  readonly title: string;
  /** How to read it, one or two sentences under the title. */
  readonly note?: string;
  /** The y axis: what is counted and in which unit. */
  readonly yLabel: string;
  /** Digits after the point in the legend's values. */
  readonly decimals: number;
  /** Seconds since the load started: the x values of every series. */
  readonly seconds: readonly number[];
  readonly series: readonly ReportSeries[];
  readonly marks: readonly ReportMark[];
}

export interface TableSection {
  readonly kind: 'table';
  readonly title: string;
  readonly note?: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export type ReportSection = TimeSeriesSection | TableSection;

/** A run's measurements, less the per-request detail report.json leaves out. */
export type RunMeasurements = Omit<ChaosRun, 'load'> & { readonly load: Omit<ChaosRun['load'], 'acceptanceLatenciesMs' | 'firstAttemptAt'> };

/** One run as report.json has it: the run's measurements, and the sections the page shows. */
export type RunReport = RunMeasurements & { readonly sections: ReportSection[] };

export interface ChaosReport {
  readonly schemaVersion: 1;
  readonly generatedAt: string;
  /** Completed per second, chaos run / no-chaos run, when both ran. */
  readonly ratio: number | undefined;
  /** Sections about the whole report, shown before the runs. */
  readonly sections: ReportSection[];
  readonly runs: RunReport[];
}

/** How each known kind of disruption is drawn. */
export const MARK_STYLES: Readonly<Record<string, { color: string; legend: string }>> = {
  kill: { color: '#d62728', legend: 'an app killed' },
  redis: { color: '#9467bd', legend: 'Redis flushed (all data lost)' },
  postgres: { color: '#e377c2', legend: 'Postgres restarted' },
};
const OTHER_MARK = { color: '#7f7f7f', legend: 'other disruption' };

export function markFor(event: ChaosEvent): ReportMark {
  const failed = event.what.startsWith('failed:');
  const label = event.kind === 'kill' ? (event.what.split(':')[0] ?? 'kill') : event.kind === 'redis' ? 'Redis flush' : event.kind === 'postgres' ? 'Postgres restart' : event.kind;
  return { atS: event.atS, kind: event.kind, label: failed ? `${label} (failed)` : label };
}

const pad = <T>(values: readonly T[], length: number, fill: T): T[] => [...values, ...Array.from<T>({ length: Math.max(0, length - values.length) }).fill(fill)];
const toSeconds = (ms: number | null | undefined) => (ms === null || ms === undefined || !Number.isFinite(ms) ? null : ms / 1_000);

/** The sections of one run: throughput and end-to-end latency over time, disruptions marked. */
export function runSections(run: RunMeasurements): ReportSection[] {
  const latency = run.e2eBySecondMs;
  const length = Math.max(1, run.load.acceptedPerSecond.length, run.completedPerSecond.length, run.load.refusedPerSecond.length, ...Object.values(latency).map((v) => v.length));
  const seconds = Array.from({ length }, (_, s) => s);
  const marks = run.events.map(markFor);
  return [
    {
      kind: 'timeseries',
      title: 'Deliveries per second',
      note: 'Accepted: submits answered 202. Completed: deliveries of this run reaching Completed, by the second they did. Refused: submit attempts answered otherwise or not at all (the client retries them). After a kill, completed dips while the app restarts and then runs above accepted while the backlog is worked off.',
      yLabel: 'deliveries (attempts) per second',
      decimals: 0,
      seconds,
      series: [
        { label: 'accepted', color: '#1f77b4', values: pad(run.load.acceptedPerSecond, length, 0) },
        { label: 'completed', color: '#2ca02c', values: pad(run.completedPerSecond, length, 0) },
        { label: 'refused', color: '#ff7f0e', values: pad(run.load.refusedPerSecond, length, 0) },
      ],
      marks,
    },
    {
      kind: 'timeseries',
      title: 'End-to-end latency',
      note: 'From the first submit attempt to Completed, for the deliveries that completed in each second (p50, p95, p99). A gap is a second in which nothing completed.',
      yLabel: 'seconds',
      decimals: 2,
      seconds,
      series: [
        { label: 'p50', color: '#17becf', values: pad((latency.p50 ?? []).map(toSeconds), length, null) },
        { label: 'p95', color: '#bcbd22', values: pad((latency.p95 ?? []).map(toSeconds), length, null) },
        { label: 'p99', color: '#8c564b', dashed: true, values: pad((latency.p99 ?? []).map(toSeconds), length, null) },
      ],
      marks,
    },
  ];
}

/** Hostile requests by route and status: every one must be a 4xx (0: no answer while an app restarted). */
export function hostileSection(hostile: NonNullable<ChaosRun['hostile']>): TableSection {
  const statuses = [...new Set(Object.values(hostile.byRoute).flatMap((tally) => Object.keys(tally)))].sort();
  return {
    kind: 'table',
    title: `Hostile requests: ${hostile.sent} sent, ${hostile.serverErrors} answered 5xx, ${hostile.accepted} accepted`,
    note: 'Requests an attacker or a broken client would send, aimed at this run\'s deliveries. Each must be refused with a 4xx; 503 (with Retry-After) is allowed only while a datastore is down, status 0 means no answer (the app was being killed).' + (hostile.examples.length > 0 ? ` Failures: ${hostile.examples.join(' | ')}` : ''),
    columns: ['route', ...statuses, 'total'],
    rows: Object.entries(hostile.byRoute)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([route, tally]) => [route, ...statuses.map((status) => tally[status] ?? 0), Object.values(tally).reduce((a, b) => a + b, 0)]),
  };
}

/** The report's data model, from the runs (no-chaos first, if any). */
export function buildReport(runs: readonly ChaosRun[], generatedAt: Date): ChaosReport {
  const baseline = runs.find((r) => r.events.length === 0);
  const chaos = runs.find((r) => r.events.length > 0);
  const ratio = baseline !== undefined && chaos !== undefined && baseline.completedRate > 0 ? chaos.completedRate / baseline.completedRate : undefined;
  return {
    schemaVersion: 1,
    generatedAt: generatedAt.toISOString(),
    ratio,
    sections: [],
    runs: runs.map(({ load: { acceptanceLatenciesMs: _latencies, firstAttemptAt: _first, ...load }, ...rest }) => {
      const run: RunMeasurements = { ...rest, load };
      return { ...run, sections: [...runSections(run), ...(run.hostile !== undefined ? [hostileSection(run.hostile)] : [])] };
    }),
  };
}

/** The chart library, inlined into the page. */
export interface ChartAssets {
  readonly script: string;
  readonly css: string;
}

export function uplotAssets(): ChartAssets {
  const require = createRequire(import.meta.url);
  return { script: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8') };
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** JSON that cannot end the <script> element it sits in. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const ms = (value: number) => (Number.isFinite(value) ? (value < 1_000 ? `${value.toFixed(0)} ms` : `${(value / 1_000).toFixed(2)} s`) : '-');

// Runs in the page: one uPlot per time-series section, the disruptions drawn as dashed lines with
// their labels, cursors synced across the charts of a page.
const BOOTSTRAP = `
(function () {
  var charts = JSON.parse(document.getElementById('report-data').textContent);
  var dpr = window.devicePixelRatio || 1;
  function drawMarks(u, marks, styles) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    ctx.font = Math.round(11 * dpr) + 'px sans-serif';
    marks.forEach(function (m, i) {
      var x = Math.round(u.valToPos(m.atS, 'x', true));
      var color = (styles[m.kind] || styles.other).color;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 1.5 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillText(m.label, x + 3 * dpr, top + (12 + 13 * (i % 4)) * dpr);
    });
    ctx.restore();
  }
  charts.forEach(function (c) {
    var s = c.section;
    var fmt = function (u, v) { return v == null ? '-' : v.toFixed(s.decimals); };
    var options = {
      width: Math.min(920, document.body.clientWidth - 20),
      height: 280,
      cursor: { sync: { key: 'report' } },
      scales: { x: { time: false } },
      axes: [{ label: 'seconds since the load started' }, { label: s.yLabel }],
      series: [{ label: 'second', value: function (u, v) { return v == null ? '-' : v + ' s'; } }].concat(s.series.map(function (series) {
        return { label: series.label, stroke: series.color, width: 2, dash: series.dashed ? [8, 5] : undefined, spanGaps: false, value: fmt };
      })),
      hooks: { draw: [function (u) { drawMarks(u, s.marks, c.markStyles); }] },
    };
    new uPlot(options, [s.seconds].concat(s.series.map(function (series) { return series.values; })), document.getElementById(c.elementId));
  });
})();
`;

function renderSection(section: ReportSection, elementId: string, charts: unknown[]): string {
  const head = `<h3>${escapeHtml(section.title)}</h3>${section.note !== undefined ? `<p class="note">${escapeHtml(section.note)}</p>` : ''}`;
  if (section.kind === 'table') {
    const header = section.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
    const rows = section.rows.map((row) => `<tr>${row.map((cell) => `<td${typeof cell === 'number' ? ' class="num"' : ''}>${escapeHtml(String(cell))}</td>`).join('')}</tr>`).join('');
    return `${head}<table><thead><tr>${header}</tr></thead><tbody>${rows}</tbody></table>`;
  }
  const kinds = [...new Set(section.marks.map((m) => m.kind))];
  const markLegend = kinds.map((k) => {
    const style = MARK_STYLES[k] ?? OTHER_MARK;
    return `<span class="mark" style="border-color:${style.color}"></span>${escapeHtml(style.legend)}`;
  });
  charts.push({ elementId, section, markStyles: { ...MARK_STYLES, other: OTHER_MARK } });
  return `${head}<div class="chart" id="${elementId}"></div><p class="marks">${markLegend.length > 0 ? `dashed lines: ${markLegend.join(' ')}` : 'no disruptions'}</p>`;
}

/** The self-contained page: headline figures, charts and tables, invariants, disruptions. */
export function renderReportHtml(report: ChaosReport, assets: ChartAssets): string {
  const charts: unknown[] = [];
  const global = report.sections.map((section, i) => renderSection(section, `chart-report-${i}`, charts)).join('');
  const runs = report.runs.map((run, r) => {
    const headline = [
      `accepted ${run.load.accepted}`,
      `gave up ${run.load.gaveUp}`,
      `refused attempts ${run.load.refusedPerSecond.reduce((a, b) => a + b, 0)}`,
      `completed ${run.completedRate.toFixed(2)}/s`,
      `acceptance p99 ${ms(run.acceptanceP99Ms)}`,
      `end to end p50 ${ms(run.e2eMs.p50)}, p95 ${ms(run.e2eMs.p95)}, p99 ${ms(run.e2eMs.p99)}`,
      `quiet afterwards: ${run.quiet ? 'yes' : 'NO'}`,
    ].join(' · ');
    const sections = run.sections.map((section, i) => renderSection(section, `chart-${r}-${i}`, charts)).join('');
    const verdict = run.results
      .map((x) => `<li class="${x.ok ? 'ok' : 'fail'}">${x.ok ? 'PASS' : 'FAIL'} ${x.id}. ${escapeHtml(x.name)} <small>${escapeHtml(JSON.stringify(x.counts))}</small>${x.problems.map((p) => `<br><small>${escapeHtml(p)}</small>`).join('')}</li>`)
      .join('');
    const events = run.events.map((e) => `<li>${e.atS} s: ${escapeHtml(e.what)}</li>`).join('');
    return `<section id="run-${r}"><h2>${escapeHtml(run.label)}</h2><p class="headline">${escapeHtml(headline)}</p>${sections}<h3>Invariants</h3><ul class="invariants">${verdict}</ul><h3>Disruptions</h3><ul>${events || '<li>none</li>'}</ul></section>`;
  });
  const ratio = report.ratio !== undefined ? `<p class="ratio">completed per second, chaos / no chaos: <b>${report.ratio.toFixed(2)}</b></p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TailSpin chaos report</title>
<style>${assets.css}
body{font-family:system-ui,sans-serif;max-width:960px;margin:1em auto;padding:0 10px;color:#222}
.note,.marks{color:#555;font-size:0.9em;margin:0.2em 0}.headline{font-size:0.95em}
.ok{color:#1a7f37}.fail{color:#c00;font-weight:bold}.invariants small{color:#555}
.mark{display:inline-block;width:18px;height:0;border-top:2px dashed;vertical-align:middle;margin:0 4px 0 10px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}td.num{text-align:right}
</style></head><body>
<h1>TailSpin chaos report</h1><p class="note">generated ${escapeHtml(report.generatedAt)}</p>${ratio}${global}${runs.join('')}
<script>${assets.script}</script>
<script type="application/json" id="report-data">${scriptJson(charts)}</script>
<script>${BOOTSTRAP}</script>
</body></html>
`;
}

/** Writes report.json (the model) and report.html (rendered from it) into `dir`. */
export function writeReport(dir: string, runs: readonly ChaosRun[], generatedAt = new Date()): { json: string; html: string; ratio: number | undefined; report: ChaosReport } {
  const report = buildReport(runs, generatedAt);
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  const html = join(dir, 'report.html');
  writeFileSync(html, renderReportHtml(report, uplotAssets()));
  return { json, html, ratio: report.ratio, report };
}
