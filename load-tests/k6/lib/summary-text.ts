// The end-of-run text a k6 script prints. A `handleSummary` replaces k6's own summary, so the
// scripts print this one: the verdict first, then what each threshold measured, the deliveries,
// and each request kind. Plain code over the data k6 hands `handleSummary`, so Node tests check it.

/** One metric as k6 (v1) hands it to `handleSummary`. */
export interface SummaryMetric {
  readonly type: 'counter' | 'gauge' | 'rate' | 'trend';
  readonly contains: 'default' | 'time' | 'data';
  readonly values: Readonly<Record<string, number>>;
  readonly thresholds?: Readonly<Record<string, { readonly ok: boolean }>>;
}

export interface SummaryCheck {
  readonly name: string;
  readonly passes: number;
  readonly fails: number;
}

export interface SummaryGroup {
  readonly name?: string;
  readonly checks?: readonly SummaryCheck[];
  readonly groups?: readonly SummaryGroup[];
}

/** The part of k6's `handleSummary` data this formatter reads. */
export interface SummaryData {
  readonly metrics: Readonly<Record<string, SummaryMetric>>;
  readonly root_group?: SummaryGroup;
  readonly state?: { readonly testRunDurationMs?: number };
}

export interface SummaryContext {
  readonly script: string;
  readonly runId?: string;
  /** Request names (the `name` tag) to give a line each, in this order. */
  readonly requestNames: readonly string[];
}

/** Trend columns the scripts ask k6 for (`summaryTrendStats`); the formatter reads these. */
export const TREND_STATS = ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max', 'count'];

const AGGREGATE = /^\s*([a-z]+(?:\([\d.]+\))?)\s*(?:<=|>=|==|!=|<|>|===)/;

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1_000)}s`;
}

const percent = (rate: number) => (Number.isFinite(rate) ? `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 3 : 2)}%` : '-');
const count = (n: number | undefined) => (n === undefined ? '-' : Number.isInteger(n) ? String(n) : n.toFixed(2));

/** One aggregate of a metric as a person reads it: a duration, a percentage or a count. */
export function formatAggregate(metric: SummaryMetric, aggregate: string): string {
  const value = metric.values[aggregate];
  if (value === undefined) return 'not recorded';
  if (metric.type === 'rate' && aggregate === 'rate') return percent(value);
  if (metric.type === 'counter' && aggregate === 'rate') return `${value.toFixed(2)}/s`;
  if (metric.type === 'trend' && aggregate !== 'count' && metric.contains === 'time') return formatDuration(value);
  return count(value);
}

interface ThresholdLine {
  readonly metric: string;
  readonly expression: string;
  readonly ok: boolean;
  readonly actual: string;
}

function thresholdLines(data: SummaryData): ThresholdLine[] {
  const lines: ThresholdLine[] = [];
  for (const [name, metric] of Object.entries(data.metrics).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [expression, { ok }] of Object.entries(metric.thresholds ?? {})) {
      const aggregate = AGGREGATE.exec(expression)?.[1];
      lines.push({ metric: name, expression, ok, actual: aggregate === undefined ? '?' : formatAggregate(metric, aggregate) });
    }
  }
  return lines;
}

function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd());
}

function checksOf(group: SummaryGroup | undefined, path: string, out: [string, SummaryCheck][]): [string, SummaryCheck][] {
  if (group === undefined) return out;
  for (const c of group.checks ?? []) out.push([path, c]);
  for (const g of group.groups ?? []) checksOf(g, `${path}${g.name ?? ''} › `, out);
  return out;
}

/** The text summary of a run: verdict, thresholds, deliveries, requests, checks. */
export function summaryText(data: SummaryData, context: SummaryContext): string {
  const m = data.metrics;
  const value = (metric: string, aggregate: string) => m[metric]?.values[aggregate];
  const out: string[] = [];
  const duration = data.state?.testRunDurationMs;
  out.push(`${context.script}${context.runId !== undefined ? `, run ${context.runId}` : ''}${duration !== undefined ? `, ${formatDuration(duration)}` : ''}`);

  const thresholds = thresholdLines(data);
  const crossed = thresholds.filter((t) => !t.ok);
  out.push(
    crossed.length === 0
      ? `PASS: all ${thresholds.length} thresholds held`
      : `FAIL: ${crossed.length} of ${thresholds.length} thresholds crossed (${[...new Set(crossed.map((t) => t.metric))].join(', ')})`,
    '',
    'Thresholds (measured value in brackets)',
    ...table(thresholds.map((t) => [t.ok ? '✓' : '✗', t.metric, t.expression, `(${t.actual})`])),
  );

  const e2e = m.delivery_e2e_latency;
  out.push(
    '',
    'Deliveries',
    ...table([
      ['accepted', count(value('deliveries_accepted', 'count') ?? 0), 'submits answered 202'],
      ['completed', count(value('deliveries_completed', 'count') ?? 0), ''],
      ['cancelled', count(value('deliveries_cancelled', 'count') ?? 0), 'each after the client asked'],
      ['failed', count(value('deliveries_failed', 'count') ?? 0), ''],
      ['unfinished', count(value('deliveries_unfinished', 'count') ?? 0), 'accepted, not ended by the timeout or the end of the run'],
      ['as expected', m.deliveries_as_expected ? formatAggregate(m.deliveries_as_expected, 'rate') : '-', 'of ended deliveries: completed, or cancelled when asked'],
      ['dropped', count(value('dropped_iterations', 'count') ?? 0), 'arrivals k6 never started: no free VU'],
    ]),
  );
  if (e2e !== undefined) {
    out.push(`  end to end  p50 ${formatAggregate(e2e, 'med')}  p95 ${formatAggregate(e2e, 'p(95)')}  p99 ${formatAggregate(e2e, 'p(99)')}  max ${formatAggregate(e2e, 'max')}  (submit to Completed, polled)`);
  }

  const requestRows = context.requestNames.flatMap((name) => {
    const latency = m[`http_req_duration{name:${name}}`];
    const failed = m[`http_req_failed{name:${name}}`];
    const n = latency?.values.count ?? 0;
    if (latency === undefined || n === 0) return [];
    return [[name, count(n), failed ? `${count(failed.values.passes ?? 0)} (${formatAggregate(failed, 'rate')})` : '-', formatAggregate(latency, 'med'), formatAggregate(latency, 'p(95)'), formatAggregate(latency, 'p(99)'), formatAggregate(latency, 'max')]];
  });
  out.push('', "Requests (failed = an answer the request does not expect, a timeout or no connection; a poll's 404 is expected)");
  out.push(...table([['name', 'count', 'failed', 'p50', 'p95', 'p99', 'max'], ...requestRows]));

  const checks = checksOf(data.root_group, '', []);
  if (checks.length > 0) {
    out.push('', 'Checks', ...table(checks.map(([path, c]) => [c.fails === 0 ? '✓' : '✗', `${path}${c.name}`, `${c.passes}/${c.passes + c.fails}`])));
  }
  const vus = value('vus_max', 'max') ?? value('vus_max', 'value');
  const iterations = value('iterations', 'count');
  if (vus !== undefined || iterations !== undefined) out.push('', `iterations ${count(iterations ?? 0)}, VUs allocated at most ${count(vus ?? 0)}`);
  return `${out.join('\n')}\n`;
}
