import type { Pool, PoolClient } from 'pg';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { ActivityRunner } from '../activities/activity-runner.js';
import { HolderLock } from '../store/holder-lock.js';
import { DEFAULT_ACTIVITY_RETRY, retryPolicyProblem, type AnyActivityDefinition } from '../definition/activity.js';
import { BullmqTransport, type RefusalReason, type TransportChannel } from '../delivery/bullmq-transport.js';
import type { GapNumbers, InboundJob } from '../core/messages.js';
import { InboundReceiver, type GapSkipResult, type ReceiveResult } from '../store/inbound-store.js';
import { MaintenanceStore } from '../store/maintenance-store.js';
import { OutboxRelay } from '../delivery/outbox-relay.js';
import { waitForRedis } from '../delivery/redis-startup.js';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import { describeError } from '../definition/step-executor.js';
import { compositeKey, invalidIdReason, machineKey, type Json, type EventTo, type MachineRef, type ReplyMap, type ReplyOf, type RsmEvent } from '../definition/types.js';
import type { DeadLetterRow } from '../store/entities/rsm-entities.js';
import { createRsmDataSource, initializeRsmDataSource, poolOf } from '../store/data-source.js';
import { tableNames, type TableNames } from '../store/table-names.js';
import { AdminStore, type AdminActor, type AdminPage, type AuditEntry, type DeadLetterFilter, type GapView, type LetterResult, type MachineCount, type MachineFilter, type MachineInspection, type MachineView } from '../store/admin-store.js';
import { TimerPoller } from '../timers/timer-poller.js';
import { RsmMetrics } from '../metrics/rsm-metrics.js';
import type { KeyedReply } from '../core/messages.js';
import { newEventId, type BatchResult } from '../planning/step-planner.js';
import { migrateMachine, versionProblems, type StoredVersionCount } from '../planning/versioning.js';
import { VersionStore } from '../store/version-store.js';
import { BatchExecutor } from './batch-executor.js';
import type { CrashHook } from '../core/crash-points.js';
import { InboundBatcher } from './inbound-batcher.js';
import { Dispatcher } from './dispatcher.js';
import { Deadline, withDeadline } from '../core/deadline.js';
import { GapChangedError, PostgresUnavailableError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmOverloadedError, RsmTimeoutError, RsmUnsafeVersionError, RuntimeStoppedError } from '../core/errors.js';
import { LoadMonitor, type LoadView } from './load-monitor.js';
import { isConnectionFailure } from '../store/pg-errors.js';
import type { Transaction } from '../store/transaction.js';
import type { IntakeItem, IntakeResult } from '../planning/intake.js';
import { defaultLogger, type RsmLogger } from '../core/logger.js';
import { MachineRegistry, type EventContracts } from '../planning/machine-registry.js';
import { IdleBackoff, PeriodicTask } from './periodic-task.js';
import { parseRsmOptions, RsmConfigError, type RsmOptions, type RsmOptionsInput } from '../core/rsm-options.js';

export type { GapView, MachineInspection, MachineView } from '../store/admin-store.js';

/** What the runtime is built from besides its options. */
export interface RsmRuntimeDeps {
  readonly machines?: readonly AnyMachineDefinition[];
  readonly activities?: readonly AnyActivityDefinition[];
  /** The service's DataSource; built from the options when absent. */
  readonly dataSource?: DataSource;
  readonly logger?: RsmLogger;
  /** The process's Prometheus registry; a new one when absent. */
  readonly metricsRegistry?: Registry;
  /** Crash tests only: called at each named crash point. */
  readonly crashHook?: CrashHook;
  /**
   * Schemas every event must meet before its handler runs, by machine type and event type (any
   * Standard Schema: zod, valibot...). An event that fails becomes a dead letter with the reason
   * (a request is refused with RequestRejectedError).
   */
  readonly contracts?: EventContracts;
}

export interface SendOptions {
  /** Idempotency key: a second event with the same key changes nothing. */
  readonly key?: string;
  /**
   * Work from outside that may wait: refuse it with RsmOverloadedError (writing nothing) while the
   * deployment is behind by more than `admission.maxLagMs`. Leave it off for work that sheds load
   * (a cancel) or that a machine already waits for.
   */
  readonly admission?: boolean;
}

export interface RequestOptions extends SendOptions {
  readonly timeoutMs?: number;
}

/**
 * `ok`: everything answers. `degraded`: Postgres answers but Redis or the relay does not; the pod
 * still serves (intake commits to Postgres, local steps run, the outbox keeps cross-service events
 * until the sweeper can publish them), so it stays ready. `error`: stopped, or Postgres does not
 * answer within `calls.healthTimeoutMs`: nothing can be served.
 */
export interface HealthReport {
  readonly status: 'ok' | 'degraded' | 'error';
  readonly checks: { readonly postgres: boolean; readonly redis: boolean; readonly relay: boolean; readonly running: boolean };
}

/** Machines of one type by stored definition version, as `versions()` reports them. */
export interface TypeVersions {
  readonly type: string;
  /** The version this process runs, or null when it does not run the type. */
  readonly running: number | null;
  /** The oldest stored version it migrates from, or null. */
  readonly migratesFrom: number | null;
  readonly stored: readonly {
    readonly version: number;
    readonly machines: number;
    /** Of those, halted (they take no step and are never migrated). */
    readonly halted: number;
    readonly handling: 'current' | 'migrates' | 'newer' | 'no-migration' | 'not-run-here';
  }[];
}

/** What `skipGap` did. */
export interface GapSkip {
  readonly epoch: number;
  readonly fromSeq: number;
  readonly toSeq: number;
  /** Buffered messages now in the inbox. */
  readonly released: number;
  /** True when this very skip was recorded before (a repeat whose first answer was lost): nothing was done now. */
  readonly repeated?: true;
}

interface Waiter {
  resolve(value: Json | undefined): void;
  reject(error: Error): void;
  ref: MachineRef;
}

/**
 * The Reliable State Machines runtime of one service process: it steps the service's machines,
 * delivers their events within and across services, fires their timers, runs their activities, and
 * answers callers. Every guarantee of the contract rests on Postgres transactions; Redis only
 * carries messages and rings doorbells.
 *
 * @example
 * const rsm = new RsmRuntime({ service: 'counter', postgres: { url }, redis: { url } }, { machines: [Counter] });
 * await rsm.start();
 * await rsm.create({ type: 'Counter', id: 'c1' }, { type: 'Add', n: 0 });
 * const total = await rsm.request({ type: 'Counter', id: 'c1' }, { type: 'Add', n: 2 });
 */
