import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The runtime's Prometheus metrics, in one registry per process. Names carry the `rsm_` prefix and
 * base units; labels are bounded (service, machine type, event type, outcome), never ids.
 */
export class RsmMetrics {
  readonly steps: Counter<'service' | 'type' | 'event' | 'outcome'>;
  readonly stepDuration: Histogram<'service' | 'type'>;
  readonly eventLatency: Histogram<'service' | 'type'>;
  readonly transitions: Counter<'service' | 'type' | 'from' | 'to'>;
  readonly transitionAge: Histogram<'service' | 'type' | 'to'>;
  readonly batchSize: Histogram<'service'>;
  readonly batchDuration: Histogram<'service'>;
  readonly receiptJobs: Histogram<'service'>;
  readonly batchRetries: Counter<'service' | 'reason'>;
  readonly duplicatesDropped: Counter<'service' | 'source'>;
  readonly redeliveries: Counter<'service' | 'kind'>;
  readonly deadLetters: Counter<'service'>;
  readonly messagesSent: Counter<'service' | 'destination'>;
  readonly republishHeldBack: Counter<'service' | 'destination'>;
  readonly messagesReceived: Counter<'service'>;
  readonly timersFired: Counter<'service'>;
  readonly activityAttempts: Counter<'service' | 'activity' | 'outcome'>;
  readonly inboxDepth: Gauge<'service'>;
  readonly inboxOldestAge: Gauge<'service'>;
  readonly outboxDepth: Gauge<'service'>;
  readonly outboxOldestAge: Gauge<'service'>;
  readonly timersPending: Gauge<'service'>;
  readonly deadLettersOpen: Gauge<'service'>;
  readonly activitiesPending: Gauge<'service'>;
  readonly transportRefused: Counter<'service' | 'channel' | 'reason'>;
  readonly gapPairs: Gauge<'service'>;
  readonly reorderOldestAge: Gauge<'service'>;
  readonly gapsSkipped: Counter<'service'>;
  readonly transportPublished: Counter<'service' | 'channel'>;
  readonly admissionRefused: Counter<'service'>;
  readonly admissionProbes: Counter<'service'>;
  readonly admissionLag: Gauge<'service'>;
  readonly hotTransactions: Counter<'service'>;
  readonly retentionDeleted: Counter<'service' | 'table'>;
  readonly sequenceCounters: Gauge<'service' | 'side'>;
  readonly stepsDeferred: Counter<'service' | 'type' | 'reason'>;
  readonly machinesMigrated: Counter<'service' | 'type' | 'from'>;

