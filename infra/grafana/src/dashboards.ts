import { DashboardBuilder, QueryVariableBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PROMETHEUS, series, stat } from './panels.js';

/** Deliveries per second by outcome and their end-to-end latency. */
export function overviewDashboard(): DashboardBuilder {
  const terminal = (to: string) => `sum(rate(rsm_transitions_total{type="DeliverySaga", to="${to}"}[1m])) or vector(0)`;
  const latency = (q: number) => `histogram_quantile(${q}, sum by (le) (rate(rsm_transition_age_seconds_bucket{type="DeliverySaga", to="Completed"}[5m])))`;
  return new DashboardBuilder('TailSpin overview')
    .uid('tailspin-overview')
    .tags(['tailspin'])
    .refresh('5s')
    .time({ from: 'now-30m', to: 'now' })
    .withPanel(stat('Accepted / s', 'reqps', { expr: 'sum(rate(rsm_transitions_total{type="DeliveryRequest", to="Forwarded"}[1m])) or vector(0)' }))
    .withPanel(stat('Completed / s', 'reqps', { expr: terminal('Completed') }))
    .withPanel(stat('Failed / s', 'reqps', { expr: terminal('Failed') }))
    .withPanel(stat('Cancelled / s', 'reqps', { expr: terminal('Cancelled') }))
    .withPanel(
      series('Deliveries per second', 'reqps', [
        { expr: 'sum(rate(rsm_transitions_total{type="DeliveryRequest", to="Forwarded"}[1m])) or vector(0)', legend: 'accepted' },
        { expr: terminal('Completed'), legend: 'completed' },
        { expr: terminal('Failed'), legend: 'failed' },
        { expr: terminal('Cancelled'), legend: 'cancelled' },
        // Intake refused with 429 while the suite was behind (admission control): load shed early.
        { expr: 'sum(rate(rsm_admission_refused_total[1m])) or vector(0)', legend: 'refused (429)' },
      ]),
    )
    .withPanel(
      series('End-to-end latency (request to Completed)', 's', [
        { expr: latency(0.5), legend: 'p50' },
        { expr: latency(0.95), legend: 'p95' },
        { expr: latency(0.99), legend: 'p99' },
      ]),
    )
    .withPanel(series('Saga transitions per second', 'ops', [{ expr: 'sum by (from, to) (rate(rsm_transitions_total{type="DeliverySaga"}[1m]))', legend: '{{from}} → {{to}}' }], 24));
}