export class RsmRuntime {
  readonly options: RsmOptions;
  private readonly registry: MachineRegistry;
  readonly metrics: RsmMetrics;
  readonly dataSource: DataSource;
  readonly logger: RsmLogger;
  private readonly tables: TableNames;
  private readonly activityList: AnyActivityDefinition[] = [];
  /** The one-off publish of the outbox found at start (awaited by `stop`). */
  private startSweep: Promise<void> = Promise.resolve();
  /** The activity holder lock, while this process runs activities. */
  private holderLock: HolderLock | undefined;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly tasks: PeriodicTask[] = [];
  private replyCheck: PeriodicTask | undefined;
  private readonly refusalLog = new Map<string, { at: number; suppressed: number }>();
  /** Kinds of deferral (type and reason) already logged: each is logged once, then only counted. */
  private readonly deferralsLogged = new Set<string>();
  /** Per type, the stored definition versions this process steps: from the oldest it migrates to the one it runs. */
  private steppableVersions: { type: string; oldest: number; current: number }[] = [];
  /** How far behind this service and those downstream are: what `admission` decides on. */
  private readonly load: LoadMonitor;
  private poolRef: Pool | undefined;
  private parts:
    | {
        transport: BullmqTransport;
        executor: BatchExecutor;
        dispatcher: Dispatcher;
        receiver: InboundReceiver;
        relay: OutboxRelay;
        timers: TimerPoller;
        activities: ActivityRunner;
        timerTask: PeriodicTask;
        activityTask: PeriodicTask;
        maintenance: MaintenanceStore;
      }
    | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(
    options: RsmOptionsInput,
    private readonly deps: RsmRuntimeDeps = {},
  ) {
    this.options = parseRsmOptions(options);
    this.logger = deps.logger ?? defaultLogger(this.options.service);
    this.registry = new MachineRegistry(this.options.service, this.options.routes, deps.contracts);
    for (const definition of deps.machines ?? []) this.registry.register(definition);
    for (const activity of deps.activities ?? []) this.registerActivity(activity);
    this.metrics = new RsmMetrics(deps.metricsRegistry ?? new Registry());
    this.load = new LoadMonitor(this.options.service, this.options.admission.windowMs, this.options.admission.staleAfterMs);
    this.tables = tableNames(this.options.postgres.schema);
    this.dataSource =
      deps.dataSource ??
      createRsmDataSource({
        url: this.options.postgres.url,
        schema: this.options.postgres.schema,
        poolSize: this.options.postgres.poolSize,
        applicationName: `rsm-${this.options.service}`,
        timeouts: {
          connectMs: this.options.postgres.connectTimeoutMs,
          statementMs: this.options.postgres.statementTimeoutMs,
          queryMs: this.options.postgres.queryTimeoutMs,
          idleInTransactionMs: this.options.postgres.idleInTransactionTimeoutMs,
          keepAliveInitialDelayMs: this.options.postgres.keepAliveInitialDelayMs,
        },
      });
  }

  /** Adds a machine type before `start`. */
  /** The machine types this runtime steps, as registered (with the contracts' schemas merged in). */
  machineDefinitions(): AnyMachineDefinition[] {
    return this.registry.types().map((type) => this.registry.require(type));
  }

  register(definition: AnyMachineDefinition): void {
    this.assertNotStarted();
    this.registry.register(definition);
  }

  /** Adds an activity before `start`. */
  registerActivity(activity: AnyActivityDefinition): void {
    this.assertNotStarted();
    if (this.activityList.some((a) => a.name === activity.name)) throw new Error(`activity ${activity.name} is registered twice`);
    const problem = retryPolicyProblem({ ...DEFAULT_ACTIVITY_RETRY, ...activity.retry });
    if (problem !== undefined) throw new RsmConfigError(`activity ${activity.name}: retry.${problem}`);
    this.activityList.push(activity);
  }

  get running(): boolean {
    return this.state === 'running';
  }

  private get pool(): Pool {
    if (this.poolRef === undefined) throw new RuntimeStoppedError();
    return this.poolRef;
  }

  /** The SQL of inspection and the operators' actions. */
  private get admin(): AdminStore {
    return new AdminStore(this.pool, this.tables);
  }

  /**
   * Connects, migrates, and starts delivering, stepping, firing timers and running activities. Waits
   * up to `redis.startupTimeoutMs` for Redis (logging each attempt); on any failure it closes what
   * it opened and rejects (RsmStartupError when a dependency did not answer).
   */
  async start(): Promise<void> {
    this.assertNotStarted();
    this.state = 'starting';
    try {
      await this.startNow();
    } catch (error) {
      await this.abortStart();
      throw error;
    }
  }

  private async startNow(): Promise<void> {
    const o = this.options;
    const crash = this.deps.crashHook;
    // How long each part of the start took, logged with "rsm runtime started": a restart's length
    // is what a killed pod costs, and under load its round trips are what make it long.
    const phases: Record<string, number> = {};
    let phaseStart = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      phases[name] = Math.round(now - phaseStart);
      phaseStart = now;
    };
    this.checkIdleInTransactionTimeout();
    this.steppableVersions = this.registry.types().map((type) => {
      const { oldest, current } = this.registry.require(type).versions;
      return { type, oldest, current };
    });
    await waitForRedis(o.redis, o.redis.startupTimeoutMs, this.logger);
    phase('redisMs');
    await initializeRsmDataSource(this.dataSource);
    phase('migrationsMs');
    this.poolRef = poolOf(this.dataSource);
    const pool = this.poolRef;
    await this.checkStoredVersions(new VersionStore(pool, this.tables));
    phase('versionsMs');
    const transport = new BullmqTransport(
      {
        service: o.service,
        redis: o.redis,
        prefix: o.redis.prefix,
        inboundConcurrency: o.delivery.inboundConcurrency,
        worker: o.worker,
        jobLockMs: o.delivery.jobLockMs,
        stalledCheckMs: o.delivery.stalledCheckMs,
        signingKeys: o.redis.signingKeys,
        maxMessageAgeMs: o.delivery.maxMessageAgeMs,
        commandTimeoutMs: o.redis.commandTimeoutMs,
        onRefused: (channel, reason, detail) => this.refused(channel, reason, detail),
        onPublished: (channel, items) => this.metrics.transportPublished.inc({ service: o.service, channel }, items),
        onInboundWait: (ms) => this.load.observe(ms),
      },
      this.logger,
    );
    // A process that runs activities says it is alive with a lock of its own, so that the calls it
    // holds are taken by another process as soon as it dies (see HolderLock).
    const holder = o.worker && this.activityList.length > 0 ? new HolderLock(pool, this.logger) : undefined;
    this.holderLock = holder;
    await holder?.start();
    const executor = new BatchExecutor(pool, this.tables, this.registry, o, crash, holder?.id ?? null);
    const dispatcher = new Dispatcher(
      executor,
      { maxMachines: o.batch.maxMachines, concurrency: o.batch.concurrency, hotEvents: o.batch.hotEvents, handle: o.worker, runs: (type) => this.registry.get(type) !== undefined },
      this.logger,
      (result, keys, seconds) => this.afterCommit(result, keys, seconds),
      (reason) => this.metrics.batchRetries.inc({ service: o.service, reason }),
    );
    this.load.watchIntake(() => dispatcher.oldestWaitingSince());
    const relay = new OutboxRelay(
      pool,
      this.tables,
      transport,
      o.service,
      o.delivery.messagesPerJob,
      o.delivery.ackTimeoutMs,
      o.delivery.ackFlushMs,
      this.logger,
      crash,
      (destination, n) => this.metrics.messagesSent.inc({ service: o.service, destination }, n),
      o.delivery.maxQueuedJobs,
      (destination, n) => this.metrics.republishHeldBack.inc({ service: o.service, destination }, n),
    );
    const activities = new ActivityRunner(
      pool,
      this.tables,
      o.activities.concurrency,
      o.activities.leaseMs,
      this.logger,
      crash,
      (activity, outcome, key) => {
        this.metrics.activityAttempts.inc({ service: o.service, activity, outcome });
        if (key !== undefined) dispatcher.notify(key);
      },
      holder?.id ?? null,
      (ms) => this.load.observe(ms),
    );
    for (const activity of this.activityList) activities.register(activity);
    const timers = new TimerPoller(pool, this.tables, crash);
    const receiver = new InboundReceiver(pool, this.tables, this.registry);
    const inbound = new InboundBatcher(o.delivery.receiptConcurrency, o.delivery.messagesPerJob, (jobs) => this.receive(jobs));

