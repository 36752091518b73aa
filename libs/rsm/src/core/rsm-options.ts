import { z } from 'zod';

/** The most messages one inbound job may carry: receivers refuse a longer one, so `delivery.messagesPerJob` may not be set higher. */
export const MAX_MESSAGES_PER_JOB = 10_000;

const serviceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes, starting with a letter');
const positiveInt = z.number().int().positive();
/** PEM text holding at least one block of `label` (`PRIVATE KEY` also matches `RSA PRIVATE KEY`, `EC PRIVATE KEY`). */
const pem = (label: string) => z.string().refine((text) => new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text), `PEM text with a ${label} block`);

/**
 * The runtime's settings, validated when the runtime is built: a bad value stops start-up with a
 * message naming the setting.
 */
export const rsmOptionsSchema = z.object({
  /** This service's name: it names its queues and is the destination other services route to. */
  service: serviceName,
  postgres: z.object({
    url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'),
    /** The service's own schema (default: the service name with dashes as underscores). */
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case Postgres identifier').optional(),
    poolSize: positiveInt.default(12),
    /** Getting a connection from the pool (a free one, or a new one's TCP connect and start-up) fails after this long. */
    connectTimeoutMs: positiveInt.default(10_000),
    /** Postgres cancels a statement (lock waits included) running longer than this. */
    statementTimeoutMs: positiveInt.default(30_000),
    /**
     * The client gives up on a statement whose answer has not come after this long (a partition the
     * server cannot see) and discards the connection. Longer than `statementTimeoutMs`, so that the
     * server cancels first whenever it can.
     */
    queryTimeoutMs: positiveInt.default(40_000),
    /**
     * Postgres ends a session idle inside a transaction this long, releasing the row locks of a
     * process that went away mid-step. Handlers run inside the step transaction, so start-up checks
     * that it exceeds every machine type's `failure.handlerTimeoutMs`.
     */
    idleInTransactionTimeoutMs: positiveInt.default(60_000),
    /** TCP keepalive on every connection, first probe after this long idle: dead peers are found without traffic. */
    keepAliveInitialDelayMs: positiveInt.default(10_000),
  }).refine((p) => p.queryTimeoutMs > p.statementTimeoutMs, { message: 'must be longer than postgres.statementTimeoutMs', path: ['queryTimeoutMs'] }),
  redis: z.object({
    /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS (Node's CAs; `NODE_EXTRA_CA_CERTS` adds one). */
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
    /** Key prefix of every BullMQ queue and channel. */
    prefix: z.string().min(1).default('rsm'),
    /**
     * HMAC keys that authenticate every job, acknowledgement and reply the runtime puts in Redis:
     * the first signs, any verifies (two during a rotation). Every service of a deployment shares
     * them; Redis never sees them.
     */
    signingKeys: z
      .array(z.string().min(32, 'at least 32 characters'), 'a list of one or two keys')
      .min(1, 'at least one key')
      .max(2, 'at most two keys (the current one and the previous one)'),
    /**
     * At start-up the runtime waits this long for Redis to answer (retrying with backoff, one log
     * line per attempt) before it gives up with RsmStartupError.
     */
    startupTimeoutMs: positiveInt.default(60_000),
    /**
     * A command that publishes (events, acknowledgements, replies, drain doorbells) fails after this
     * long without an answer: a connection that went silent (a failover without a reset, a
     * partition) is given up instead of holding the publisher and the sweeper for the minutes TCP
     * takes to notice (the outbox keeps everything; the sweeper publishes it again). Every Redis
     * connection also probes an idle peer after 10 s (TCP keep-alive).
     */
    commandTimeoutMs: positiveInt.min(100).default(10_000),
    /**
     * TLS beyond what a `rediss://` URL gives (Node's CAs): a private CA that signed the server's
     * certificate, and a client certificate and key when Redis requires them (`tls-auth-clients`).
     * PEM text, not file names. Only with a `rediss://` URL.
     */
    tls: z
      .object({
        ca: pem('CERTIFICATE').optional(),
        cert: pem('CERTIFICATE').optional(),
        key: pem('PRIVATE KEY').optional(),
        /** Host name the server certificate must carry, when it differs from the URL's host. */
        servername: z.string().min(1).max(253).optional(),
      })
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key go together', path: ['cert'] })
      .optional(),
  }).refine((r) => r.tls === undefined || r.url.startsWith('rediss://'), { message: 'TLS settings need a rediss:// URL', path: ['tls'] }),
  /**
   * Admission control for work from outside (`create`, `send` or `request` with `{ admission: true }`): refused
   * with RsmOverloadedError while this service, or any service downstream of it (as reported in
   * acknowledgements), handles events more than `maxLagMs` after accepting them (p90 over
   * `windowMs`). Reports older than `staleAfterMs` no longer count. While no downstream report
   * over the limit has been renewed for `probeAfterMs` (refusing stops the traffic that renews
   * them), one item of work per `probeAfterMs` is let through to ask again.
   */
  admission: z
    .object({
      maxLagMs: positiveInt.default(3_000),
      windowMs: positiveInt.default(2_000),
      staleAfterMs: positiveInt.default(5_000),
      probeAfterMs: positiveInt.default(1_000),
    })
    .prefault({}),
  /** Which service owns each machine type that this service sends to but does not own. */
  routes: z.record(z.string(), serviceName).default({}),
  /** False for an API-only process: it accepts events and leaves handling to worker processes. */
  worker: z.boolean().default(true),
  batch: z
    .object({
      /** Machines stepped in one transaction. */
      maxMachines: positiveInt.default(64),
      /** Events of one machine handled in one transaction. */
      maxEventsPerMachine: positiveInt.default(32),
      /**
       * A machine that handled at least this many events in one step transaction is hot: it is
       * stepped in transactions of its own (never with other machines, nor in a receipt) until a
       * step finds it with one event or none. A busy singleton then holds its row lock only for its
       * own writes instead of for a whole batch's.
       */
      hotEvents: positiveInt.default(8),
      /** Step transactions in flight at once in this process. */
      concurrency: positiveInt.default(4),
    })
    .prefault({}),
  delivery: z
    .object({
      /** An outbox row not acknowledged after this long is published again. */
      ackTimeoutMs: positiveInt.default(5_000),
      /** How often the outbox sweeper and the inbox recovery scan run. */
      sweepIntervalMs: positiveInt.default(1_000),
      /** Inbox rows older than this with no drain running are handed to a worker again. */
      recoveryGraceMs: positiveInt.default(2_000),
      /**
       * A worker steps the machines an inbound job wakes in the transaction that takes the job's
       * events (one commit instead of two, and no wait for the dispatcher).
       */
      stepOnReceive: z.boolean().default(true),
      /** Inbound BullMQ jobs taken from the queue at once (held while they wait for a receipt). */
      inboundConcurrency: positiveInt.default(16),
      /**
       * Receipt transactions at once. Jobs that arrive while these run wait and go together in the
       * next one (up to `messagesPerJob` events), so under load one commit takes many jobs.
       */
      receiptConcurrency: positiveInt.default(2),
      /**
       * The sweeper re-publishes nothing to a service whose queue already holds this many jobs
       * waiting (it is down or far behind, and holds copies of what is overdue): each sweep would
       * add another copy of every unacknowledged row, and Redis would grow for as long as it
       * stays away. Counted in `rsm_republish_held_back_total`; the rows go out once it drains.
       */
      maxQueuedJobs: positiveInt.default(1_000),
      /** Events per published BullMQ job (a receiver refuses a job of more than 10,000). */
      messagesPerJob: positiveInt.max(MAX_MESSAGES_PER_JOB).default(200),
      /**
       * A queue job whose process stopped renewing its lock (killed) is handed to another after this
       * long. The lock is renewed every half of it; a job handed on while its first holder still
       * works is received twice and handled once. Every second of it after a kill stalls all the
       * killed service's senders (their later messages wait for that job's, in order), and the
       * backlog of those seconds drains only as fast as spare capacity allows.
       */
      jobLockMs: positiveInt.min(1_000).default(1_500),
      /** How often workers look for such jobs. */
      stalledCheckMs: positiveInt.min(500).default(500),
      /**
       * Signed items older than this are refused as replays (an unacknowledged event is simply
       * published again, freshly signed). Allows for clock skew between hosts, too.
       */
      maxMessageAgeMs: positiveInt.min(10_000).default(15 * 60_000),
      /**
       * A pair whose next sequence number has not come this long after a later one arrived has a
       * gap: `gaps()`, `GET /rsm/gaps` and `rsm_gap_pairs` show it. Longer than the sender's
       * re-publish backoff, which repairs a lost message by itself.
       */
      gapAfterMs: positiveInt.min(1_000).default(120_000),
      /**
       * Acknowledged outbox rows are deleted together, at most this long after their acknowledgement
       * (one statement, and one transaction, a flush). Under load a flush every 20 ms was a third of
       * a deployment's transactions; a row left 100 ms longer costs nothing (it is re-published
       * only after `ackTimeoutMs`).
       */
      ackFlushMs: z.number().int().nonnegative().default(100),
    })
    .prefault({}),
  timers: z.object({ pollIntervalMs: positiveInt.default(250) }).prefault({}),
  activities: z
    .object({
      concurrency: positiveInt.default(16),
      /** An attempt not finished after this long is presumed lost and taken again. */
      leaseMs: positiveInt.default(30_000),
      pollIntervalMs: positiveInt.default(1_000),
    })
    .prefault({}),
  requests: z
    .object({
      timeoutMs: positiveInt.default(10_000),
      /** Answered requests are kept this long so that a retry with the same key gets the same answer. */
      retentionMs: positiveInt.default(24 * 3_600_000),
    })
    .prefault({}),
  /**
   * Deadlines of the public calls other than `request` (which has `requests.timeoutMs`): `send`,
   * `create`, `get`, `inspect`, `list`, `deadLetters`, `redrive` and the like fail with a typed
   * error after this long; `health` answers within `healthTimeoutMs` whatever hangs.
   */
  calls: z
    .object({
      timeoutMs: positiveInt.default(10_000),
      healthTimeoutMs: positiveInt.default(2_000),
    })
    .prefault({}),
  /** Handled steps are kept this long for inspection; 0 keeps none. */
  stepHistoryMs: z.number().int().nonnegative().default(3_600_000),
  /**
   * How long the janitor keeps what only grows otherwise; 0 keeps it forever. Sequence counters are
   * never deleted (see the README): dropping one side of a pair would let a re-published message
   * in twice or leave the pair waiting forever.
   */
  retention: z
    .object({
      /** Dead letters never redriven: after this long they are deleted (a metric counts them). */
      openDeadLettersMs: z.number().int().nonnegative().default(30 * 86_400_000),
      /** Dead letters already redriven. */
      redrivenDeadLettersMs: z.number().int().nonnegative().default(7 * 86_400_000),
      /**
       * Halted machines, this long after their last step, when nothing waits for them (no inbox
       * row, no timer). Afterwards their id is free: a create makes a new machine; its pairs'
       * counters, once retired (`quietPairsMs`), start a new numbering with a fresh epoch.
       */
      haltedMachinesMs: z.number().int().nonnegative().default(30 * 86_400_000),
      /**
       * A pair's send counter unused this long, with nothing of the pair left in the outbox, is
       * retired: deleted, and the receiver told (it deletes its counter 3 x
       * `delivery.maxMessageAgeMs` later). The next send to the pair starts a new numbering.
       */
      quietPairsMs: z.number().int().nonnegative().default(7 * 86_400_000),
      /** Records of skipped gaps. */
      gapSkipsMs: z.number().int().nonnegative().default(90 * 86_400_000),
      /** The operators' audit log (redrives, discards, skipped gaps). */
      auditLogMs: z.number().int().nonnegative().default(365 * 86_400_000),
    })
    .prefault({}),
  /** How often old step history and answered requests are deleted (a full batch goes on at once). */
  cleanupIntervalMs: positiveInt.default(60_000),
  /**
   * The runtime's tables are rewritten all the time (an outbox row lives milliseconds, a machine
   * row is updated on every step): without VACUUM they grow without end and every statement slows
   * down. Postgres's autovacuum does it; where a server runs with `autovacuum = off`, the runtime
   * vacuums its own tables every `intervalMs` (`mode: 'auto'`, one process per schema at a time).
   * `'always'` vacuums whatever the server does; `'never'` leaves it to the operator.
   */
  vacuum: z
    .object({
      mode: z.enum(['auto', 'always', 'never']).default('auto'),
      intervalMs: positiveInt.default(60_000),
    })
    .prefault({}),
  /**
   * How often machines stored at an older definition version that no event steps are migrated at
   * rest, 100 at a time (a full batch goes on at once), so that a finished rollout leaves no old
   * version behind; 0 leaves them to their next step.
   */
  migrateAtRestIntervalMs: z.number().int().nonnegative().default(10_000),
});

export type RsmOptionsInput = z.input<typeof rsmOptionsSchema>;
export type RsmOptions = z.output<typeof rsmOptionsSchema> & { postgres: { schema: string } };

/** Thrown when options are invalid; the message names each bad setting. */
export class RsmConfigError extends Error {
  override readonly name = 'RsmConfigError';
}

/**
 * Validates options and fills defaults.
 *
 * @example
 * const options = parseRsmOptions({ service: 'workflow', postgres: { url }, redis: { url } });
 */
export function parseRsmOptions(input: RsmOptionsInput): RsmOptions {
  const result = rsmOptionsSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  rsm.${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new RsmConfigError(`invalid RSM configuration:\n${lines.join('\n')}`);
  }
  const options = result.data;
  return {
    ...options,
    postgres: { ...options.postgres, schema: options.postgres.schema ?? options.service.replaceAll('-', '_') },
  };
}