/** The runtime under the suite: steps, latency, inbox/outbox, duplicates, redeliveries, dead letters, timers. */
export function runtimeDashboard(): DashboardBuilder {
  return new DashboardBuilder('RSM runtime')
    .uid('rsm-runtime')
    .tags(['tailspin', 'rsm'])
    .refresh('5s')
    .time({ from: 'now-30m', to: 'now' })
    .withRow(new RowBuilder('Steps'))
    .withPanel(series('Steps per second by outcome', 'ops', [{ expr: 'sum by (service, outcome) (rate(rsm_steps_total[1m]))', legend: '{{service}} {{outcome}}' }]))
    .withPanel(
      series('Step latency', 's', [
        { expr: 'histogram_quantile(0.99, sum by (le, service) (rate(rsm_step_duration_seconds_bucket[5m])))', legend: 'handler p99 {{service}}' },
        { expr: 'histogram_quantile(0.99, sum by (le, service) (rate(rsm_event_latency_seconds_bucket[5m])))', legend: 'accepted→committed p99 {{service}}' },
      ]),
    )
    .withPanel(series('Steps per transaction', 'none', [{ expr: 'sum by (service) (rate(rsm_batch_steps_sum[1m])) / sum by (service) (rate(rsm_batch_steps_count[1m]))', legend: '{{service}}' }]))
    .withPanel(series('Transaction duration p99', 's', [{ expr: 'histogram_quantile(0.99, sum by (le, service) (rate(rsm_batch_duration_seconds_bucket[5m])))', legend: '{{service}}' }]))
    .withPanel(series('Transactions of a hot machine alone per second', 'ops', [{ expr: 'sum by (service) (rate(rsm_hot_transactions_total[1m])) or vector(0)', legend: '{{service}}' }]))
    .withRow(new RowBuilder('Delivery'))
    .withPanel(
      series('Admission: how far behind (here or downstream) and refusals', 's', [
        { expr: 'max by (service) (rsm_admission_lag_seconds)', legend: 'lag {{service}}' },
        { expr: 'sum by (service) (rate(rsm_admission_refused_total[1m])) or vector(0)', legend: 'refused/s {{service}}' },
        { expr: 'sum by (service) (rate(rsm_admission_probes_total[1m])) or vector(0)', legend: 'probes/s {{service}}' },
      ]),
    )
    .withPanel(series('Inbox depth', 'short', [{ expr: 'max by (service) (rsm_inbox_depth)', legend: '{{service}}' }]))
    .withPanel(series('Oldest inbox event', 's', [{ expr: 'max by (service) (rsm_inbox_oldest_age_seconds)', legend: '{{service}}' }]))
    .withPanel(series('Outbox depth', 'short', [{ expr: 'max by (service) (rsm_outbox_depth)', legend: '{{service}}' }]))
    .withPanel(series('Oldest unacknowledged outbox event', 's', [{ expr: 'max by (service) (rsm_outbox_oldest_age_seconds)', legend: '{{service}}' }]))
    .withPanel(series('Events sent and received per second', 'ops', [
      { expr: 'sum by (service) (rate(rsm_messages_sent_total[1m]))', legend: 'sent by {{service}}' },
      { expr: 'sum by (service) (rate(rsm_messages_received_total[1m]))', legend: 'received by {{service}}' },
    ]))
    .withPanel(series('Duplicates dropped and redeliveries per second', 'ops', [
      { expr: 'sum by (service, source) (rate(rsm_duplicates_dropped_total[5m])) or vector(0)', legend: 'duplicates {{service}} {{source}}' },
      { expr: 'sum by (service, kind) (rate(rsm_redeliveries_total[5m])) or vector(0)', legend: 'redelivered {{service}} {{kind}}' },
    ]))
    .withRow(new RowBuilder('Failures, timers, activities'))
    .withPanel(series('Dead letters not redriven', 'short', [{ expr: 'max by (service) (rsm_dead_letters_open)', legend: '{{service}}' }]))
    .withPanel(series('Timers', 'short', [
      { expr: 'max by (service) (rsm_timers_pending)', legend: 'pending {{service}}' },
      { expr: 'sum by (service) (rate(rsm_timers_fired_total[1m]))', legend: 'fired/s {{service}}' },
    ]))
    .withPanel(series('Activity attempts per second', 'ops', [{ expr: 'sum by (service, activity, outcome) (rate(rsm_activity_attempts_total[1m])) or vector(0)', legend: '{{activity}} {{outcome}}' }], 24));
}

/** One app at a time (`app` variable): HTTP traffic, errors, latency, event loop lag, memory. */
export function serviceDashboard(): DashboardBuilder {
  const app = new QueryVariableBuilder('app').label('App').query('label_values(up{job="tailspin"}, app)').datasource(PROMETHEUS).current({ text: 'ingestion', value: 'ingestion' });
  return new DashboardBuilder('TailSpin service')
    .uid('tailspin-service')
    .tags(['tailspin'])
    .refresh('5s')
    .time({ from: 'now-30m', to: 'now' })
    .withVariable(app)
    .withPanel(series('HTTP requests per second by route', 'reqps', [{ expr: 'sum by (method, route) (rate(http_request_duration_seconds_count{app="$app"}[1m]))', legend: '{{method}} {{route}}' }]))
    .withPanel(series('HTTP errors per second', 'reqps', [
      { expr: 'sum(rate(http_request_duration_seconds_count{app="$app", status=~"5.."}[1m])) or vector(0)', legend: '5xx' },
      { expr: 'sum(rate(http_request_duration_seconds_count{app="$app", status=~"4.."}[1m])) or vector(0)', legend: '4xx' },
    ]))
    .withPanel(series('HTTP latency p99 by route', 's', [{ expr: 'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{app="$app"}[5m])))', legend: '{{route}}' }]))
    .withPanel(series('Event loop lag', 's', [
      { expr: 'max(nodejs_eventloop_lag_p99_seconds{app="$app"})', legend: 'p99' },
      { expr: 'max(nodejs_eventloop_lag_mean_seconds{app="$app"})', legend: 'mean' },
    ]))
    .withPanel(series('Memory', 'bytes', [
      { expr: 'max(process_resident_memory_bytes{app="$app"})', legend: 'resident' },
      { expr: 'max(nodejs_heap_size_used_bytes{app="$app"})', legend: 'heap used' },
    ]))
    .withPanel(series('CPU', 'percentunit', [{ expr: 'max(rate(process_cpu_seconds_total{app="$app"}[1m]))', legend: 'cpu' }]));
}

/** Every dashboard, by the file it is generated into. */
export const DASHBOARDS = {
  'tailspin-overview.json': overviewDashboard,
  'rsm-runtime.json': runtimeDashboard,
  'tailspin-service.json': serviceDashboard,
} as const;