    const timerTask = new PeriodicTask('timers', o.timers.pollIntervalMs, async () => {
      const { woken, next, full } = await timers.poll();
      this.metrics.timersFired.inc({ service: o.service }, woken.length);
      for (const key of woken) dispatcher.notify(key);
      if (next !== undefined) timerTask.wakeAt(next);
      return full;
    }, this.logger);
    const activityTask = new PeriodicTask('activities', o.activities.pollIntervalMs, async () => (await activities.claimDue()) >= 50, this.logger);
    this.parts = { transport, executor, dispatcher, receiver, relay, timers, activities, timerTask, activityTask, maintenance: new MaintenanceStore(pool, this.tables, o) };

    phase('partsMs');
    // Events are handled from here on: a wait counts at most from now (see LoadMonitor.started).
    this.load.started();
    await transport.start({
      inbound: (job) => inbound.submit(job),
      acks: (from, ids, load) => {
        if (load !== undefined) this.load.merge(load);
        relay.acknowledge(from, ids);
      },
      drain: async (job) => {
        dispatcher.notify(job.key);
        return Promise.resolve();
      },
      reply: (reply) => this.deliverReply(reply),
    });

    this.tasks.push(
      new PeriodicTask('outbox-sweeper', o.delivery.sweepIntervalMs, async () => {
        const n = await relay.sweep();
        if (n > 0) this.metrics.redeliveries.inc({ service: o.service, kind: 'outbox' }, n);
        return n >= 1_000;
      }, this.logger),
      new PeriodicTask('janitor', o.cleanupIntervalMs, () => this.cleanUp(), this.logger),
      ...(o.migrateAtRestIntervalMs > 0 && this.registry.types().some((type) => this.registry.require(type).versions.oldest < this.registry.require(type).version)
        ? [new PeriodicTask('migrate-at-rest', o.migrateAtRestIntervalMs, () => this.migrateAtRest(), this.logger)]
        : []),
      new PeriodicTask('stats', 5_000, () => this.refreshGauges(), this.logger),
    );
    phase('transportMs');
    const vacuuming = o.vacuum.mode === 'always' || (o.vacuum.mode === 'auto' && !(await this.parts.maintenance.autovacuumOn()));
    if (vacuuming) {
      if (o.vacuum.mode === 'auto') this.logger.warn({ intervalMs: o.vacuum.intervalMs }, 'the Postgres server runs with autovacuum off: the runtime vacuums its own tables');
      this.tasks.push(new PeriodicTask('vacuum', o.vacuum.intervalMs, async () => {
        await this.parts?.maintenance.vacuum();
        return false;
      }, this.logger));
    }
    this.replyCheck = new PeriodicTask('reply-check', 1_000, () => this.checkStoredReplies(), this.logger);
    this.tasks.push(this.replyCheck);
    if (o.worker) {
      this.tasks.push(
        timerTask,
        activityTask,
        new PeriodicTask('inbox-recovery', o.delivery.sweepIntervalMs, () => this.recoverInbox(), this.logger),
        new PeriodicTask('unreadable-jobs', o.delivery.stalledCheckMs, async () => (await transport.removeUnreadableJobs()) >= 100, this.logger),
      );
    }
    for (const task of this.tasks) task.start();
    // What a killed predecessor committed but never published goes out now, not after the ack timeout.
    this.startSweep = relay.sweepAtStart().then(
      (n) => {
        if (n > 0) this.metrics.redeliveries.inc({ service: o.service, kind: 'outbox' }, n);
      },
      (error: unknown) => this.logger.warn({ err: String(error) }, 'publishing the outbox left at start failed; the sweeper publishes it after the ack timeout'),
    );
    this.state = 'running';
    if (o.worker) await this.recoverInbox(true);
    phase('tasksAndInboxMs');
    this.logger.info(
      { machines: this.registry.types(), activities: activities.names(), worker: o.worker, schema: o.postgres.schema, startMs: phases, processUptimeMs: Math.round(process.uptime() * 1_000) },
      'rsm runtime started',
    );
  }

  /**
   * Refuses to start (RsmUnsafeVersionError) when a registered definition cannot handle what is
   * stored: see `versionProblems`. A problem left to a newer process (machines stored at newer
   * versions) is not one.
   */
  private async checkStoredVersions(store: VersionStore): Promise<void> {
    const types = this.registry.types();
    if (types.length === 0) return;
    const [stored, pending] = await Promise.all([
      store.storedVersions(types),
      store.pendingEvents(this.steppableVersions.map(({ type, current }) => ({ type, current }))),
    ]);
    const problems = types.flatMap((type) => versionProblems(this.registry.require(type), stored, pending));
    if (problems.length > 0) throw new RsmUnsafeVersionError(problems);
    for (const type of types) {
      const newer = stored.filter((row) => row.type === type && row.definitionVersion > this.registry.require(type).version);
      if (newer.length === 0) continue;
      const count = newer.reduce((n, row) => n + row.count, 0);
      this.logger.warn({ type, running: this.registry.require(type).version, newer: [...new Set(newer.map((row) => row.definitionVersion))], machines: count }, 'machines are stored at a newer definition version than this process runs: it leaves them to newer processes');
    }
  }

  /** Handlers run inside the step transaction: Postgres must not end it while one still may return. */
  private checkIdleInTransactionTimeout(): void {
    const idleMs = this.options.postgres.idleInTransactionTimeoutMs;
    for (const type of this.registry.types()) {
      const handlerMs = this.registry.require(type).failure.handlerTimeoutMs;
      if (handlerMs >= idleMs) {
        throw new RsmConfigError(
          `invalid RSM configuration:\n  rsm.postgres.idleInTransactionTimeoutMs: ${idleMs} ms must exceed the handler timeout of machine type ${type} (${handlerMs} ms)`,
        );
      }
    }
  }

  /** Closes whatever a failed start opened, so that nothing keeps the process alive or retrying. */
  private async abortStart(): Promise<void> {
    this.state = 'stopping';
    await Promise.allSettled(this.tasks.map((task) => task.stop()));
    await this.startSweep;
    await this.parts?.transport.stop().catch(() => undefined);
    await this.holderLock?.stop();
    if (this.dataSource.isInitialized) await this.dataSource.destroy().catch(() => undefined);
    this.poolRef = undefined;
    this.state = 'stopped';
  }

  /** Stops taking work, lets running transactions finish, and closes connections. */
  async stop(): Promise<void> {
    if (this.state !== 'running' && this.state !== 'starting') return;
    this.state = 'stopping';
    const parts = this.parts;
    if (parts !== undefined) {
      await Promise.all(this.tasks.map((task) => task.stop()));
      await this.startSweep;
      await parts.transport.stop();
      await parts.relay.flushAcks().catch(() => undefined);
      await parts.dispatcher.stop();
      for (const item of parts.dispatcher.drainIntake()) item.reject(new RuntimeStoppedError());
      parts.activities.stop();
      await parts.activities.idle();
    }
    await this.holderLock?.stop();
    for (const [, set] of this.waiters) for (const waiter of set) waiter.reject(new RuntimeStoppedError());
    this.waiters.clear();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    this.poolRef = undefined;
    this.state = 'stopped';
    this.logger.info({}, 'rsm runtime stopped');
  }

  /**
   * How far behind the deployment is as this service sees it: its own lag and the fresh reports of
   * the services downstream, the largest of them in `lagMs` (what `admission` compares).
   *
   * @example
   * const { lagMs, source } = rsm.loadView();
   */
  loadView(): LoadView {
    return this.load.view();
  }

  /**
   * Throws RsmOverloadedError when work from outside should wait now, as `{ admission: true }` does:
   * for a caller that reads before it writes, so that refused work costs no read either. Call it
   * once per piece of work, then write without `admission` (each check may let a probe through).
   *
   * @example
   * rsm.assertAdmitted(); // 429 with Retry-After in an HTTP API
   * const existing = await rsm.get(ref);
   */
  assertAdmitted(): void {
    this.admit();
  }

  /** Throws RsmOverloadedError when work from outside should wait (see `SendOptions.admission`). */
  private admit(): void {
    const { maxLagMs, probeAfterMs } = this.options.admission;
    const { admitted, probe, view } = this.load.admit(maxLagMs, probeAfterMs);
    if (probe) this.metrics.admissionProbes.inc({ service: this.options.service });
    if (admitted) return;
    this.metrics.admissionRefused.inc({ service: this.options.service });
    this.metrics.admissionLag.set({ service: this.options.service }, view.lagMs / 1_000);
    // Come back somewhere between when the lag could be under the limit again (it must fall by its
    // excess, at most a second each second) and when the events waiting now are handled (the whole
    // lag), drawn at random, 1-30 s. The whole lag alone kept clients away long after a short
    // backlog (a restarted service's) had drained, with the suite idle; the excess alone sent
    // every refused client back in the same second, a burst that overshot.
    const retryAfterMs = view.lagMs - maxLagMs + Math.random() * maxLagMs;
    throw new RsmOverloadedError(view.lagMs, view.source, Math.min(30_000, Math.max(1_000, retryAfterMs)));
  }

  /**
   * Delivers a one-way event to a local machine. Resolves once the event is durable (handled or in
   * the inbox); with a key, a repeated call resolves `{ duplicate: true }` and changes nothing.
   *
   * @example
   * await rsm.send({ type: 'Delivery', id: 'd1' }, { type: 'Cancel' }, { key: 'cancel-d1' });
   */
  async send<E extends RsmEvent>(ref: MachineRef<E, ReplyMap, unknown>, event: NoInfer<EventTo<E>>, options: SendOptions = {}): Promise<{ duplicate: boolean }> {
    if (options.admission === true) this.admit();
    const result = await this.intake('send', ref, event, options.key);
    return { duplicate: result.status === 'duplicate' };
  }

  /**
   * Creates a local machine and hands it `initEvent`, idempotently: if the machine exists nothing
   * happens and `created` is false.
   *
   * @example
   * const { created } = await rsm.create({ type: 'Delivery', id: 'd1' }, { type: 'Create', ... });
   */
  async create<E extends RsmEvent>(ref: MachineRef<E, ReplyMap, unknown>, initEvent: NoInfer<EventTo<E>>, options: SendOptions = {}): Promise<{ created: boolean }> {
    if (options.admission === true) this.admit();
    const result = await this.intake('create', ref, initEvent, options.key);
    return { created: result.status !== 'exists' && result.status !== 'duplicate' };
  }

  /**
   * Sends an event and waits for the handler's `ctx.reply`. Rejects with RequestRejectedError when
   * the machine does not accept the event in its state (a REST controller answers 409), with
   * RequestTimeoutError after the timeout. A key makes retries safe: a repeated key gets the first
   * call's answer. It resolves to the reply type the machine declares for the event's type
   * (`Json | undefined` for an undeclared one).
   *
   * @example
   * const seen: number = await rsm.request(Counter.ref('c1'), { type: 'Add', n: 1 }, { key: requestId });
   */
  async request<E extends RsmEvent, R extends ReplyMap, T extends E['type']>(
    ref: MachineRef<E, R, unknown>,
    event: NoInfer<EventTo<E>> & { readonly type: T },
    options: RequestOptions = {},
  ): Promise<ReplyOf<R, T>> {
    type Reply = ReplyOf<R, T>;
    if (options.admission === true) this.admit();
    const timeoutMs = options.timeoutMs ?? this.options.requests.timeoutMs;
    const item = this.makeItem('request', ref, event, options.key);
    // One deadline for every stage: intake, then the wait for an answer from whoever handles it.
    const deadline = new Deadline(timeoutMs, () => new RequestTimeoutError(ref, timeoutMs), () => {
      item.cancelled = true;
    });
    try {
      const first = await deadline.race(this.enqueue(item));
      if (first.status === 'handled') return first.reply as Reply;
      // Durable but not handled here (machine busy elsewhere, or a repeated key): wait for the answer.
      return (await this.awaitReply(options.key ?? item.eventId, ref, deadline)) as Reply;
    } finally {
      deadline.clear();
    }
  }

  /**
   * A machine's state and data, or undefined. A machine stored at an older definition version is
   * shown migrated to the running one (`migratedFrom` says from which; nothing is written: its
   * next step stores it migrated).
   */
  async get<D>(ref: MachineRef<RsmEvent, ReplyMap, D>): Promise<MachineView<D> | undefined> {
    const view = await this.timed('get', () => this.admin.machine(ref));
    return (view === undefined ? undefined : this.atRunningVersion(view)) as MachineView<D> | undefined;
  }

  /**
   * A machine with what waits on it, each list at most `limit` rows: its pending inbox, the messages
   * it sent that are not yet acknowledged, its timers, its unfinished activity calls with their
   * attempts, and its recent steps.
   */
  async inspect<D>(ref: MachineRef<RsmEvent, ReplyMap, D>, limit = 20): Promise<MachineInspection<D> | undefined> {
    const inspection = await this.timed('inspect', () => this.admin.inspect(ref, limit));
    return (inspection === undefined ? undefined : this.atRunningVersion(inspection)) as MachineInspection<D> | undefined;
  }

  /**
   * Machines of a type, optionally in one stored state or any of several, in id order, `limit` at
   * a time after `afterId`; each as `get` shows it (migrated to the running version). Paging by id
   * lists a machine at most once however its state changes meanwhile; given a definition
   * (`rsm.list(Package)`) rather than a type name, the data comes back typed.
   *
   * @example
   * const flying = await rsm.list(Drone, { state: ['EnRouteToPickup', 'Returning'], limit: 500 });
   */
  async list<D = unknown>(
    of: string | { readonly type: string; ref(id: string): MachineRef<RsmEvent, ReplyMap, D> },
    options: { state?: string | readonly string[]; limit?: number; afterId?: string } = {},
  ): Promise<MachineView<D>[]> {
    const type = typeof of === 'string' ? of : of.type;
    const views = await this.timed('list', () => this.admin.listOfType(type, options));
    return views.map((view) => this.atRunningVersion(view)) as MachineView<D>[];
  }

  /**
   * Machines of every type matching the filter (type, state, status, id prefix), in (type, id)
   * order, at most 500 a page; pass a page's `next` as `after` for the following one.
   *
   * @example
   * const { items, next } = await rsm.machines({ type: 'Drone', state: 'Flying', limit: 50 });
   */
  async machines(filter: MachineFilter = {}): Promise<AdminPage<MachineView>> {
    return this.timed('machines', () => this.admin.machines(filter));
  }

  /** How many machines there are by type, state and status. */
  async machineCounts(type?: string): Promise<MachineCount[]> {
    return this.timed('machineCounts', () => this.admin.machineCounts(type));
  }

  /**
   * Machines by type and stored definition version, with the version this process runs and how it
   * treats each stored one (`current`, `migrates` with the next step, `newer`: left to newer
   * processes, `no-migration`); types stored here that this process does not run have `running: null`.
   *
   * @example
   * for (const t of await rsm.versions()) console.log(t.type, t.running, t.stored.map((s) => `v${s.version}: ${s.machines}`));
   */
  async versions(): Promise<TypeVersions[]> {
    const stored = await this.timed('versions', () => new VersionStore(this.pool, this.tables).storedVersions());
    return summarizeVersions(this.machineDefinitions(), stored);
  }

  /** Dead letters, newest first; by default only those not redriven. */
  async deadLetters(options: { type?: string; limit?: number; includeRedriven?: boolean } = {}): Promise<DeadLetterRow[]> {
    return this.timed('deadLetters', () => this.admin.deadLetters(options));
  }

  /** Dead letters matching the filter, newest first, at most 500 a page (see `machines` for paging). */
  async deadLetterPage(filter: DeadLetterFilter = {}): Promise<AdminPage<DeadLetterRow>> {
    return this.timed('deadLetters', () => this.admin.deadLetterPage(filter));
  }

  /** One dead letter, redriven or not, or undefined. */
  async deadLetter(id: string): Promise<DeadLetterRow | undefined> {
    return this.timed('deadLetter', () => this.admin.deadLetter(id));
  }

  /**
   * Puts a dead letter's event back into its machine's inbox (a faulted machine resumes). Returns
   * false if it does not exist or was already redriven.
   */
  async redrive(deadLetterId: string): Promise<boolean> {
    const [result] = await this.redriveMany([deadLetterId]);
    return result?.outcome === 'redriven';
  }

  /**
   * Redrives up to 500 dead letters in one transaction; with `by`, the action and each letter's
   * outcome go to the audit log in the same transaction.
   *
   * @example
   * await rsm.redriveMany(['12', '13'], { actor: 'alice', tokenId: 'cli' }); // [{ id: '12', outcome: 'redriven' }, ...]
   */
  async redriveMany(ids: readonly string[], by?: AdminActor): Promise<LetterResult[]> {
    const { results, wake } = await this.timed('redrive', () => this.admin.redrive(ids, by));
    for (const key of wake) this.wake(key);
    return results;
  }

  /** Deletes up to 500 open dead letters whose events are given up; with `by`, recorded in the audit log. */
  async discardDeadLetters(ids: readonly string[], by?: AdminActor): Promise<LetterResult[]> {
    return this.timed('discard', () => this.admin.discard(ids, by));
  }

  /** The operators' audit log, newest first (see `machines` for paging). */
  async auditLog(filter: { action?: string; limit?: number; after?: string } = {}): Promise<AdminPage<AuditEntry>> {
    return this.timed('auditLog', () => this.admin.audit(filter));
  }

  /**
   * Pairs whose next sequence number has been missing for at least `olderThanMs` (default
   * `delivery.gapAfterMs`), oldest first. The sender re-publishes whatever is still in its outbox,
   * so a gap that lasts means the message is gone (its outbox row deleted): see `skipGap`.
   *
   * @example
   * for (const gap of await rsm.gaps()) console.log(gap.sender, gap.receiver, gap.missingFrom, gap.nextBuffered);
   */
  async gaps(options: { olderThanMs?: number; limit?: number } = {}): Promise<GapView[]> {
    return this.timed('gaps', () => this.admin.gaps(options.olderThanMs ?? this.options.delivery.gapAfterMs, options.limit ?? 100));
  }

  /**
   * The gap of one pair, whatever its age (undefined when none waits): what {@link skipGap} would
   * skip now, as `gaps` lists it.
   *
   * @example
   * const gap = await rsm.gapOf({ type: 'Saga', id: 's1' }, { type: 'Fleet', id: 'f1' });
   */
  async gapOf(sender: MachineRef, receiver: MachineRef): Promise<GapView | undefined> {
    checkPair(sender, receiver);
    const [gap] = await this.timed('gaps', () => this.admin.gaps(0, 1, { sender: machineKey(sender), receiver: machineKey(receiver) }));
    // A first waiting message that is next in line is being released, not waiting for a gap.
    return gap !== undefined && gap.nextBuffered > gap.missingFrom ? gap : undefined;
  }

  /**
   * Gives up the missing messages of a gap, when they are really gone (the sender's outbox no
   * longer has them; if it still does, they would arrive later and be dropped as duplicates, so
   * check first). The receiver's counter moves to just before the first buffered message, a row in
   * `rsm_gap_skips` records the skipped numbers with `by`, `reason` and the time, and the buffered
   * messages that now follow are handled in order. Returns undefined when the pair has no gap.
   *
   * `record.gap` names the gap the operator looked at (from {@link gaps} or {@link gapOf}): the skip
   * happens only if it is still the pair's gap. Without it, whatever gap the pair has when the skip
   * runs is skipped, which a repeated call, or a gap that filled while a new one opened, turns into
   * lost messages: give it. A repeat of a skip that committed answers `repeated: true` and does
   * nothing; a gap that changed throws {@link GapChangedError} and does nothing.
   *
   * @example
   * const gap = await rsm.gapOf({ type: 'Saga', id: 's1' }, { type: 'Fleet', id: 'f1' });
   * if (gap) await rsm.skipGap(gap.sender, gap.receiver, { by: 'alice', reason: 'outbox row lost in restore', gap: { epoch: gap.epoch, fromSeq: gap.missingFrom, toSeq: gap.nextBuffered - 1 } });
   */
  async skipGap(sender: MachineRef, receiver: MachineRef, record: { by: string; reason: string; gap?: GapNumbers }, audit?: AdminActor): Promise<GapSkip | undefined> {
    checkPair(sender, receiver);
    for (const [name, value] of [['by', record.by], ['reason', record.reason]] as const) {
      if (typeof value !== 'string' || value.trim() === '' || value.length > 1_000) throw new TypeError(`skipGap needs a ${name} of 1-1000 characters`);
    }
    const expected = record.gap;
    if (expected !== undefined) {
      const counts = [expected.epoch, expected.fromSeq, expected.toSeq];
      if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || expected.fromSeq < 1 || expected.toSeq < expected.fromSeq) {
        throw new TypeError('skipGap needs gap numbers with 0 <= epoch and 1 <= fromSeq <= toSeq, all safe integers');
      }
    }
    const parts = this.parts;
    if (parts === undefined) throw new RuntimeStoppedError();
    const targets = { sender: machineKey(sender), receiver: machineKey(receiver), reason: record.reason, ...(expected === undefined ? {} : { gap: expected }) };
    const admin = this.admin;
    const outcomeOf = (outcome: GapSkipResult | undefined) => {
      if (outcome === undefined) return { outcome: 'no_gap' };
      if (outcome.changed !== undefined) return { outcome: 'gap_changed', current: outcome.changed };
      if (outcome.repeated === true) return { outcome: 'repeated', epoch: outcome.epoch, fromSeq: outcome.fromSeq, toSeq: outcome.toSeq };
      return { outcome: 'skipped', epoch: outcome.epoch, fromSeq: outcome.fromSeq, toSeq: outcome.toSeq, released: outcome.accepted };
    };
    const skipped = await this.timed('skipGap', () =>
      parts.receiver.skipGap(machineKey(sender), machineKey(receiver), record.by, record.reason, audit === undefined ? undefined : (client, outcome) => admin.record(client, audit, 'gaps.skip', targets, outcomeOf(outcome)), expected),
    );
    if (skipped === undefined) return undefined;
    if (skipped.changed !== undefined) throw new GapChangedError(expected as GapNumbers, skipped.changed);
    if (skipped.repeated === true) return { epoch: skipped.epoch, fromSeq: skipped.fromSeq, toSeq: skipped.toSeq, released: 0, repeated: true };
    this.metrics.gapsSkipped.inc({ service: this.options.service });
    this.logger.warn({ sender: machineKey(sender), receiver: machineKey(receiver), epoch: skipped.epoch, fromSeq: skipped.fromSeq, toSeq: skipped.toSeq, by: record.by, reason: record.reason }, 'gap skipped by an operator');
    for (const key of skipped.wake) this.wake(key);
    return { epoch: skipped.epoch, fromSeq: skipped.fromSeq, toSeq: skipped.toSeq, released: skipped.accepted };
  }

  /**
   * Readiness within `calls.healthTimeoutMs`, whatever hangs: `ok`, `degraded` (Redis or the relay
   * down: still serving from Postgres) or `error` (see HealthReport).
   *
   * @example
   * const ready = (await rsm.health()).status !== 'error';
   */
  async health(): Promise<HealthReport> {
    const running = this.state === 'running';
    // Each check answers within its deadline: a probe that hangs is a failed probe, not a hung one.
    const ms = this.options.calls.healthTimeoutMs;
    const check = (work: () => Promise<boolean>) => (running ? withDeadline(ms, () => new RsmTimeoutError('health', ms), work).catch(() => false) : Promise.resolve(false));
    const [postgres, redis] = await Promise.all([
      check(async () => (await this.parts?.maintenance.ping()) ?? false),
      check(async () => (await this.parts?.transport.ping()) ?? false),
    ]);
    const relay = running && (this.parts?.relay.healthy ?? false);
    const status = !running || !postgres ? 'error' : redis && relay ? 'ok' : 'degraded';
    return { status, checks: { postgres, redis, relay, running } };
  }

  /** Resolves when this process has no step transaction running and none ready (tests use it). */
  async idle(): Promise<void> {
    await this.parts?.dispatcher.idle();
  }

  // ---- internals ----

  /** A stored machine as the running definition sees it: migrated in memory when stored at an older version. */
  private atRunningVersion<V extends MachineView>(view: V): V {
    const definition = this.registry.get(view.type);
    if (definition === undefined || (view.definitionVersion === definition.version && (definition.states as readonly string[]).includes(view.state))) return view;
    const migrated = migrateMachine(definition, view, view.definitionVersion);
    switch (migrated.kind) {
      case 'current':
        return view;
      case 'migrated':
        return { ...view, state: migrated.machine.state, data: migrated.machine.data, definitionVersion: definition.version, migratedFrom: migrated.from };
      case 'defer':
        return { ...view, versionNote: migrated.detail };
      case 'failed':
        return { ...view, versionNote: migrated.error };
    }
  }

  private assertNotStarted(): void {
    if (this.state !== 'new') throw new Error('the RSM runtime is already started');
  }

  private wake(key: string): void {
    const parts = this.parts;
    if (parts === undefined) return;
    if (this.options.worker) parts.dispatcher.notify(key);
    else void parts.transport.requestDrain([key]).catch(() => undefined);
  }

  private makeItem(kind: IntakeItem['kind'], ref: MachineRef, event: RsmEvent, key: string | undefined): IntakeItem & { promise: Promise<IntakeResult> } {
    const invalid = invalidIdReason(ref?.id);
    if (typeof ref?.type !== 'string' || invalid !== undefined) throw new TypeError(`not a machine reference (${invalid ?? 'the type must be a string'}): ${JSON.stringify(ref).slice(0, 200)}`);
    if (typeof event?.type !== 'string') throw new TypeError(`not an event: ${JSON.stringify(event)}`);
    if (this.registry.get(ref.type) === undefined) {
      throw new Error(`service ${this.options.service} does not own machine type ${ref.type}; send to it from a machine instead`);
    }
    let resolve!: (result: IntakeResult) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<IntakeResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { kind, ref: { type: ref.type, id: ref.id }, event, key, eventId: newEventId(kind), enqueuedAt: Date.now(), cancelled: false, resolve, reject, promise };
  }

  private enqueue(item: IntakeItem & { promise: Promise<IntakeResult> }): Promise<IntakeResult> {
    if (this.state !== 'running' || this.parts === undefined) return Promise.reject(new RuntimeStoppedError());
    this.parts.dispatcher.submit(item);
    return item.promise;
  }

  /** A caller's event made durable within `calls.timeoutMs`, or RequestTimeoutError (retry with the same key). */
  private async intake(kind: IntakeItem['kind'], ref: MachineRef, event: RsmEvent, key: string | undefined): Promise<IntakeResult> {
    const item = this.makeItem(kind, ref, event, key);
    const timeoutMs = this.options.calls.timeoutMs;
    const deadline = new Deadline(timeoutMs, () => new RequestTimeoutError(ref, timeoutMs, kind), () => {
      item.cancelled = true;
    });
    try {
      return await deadline.race(this.enqueue(item));
    } finally {
      deadline.clear();
    }
  }

  /** A read or small write of a public call, failing with RsmTimeoutError after `calls.timeoutMs`. */
  private async timed<T>(operation: string, work: () => Promise<T>): Promise<T> {
    const timeoutMs = this.options.calls.timeoutMs;
    try {
      return await withDeadline(timeoutMs, () => new RsmTimeoutError(operation, timeoutMs), work);
    } catch (error) {
      // The driver's own deadlines may end the call first; callers get one typed error either way.
      if (isConnectionFailure(error)) throw new PostgresUnavailableError(operation, timeoutMs, error);
      throw error;
    }
  }

  /**
   * Waits for the answer to `key` until `deadline`. Answers come by pub/sub; since pub/sub can lose
   * a message (Redis restarting), the stored answer is the reference: one query per second looks up
   * every key still waited for (see `checkStoredReplies`), however many callers wait.
   */
  private async awaitReply(key: string, ref: MachineRef, deadline: Deadline): Promise<Json | undefined> {
    let waiter!: Waiter;
    const answer = new Promise<Json | undefined>((resolve, reject) => {
      waiter = { resolve, reject, ref };
    });
    const set = this.waiters.get(key) ?? new Set<Waiter>();
    set.add(waiter);
    this.waiters.set(key, set);
    this.replyCheck?.wakeAt(Date.now() + 20);
    try {
      return await deadline.race(answer);
    } finally {
      set.delete(waiter);
      if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
    }
  }

  /** Looks up stored answers for every waited-for key, 1,000 at a time. */
  private async checkStoredReplies(): Promise<boolean> {
    if (this.waiters.size === 0 || this.parts === undefined) return false;
    const keys = [...this.waiters.keys()].slice(0, 1_000);
    for (const row of await this.parts.maintenance.storedReplies(keys)) {
      this.deliverReply(
        row.status === 'done'
          ? { key: row.key, ok: true, value: row.reply }
          : { key: row.key, ok: false, kind: row.error?.startsWith('rejected') === true ? 'rejected' : 'failed', reason: (row.error ?? '').replace(/^(rejected|failed): /, '') },
      );
    }
    return false;
  }

  private deliverReply(reply: KeyedReply): boolean {
    const set = this.waiters.get(reply.key);
    if (set === undefined) return false;
    this.waiters.delete(reply.key);
    for (const waiter of [...set]) {
      if (reply.ok) waiter.resolve(reply.value ?? undefined);
      else waiter.reject(reply.kind === 'rejected' ? new RequestRejectedError(waiter.ref, reply.reason) : new RequestFailedError(waiter.ref, reply.reason));
    }
    return true;
  }

  /** Counts an item refused by the transport, and logs it (at most one line per second per kind). */
  private refused(channel: TransportChannel, reason: RefusalReason, detail: string): void {
    this.metrics.transportRefused.inc({ service: this.options.service, channel, reason });
    const kind = `${channel}/${reason}`;
    const entry = this.refusalLog.get(kind) ?? { at: 0, suppressed: 0 };
    const now = Date.now();
    if (now - entry.at < 1_000) {
      entry.suppressed += 1;
    } else {
      this.logger.warn({ channel, reason, detail, suppressed: entry.suppressed }, 'refused an item from Redis');
      entry.at = now;
      entry.suppressed = 0;
    }
    this.refusalLog.set(kind, entry);
  }

  private afterCommit(result: BatchResult, keys: readonly string[], seconds: number): void {
    const parts = this.parts;
    if (parts === undefined) return;
    const service = this.options.service;
    for (const { item, result: outcome, error } of result.settled) {
      if (error !== undefined) item.reject(error);
      else if (outcome !== undefined) item.resolve(outcome);
      if (outcome?.status === 'duplicate') this.metrics.duplicatesDropped.inc({ service, source: 'idempotency_key' });
    }
    for (const reply of result.replies) {
      if (!this.deliverReply(reply)) void parts.transport.publishReply(reply).catch(() => undefined);
    }
    void parts.relay.publishCommitted(result.outbox);
    if (result.activities.length > 0) parts.activities.submit(result.activities);
    // No spread: a batch may start more timers than a call takes arguments, after its COMMIT went out.
    const soonest = result.timerFireAt.reduce((a, b) => Math.min(a, b), Infinity);
    if (Number.isFinite(soonest)) parts.timerTask.wakeAt(soonest);
    if (this.options.worker) {
      for (const key of result.wake) parts.dispatcher.notify(key);
    } else {
      const drain = [...new Set([...result.wake, ...result.busy])];
      if (drain.length > 0) void parts.transport.requestDrain(drain).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'drain request failed; recovery will find the events'));
    }
    for (const [key, waitedMs] of result.backlog) this.load.backlog(key, waitedMs);
    // Counted before the dispatcher updates its hot set with this result: hot when it started.
    if (keys.length === 1 && parts.dispatcher.isHot(keys[0] as string)) this.metrics.hotTransactions.inc({ service });
    let steps = 0;
    for (const step of result.steps) {
      this.metrics.steps.inc({ service, type: step.type, event: step.event, outcome: step.outcome });
      if (step.outcome === 'ok') {
        steps += 1;
        this.metrics.stepDuration.observe({ service, type: step.type }, step.handlerSeconds);
        if (step.latencySeconds !== undefined) {
          this.metrics.eventLatency.observe({ service, type: step.type }, step.latencySeconds);
          this.load.observe(step.latencySeconds * 1_000);
        }
        if (step.transition !== undefined) {
          this.metrics.transitions.inc({ service, type: step.type, from: step.transition.from, to: step.transition.to });
          this.metrics.transitionAge.observe({ service, type: step.type, to: step.transition.to }, step.transition.ageSeconds);
        }
      }
    }
    for (const { type, from } of result.migrated) this.metrics.machinesMigrated.inc({ service, type, from: String(from) });
    for (const deferred of result.deferred) {
      this.metrics.stepsDeferred.inc({ service, type: deferred.type, reason: deferred.reason });
      const kind = compositeKey(deferred.type, deferred.reason);
      if (this.deferralsLogged.has(kind)) continue;
      this.deferralsLogged.add(kind);
      this.logger.warn(
        { type: deferred.type, machine: deferred.key, reason: deferred.reason, detail: deferred.detail, metric: 'rsm_steps_deferred_total' },
        deferred.reason === 'newer_version'
          ? 'a machine is stored at a newer definition version than this process runs: its events stay in the inbox for a newer process (logged once per type; counted in rsm_steps_deferred_total)'
          : 'a machine has no migration to the definition this process runs: its events stay in the inbox (logged once per type; counted in rsm_steps_deferred_total)',
      );
    }
    if (result.deadLetters > 0) {
      this.metrics.deadLetters.inc({ service }, result.deadLetters);
      this.logger.warn({ count: result.deadLetters }, 'events dead-lettered');
    }
    if (keys.length > 0) {
      this.metrics.batchSize.observe({ service }, steps);
      this.metrics.batchDuration.observe({ service }, seconds);
    }
  }

  /**
   * Takes a job of events from another service. A worker steps the machines they wake in the same
   * transaction (one commit, no hand-over to the dispatcher); if that fails, the events are taken
   * alone and the dispatcher, which knows how to isolate a failing machine, steps them.
   */
  /** Takes jobs' events (several jobs at once under load) into the inbox, stepping what they wake. */
  private async receive(jobs: readonly InboundJob[]): Promise<void> {
    const parts = this.parts;
    if (parts === undefined) throw new RuntimeStoppedError();
    const o = this.options;
    const startedAt = performance.now();
    // The machines a job's transaction steps: the first of those its events wake, one batch's worth.
    // Hot machines are left to the dispatcher, which steps each alone.
    let stepped: string[] = [];
    const step = o.worker && o.delivery.stepOnReceive
      ? (client: PoolClient, wake: ReadonlySet<string>, tx?: Transaction) => {
          stepped = [...wake].filter((key) => !parts.dispatcher.isHot(key)).slice(0, o.batch.maxMachines);
          return parts.executor.stepWithin(client, stepped, tx);
        }
      : undefined;
    let received: ReceiveResult & { stepped?: BatchResult };
    try {
      received = await parts.receiver.receive(jobs, step);
    } catch (error) {
      if (step === undefined || this.state !== 'running') throw error;
      this.logger.debug({ err: String(error) }, 'receipt with steps failed; taking the events alone');
      received = await parts.receiver.receive(jobs);
    }
    this.deps.crashHook?.('afterPublishBeforeAck');
    const batch = received.stepped;
    if (batch === undefined) stepped = [];
    else parts.dispatcher.committed(batch, stepped, (performance.now() - startedAt) / 1_000, true);
    const handled = new Set(stepped);
    const service = this.options.service;
    this.metrics.messagesReceived.inc({ service }, received.accepted);
    this.metrics.receiptJobs.observe({ service }, jobs.length);
    if (received.duplicates > 0) this.metrics.duplicatesDropped.inc({ service, source: 'pair_sequence' }, received.duplicates);
    if (received.deadLettered > 0) this.metrics.deadLetters.inc({ service }, received.deadLettered);
    for (const short of received.shortRetires) this.logger.error(short, 'a sender retired a numbering whose last messages never arrived: they were lost from its outbox');
    for (const key of received.wake) if (!handled.has(key)) parts.dispatcher.notify(key);
    // A lost acknowledgement only means a re-publish, which the pair sequence drops.
    const load = this.load.report();
    await Promise.all(
      [...received.acks].map(([from, ids]) => parts.transport.publishAcks(from, ids, load).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'ack publish failed'))),
    );
  }

  /** Finds inbox rows nobody is draining (a crash, a lost doorbell) and drains them. */
  private async recoverInbox(all = false): Promise<boolean> {
    const parts = this.parts;
    if (parts === undefined) return false;
    let recovered = 0;
    for (const key of await parts.maintenance.unattendedInbox(all ? 0 : this.options.delivery.recoveryGraceMs, this.steppableVersions)) {
      if (parts.dispatcher.isScheduled(key)) continue;
      recovered += 1;
      parts.dispatcher.notify(key);
    }
    if (recovered > 0) this.metrics.redeliveries.inc({ service: this.options.service, kind: 'drain' }, recovered);
    return false;
  }

  /** Where the at-rest migration of each type goes on from (id order; '' starts over). */
  private readonly migrateAtRestAfter = new Map<string, string>();
  /**
   * Types whose whole range held nothing to migrate are looked at less and less often: the read
   * walks every machine of the type, and once a rollout is done it would find nothing, every
   * interval, in every process, for as long as the type keeps a migration.
   */
  private readonly migrateAtRestIdle = new IdleBackoff(600_000);

  /**
   * Migrates machines stored at older versions that no event steps (a finished delivery, an idle
   * drone), a batch per type, as their next step would: one shared `migrateMachine`, and a machine
   * being stepped is skipped (its step migrates it). A machine that cannot be migrated is left as
   * it is; its next step fails the way a failing migration does.
   */
  private async migrateAtRest(): Promise<boolean> {
    const service = this.options.service;
    const store = new VersionStore(this.pool, this.tables);
    let full = false;
    for (const type of this.registry.types()) {
      const definition = this.registry.require(type);
      if (definition.versions.oldest >= definition.version) continue;
      const after = this.migrateAtRestAfter.get(type) ?? '';
      if (after === '' && !this.migrateAtRestIdle.due(type, Date.now())) continue;
      let batch: Awaited<ReturnType<VersionStore['migrateAtRest']>>;
      try {
        // At rest: no step for two intervals and nothing in the inbox (see VersionStore.migrateAtRest).
        batch = await store.migrateAtRest(type, definition.versions.oldest, definition.version, 100, after, 2 * this.options.migrateAtRestIntervalMs, (machine) => {
          const view = migrateMachine(definition, machine, machine.definitionVersion);
          return view.kind === 'migrated' ? { state: view.machine.state, data: view.machine.data } : undefined;
        });
      } catch (error) {
        // One type's failure (its batch's statement refused) holds back neither the types after it
        // nor, next time, the same type: its pass starts over, and Postgres being away shows here too.
        this.logger.warn({ type, err: describeError(error) }, 'migrating machines at rest failed');
        this.migrateAtRestAfter.set(type, '');
        this.migrateAtRestIdle.idle(type, Date.now(), this.options.migrateAtRestIntervalMs);
        continue;
      }
      for (const { from } of batch.migrated) this.metrics.machinesMigrated.inc({ service, type, from: String(from) });
      this.migrateAtRestAfter.set(type, batch.read < 100 ? '' : batch.lastId);
      if (after === '' && batch.read === 0) this.migrateAtRestIdle.idle(type, Date.now(), this.options.migrateAtRestIntervalMs);
      else if (batch.read > 0) this.migrateAtRestIdle.busy(type);
      if (batch.read >= 100) full = true;
    }
    return full;
  }

  /**
   * Deletes step history, answered requests, dead letters, halted machines, quiet pairs' sequence
   * counters and gap records past their retention, 10,000 rows a statement, each found through an
   * index on its age; a full batch runs it again at once, so the tables stay bounded however fast rows come.
   */
  private async cleanUp(): Promise<boolean> {
    const service = this.options.service;
    return this.parts === undefined ? false : this.parts.maintenance.cleanUp((table, rows) => this.metrics.retentionDeleted.inc({ service, table }, rows));
  }

  private async refreshGauges(): Promise<boolean> {
    if (this.parts === undefined) return false;
    const row = await this.parts.maintenance.tableStats();
    const n = (value: string | null | undefined) => (value == null ? 0 : Number(value));
    const labels = { service: this.options.service };
    this.metrics.inboxDepth.set(labels, n(row.inbox_depth));
    this.metrics.inboxOldestAge.set(labels, n(row.inbox_age));
    this.metrics.admissionLag.set(labels, this.load.view().lagMs / 1_000);
    this.metrics.outboxDepth.set(labels, n(row.outbox_depth));
    this.metrics.outboxOldestAge.set(labels, n(row.outbox_age));
    this.metrics.timersPending.set(labels, n(row.timers));
    this.metrics.deadLettersOpen.set(labels, n(row.dead_letters));
    this.metrics.activitiesPending.set(labels, n(row.activities));
    this.metrics.gapPairs.set(labels, n(row.gap_pairs));
    this.metrics.sequenceCounters.set({ ...labels, side: 'send' }, n(row.send_counters));
    this.metrics.sequenceCounters.set({ ...labels, side: 'receive' }, n(row.recv_counters));
    this.metrics.reorderOldestAge.set(labels, n(row.reorder_age));
    return false;
  }
}

