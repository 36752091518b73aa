// The end-of-run text the k6 scripts print, from data shaped as k6 v1 hands it to handleSummary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAggregate, formatDuration, summaryText, type SummaryData, type SummaryMetric } from '../../load-tests/k6/lib/summary-text.js';

const trend = (values: Record<string, number>, thresholds?: Record<string, { ok: boolean }>): SummaryMetric => ({ type: 'trend', contains: 'time', values, ...(thresholds ? { thresholds } : {}) });
const counter = (n: number, thresholds?: Record<string, { ok: boolean }>): SummaryMetric => ({ type: 'counter', contains: 'default', values: { count: n, rate: n / 30 }, ...(thresholds ? { thresholds } : {}) });
const rate = (passes: number, fails: number, thresholds?: Record<string, { ok: boolean }>): SummaryMetric => ({
  type: 'rate',
  contains: 'default',
  values: { rate: passes / (passes + fails), passes, fails },
  ...(thresholds ? { thresholds } : {}),
});

/** The throughput run at 10/s, with the dropped arrivals it reported. */
const run: SummaryData = {
  state: { testRunDurationMs: 158_400 },
  root_group: {
    name: '',
    checks: [
      { name: 'submit: 202', passes: 257, fails: 0 },
      { name: 'duplicate: same 202, nothing created', passes: 25, fails: 1 },
    ],
    groups: [],
  },
  metrics: {
    deliveries_accepted: counter(257),
    deliveries_completed: counter(244),
    deliveries_cancelled: counter(13),
    deliveries_unfinished: counter(0, { 'count==0': { ok: true } }),
    dropped_iterations: counter(44),
    'dropped_iterations{scenario:deliveries}': counter(44, { 'count==0': { ok: false } }),
    deliveries_as_expected: rate(257, 0, { 'rate>0.999': { ok: true } }),
    delivery_e2e_latency: trend({ avg: 8_900, min: 4_100, med: 8_600, 'p(95)': 10_200, 'p(99)': 11_900, max: 16_700, count: 244 }),
    'http_req_duration{name:submit}': trend({ avg: 40, min: 9, med: 31, 'p(95)': 82, 'p(99)': 140, max: 210, count: 257 }, { 'p(99)<200': { ok: true } }),
    'http_req_duration{name:poll}': trend({ avg: 12, min: 2, med: 9, 'p(95)': 30, 'p(99)': 55, max: 90, count: 4_400 }),
    'http_req_failed{name:poll}': rate(3, 4_397),
    'http_req_duration{name:cancel}': trend({ avg: 20, min: 9, med: 18, 'p(95)': 30, 'p(99)': 31, max: 31, count: 0 }),
    http_req_failed: rate(3, 4_700, { 'rate<0.001': { ok: true } }),
    vus_max: { type: 'gauge', contains: 'default', values: { value: 1_305, min: 200, max: 1_305 } },
    iterations: counter(257),
  },
};
const context = { script: 'throughput', runId: 'mf3k2a1b7q', requestNames: ['submit', 'duplicate', 'cancel', 'poll'] };

describe('k6 text summary', () => {
  const text = summaryText(run, context);
  const lines = text.split('\n');

  it('opens with the script, the run id and the verdict, naming the crossed threshold', () => {
    assert.equal(lines[0], 'throughput, run mf3k2a1b7q, 2m38s');
    assert.equal(lines[1], 'FAIL: 1 of 5 thresholds crossed (dropped_iterations{scenario:deliveries})');
  });

  it('shows each threshold with the value it measured', () => {
    const dropped = lines.find((l) => l.includes('dropped_iterations{scenario:deliveries}') && l.includes('count==0'));
    assert.match(dropped ?? '', /^\s+✗ .*\(44\)$/);
    assert.match(lines.find((l) => l.includes('p(99)<200')) ?? '', /✓ .*\(140 ms\)$/);
    assert.match(lines.find((l) => l.includes('rate<0.001')) ?? '', /\(0\.064%\)$/);
  });

  it('counts the deliveries and gives end-to-end percentiles in seconds', () => {
    assert.match(text, /accepted\s+257/);
    assert.match(text, /completed\s+244/);
    assert.match(text, /cancelled\s+13/);
    assert.match(text, /unfinished\s+0/);
    assert.match(text, /dropped\s+44/);
    assert.match(text, /end to end {2}p50 8\.60 s {2}p95 10\.2 s {2}p99 11\.9 s {2}max 16\.7 s/);
  });

  it('gives each request kind a line with its real failures, and leaves out kinds never sent', () => {
    const poll = lines.find((l) => /^\s+poll\s/.test(l));
    assert.match(poll ?? '', /poll\s+4400\s+3 \(0\.068%\)\s+9 ms\s+30 ms\s+55 ms\s+90 ms/);
    assert.ok(!lines.some((l) => /^\s+cancel\s/.test(l)), 'cancel had no requests');
    assert.ok(!lines.some((l) => /^\s+duplicate\s/.test(l)), 'duplicate had no sub-metric');
  });

  it('lists the checks with passes out of runs, marking the one that failed', () => {
    assert.match(lines.find((l) => l.includes('submit: 202')) ?? '', /^\s+✓\s+submit: 202\s+257\/257$/);
    assert.match(lines.find((l) => l.includes('duplicate: same 202')) ?? '', /^\s+✗\s+duplicate: same 202, nothing created\s+25\/26$/);
  });

  it('says PASS when every threshold held', () => {
    const passing = { ...run, metrics: { ...run.metrics, 'dropped_iterations{scenario:deliveries}': counter(0, { 'count==0': { ok: true } }) } };
    assert.equal(summaryText(passing, context).split('\n')[1], 'PASS: all 5 thresholds held');
  });
});

describe('k6 summary values', () => {
  it('formats durations as a person reads them', () => {
    assert.equal(formatDuration(82.4), '82 ms');
    assert.equal(formatDuration(8_600), '8.60 s');
    assert.equal(formatDuration(16_700), '16.7 s');
    assert.equal(formatDuration(158_400), '2m38s');
  });

  it('reads a rate metric as a percentage and a counter\'s rate per second', () => {
    assert.equal(formatAggregate(rate(1, 3), 'rate'), '25.00%');
    assert.equal(formatAggregate(counter(60), 'rate'), '2.00/s');
    assert.equal(formatAggregate(counter(60), 'p(99)'), 'not recorded');
  });
});