  constructor(readonly registry: Registry) {
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (registry.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge<L>({ name, help, labelNames, registers: [registry] });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      (registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
    const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    this.steps = counter('rsm_steps_total', 'Events handled, by outcome (ok, rejected, failed, dead_lettered).', ['service', 'type', 'event', 'outcome']);
    this.stepDuration = histogram('rsm_step_duration_seconds', 'Time spent in one handler.', ['service', 'type'], seconds);
    this.eventLatency = histogram('rsm_event_latency_seconds', 'Time from an event being accepted to its step committing.', ['service', 'type'], seconds);
    this.transitions = counter('rsm_transitions_total', 'Committed state changes, by machine type and states.', ['service', 'type', 'from', 'to']);
    this.transitionAge = histogram(
      'rsm_transition_age_seconds',
      'Age of a machine when it entered a state (for a workflow entering its final state: its end-to-end duration).',
      ['service', 'type', 'to'],
      [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 600, 1800],
    );
    this.batchSize = histogram('rsm_batch_steps', 'Steps committed by one step transaction.', ['service'], [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    this.receiptJobs = histogram('rsm_receipt_jobs', 'Inbound queue jobs taken by one receipt transaction (more than one under load).', ['service'], [1, 2, 4, 8, 16, 32]);
    this.batchDuration = histogram('rsm_batch_duration_seconds', 'Duration of one step transaction, commit included.', ['service'], seconds);
    this.batchRetries = counter('rsm_batch_retries_total', 'Step transactions run again after a database failure.', ['service', 'reason']);
    this.duplicatesDropped = counter('rsm_duplicates_dropped_total', 'Deliveries dropped as duplicates (by pair sequence or idempotency key).', ['service', 'source']);
    this.redeliveries = counter('rsm_redeliveries_total', 'Messages published again because no acknowledgement came, and drains re-run by recovery.', ['service', 'kind']);
    this.deadLetters = counter('rsm_dead_letters_total', 'Events moved to dead letters.', ['service']);
    this.messagesSent = counter('rsm_messages_sent_total', 'Events published to other services.', ['service', 'destination']);
    this.republishHeldBack = counter('rsm_republish_held_back_total', 'Overdue events not published again because the destination queue held delivery.maxQueuedJobs jobs.', ['service', 'destination']);
    this.messagesReceived = counter('rsm_messages_received_total', 'Events from other services accepted into the inbox.', ['service']);
    this.timersFired = counter('rsm_timers_fired_total', 'Timer firings delivered to inboxes.', ['service']);
    this.activityAttempts = counter('rsm_activity_attempts_total', 'Activity attempts, by outcome.', ['service', 'activity', 'outcome']);
    this.inboxDepth = gauge('rsm_inbox_depth', 'Events waiting in inboxes (capped at 100000).', ['service']);
    this.inboxOldestAge = gauge('rsm_inbox_oldest_age_seconds', 'Age of the oldest waiting event.', ['service']);
    this.outboxDepth = gauge('rsm_outbox_depth', 'Events not yet acknowledged by their receiving service (capped at 100000).', ['service']);
    this.outboxOldestAge = gauge('rsm_outbox_oldest_age_seconds', 'Age of the oldest unacknowledged event.', ['service']);
    this.timersPending = gauge('rsm_timers_pending', 'Timers started and not yet fired or cancelled.', ['service']);
    this.deadLettersOpen = gauge('rsm_dead_letters_open', 'Dead letters not redriven (capped at 100000).', ['service']);
    this.transportRefused = counter(
      'rsm_transport_refused_total',
      'Items read from Redis and dropped unread: bad signature, malformed, expired (replayed) or addressed elsewhere.',
      ['service', 'channel', 'reason'],
    );
    this.activitiesPending = gauge('rsm_activities_pending', 'Activity calls not yet completed.', ['service']);
    this.gapPairs = gauge(
      'rsm_gap_pairs',
      'Sender/receiver pairs whose next sequence number has been missing longer than delivery.gapAfterMs (later messages wait in the reorder buffer).',
      ['service'],
    );
    this.reorderOldestAge = gauge('rsm_reorder_oldest_age_seconds', 'Age of the oldest message waiting in the reorder buffer for a missing sequence number.', ['service']);
    this.retentionDeleted = counter('rsm_retention_deleted_total', 'Rows the janitor deleted past their retention, by table.', ['service', 'table']);
    this.sequenceCounters = gauge('rsm_sequence_counters', 'Per-pair sequence counters kept (planner estimate, no scan), by side: send or receive.', ['service', 'side']);
    this.transportPublished = counter(
      'rsm_transport_published_total',
      'Items put in Redis: jobs on inbound and drain queues (drains may coalesce in Redis), acknowledgements and replies on channels.',
      ['service', 'channel'],
    );
    this.hotTransactions = counter('rsm_hot_transactions_total', 'Step transactions that stepped one hot machine alone (batch.hotEvents).', ['service']);
    this.admissionRefused = counter('rsm_admission_refused_total', 'Work from outside refused because this service or one downstream is behind (admission.maxLagMs).', ['service']);
    this.admissionProbes = counter('rsm_admission_probes_total', 'Work from outside let through while behind, to ask again a downstream service whose report was not renewed (admission.probeAfterMs).', ['service']);
    this.admissionLag = gauge(
      'rsm_admission_lag_seconds',
      'How long events wait before being handled, here or downstream (the largest fresh p90): what admission compares with admission.maxLagMs.',
      ['service'],
    );
    this.stepsDeferred = counter(
      'rsm_steps_deferred_total',
      'Machines this process left unstepped, their events kept in the inbox for another process: reason newer_version (stored by a newer definition: a rolling deploy in progress) or no_migration (no migration leads to this definition).',
      ['service', 'type', 'reason'],
    );
    this.machinesMigrated = counter('rsm_machines_migrated_total', 'Machines migrated to the running definition version (by their next step, or at rest), by the version they were stored at.', ['service', 'type', 'from']);
    this.gapsSkipped = counter('rsm_gaps_skipped_total', 'Gaps an operator skipped (their missing messages given up, with a record).', ['service']);
  }
}