/** Counts by type and version, with how the running definitions treat each version. */
function summarizeVersions(definitions: readonly AnyMachineDefinition[], stored: readonly StoredVersionCount[]): TypeVersions[] {
  const byType = new Map<string, Map<number, { machines: number; halted: number }>>();
  for (const definition of definitions) byType.set(definition.type, new Map());
  for (const row of stored) {
    const versions = byType.get(row.type) ?? new Map<number, { machines: number; halted: number }>();
    byType.set(row.type, versions);
    const entry = versions.get(row.definitionVersion) ?? { machines: 0, halted: 0 };
    entry.machines += row.count;
    if (row.status === 'halted') entry.halted += row.count;
    versions.set(row.definitionVersion, entry);
  }
  return [...byType].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([type, versions]) => {
    const definition = definitions.find((d) => d.type === type);
    const handling = (version: number): TypeVersions['stored'][number]['handling'] => {
      if (definition === undefined) return 'not-run-here';
      if (version === definition.version) return 'current';
      if (version > definition.version) return 'newer';
      return version >= definition.versions.oldest ? 'migrates' : 'no-migration';
    };
    return {
      type,
      running: definition?.version ?? null,
      migratesFrom: definition?.versions.oldest ?? null,
      stored: [...versions].sort(([a], [b]) => a - b).map(([version, counts]) => ({ version, ...counts, handling: handling(version) })),
    };
  });
}

/** Throws a TypeError unless both ends of a sender/receiver pair are machine references. */
function checkPair(sender: MachineRef, receiver: MachineRef): void {
  for (const ref of [sender, receiver]) {
    const invalid = invalidIdReason(ref?.id);
    if (typeof ref?.type !== 'string' || ref.type === '' || invalid !== undefined) throw new TypeError(`not a machine reference (${invalid ?? 'the type must be a non-empty string'})`);
  }
}
