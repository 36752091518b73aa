import { createHash } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { InboundJob, KeyedReply, LagReport, RemoteMessage } from '../core/messages.js';
import type { RsmLogger } from '../core/logger.js';
import { MessageSigner, type SignedKind } from './message-signer.js';
import { coalesceWrites, redisConnection, type RedisEndpoint } from './redis-connection.js';

/**
 * The longest message read from the acknowledgement and reply channels: an acknowledgement of the
 * most ids a schema allows (100,000) is about 3 MiB, and a reply is a handler's answer to a caller.
 */
export const MAX_CHANNEL_MESSAGE_CHARS = 8 * 1_048_576;
import { ackSchema, drainSchema, inboundJobSchema, replySchema } from './wire-schemas.js';

/** One BullMQ job carrying events from one service to another. */

export interface DrainJob {
  readonly key: string;
}

export interface TransportHandlers {
  readonly inbound: (job: InboundJob) => Promise<void>;
  /** Outbox ids that service `from` has taken: safe to delete if they were addressed to it. */
  readonly acks: (from: string, ids: readonly string[], load: Readonly<Record<string, LagReport>> | undefined) => void;
  readonly drain: (job: DrainJob) => Promise<void>;
  readonly reply: (reply: KeyedReply) => void;
}

/** Where a refused item came from, and why it was refused: bounded sets, fit for metric labels. */
export type TransportChannel = 'inbound' | 'drain' | 'acks' | 'replies';
export type RefusalReason = 'malformed' | 'bad_signature' | 'expired' | 'misaddressed';

export interface TransportOptions {
  readonly service: string;
  readonly redis: RedisEndpoint;
  readonly prefix: string;
  readonly inboundConcurrency: number;
  /** False for an API-only process: it publishes but consumes nothing but acks and replies. */
  readonly worker: boolean;
  /** A job whose worker has not renewed its lock for this long (a killed pod) is handed to another. */
  readonly jobLockMs: number;
  /** How often workers look for such jobs. */
  readonly stalledCheckMs: number;
  /** HMAC keys: the first signs, any verifies. */
  readonly signingKeys: readonly string[];
  /** Signed items older than this (or this far in the future) are refused: replays are bounded in time. */
  readonly maxMessageAgeMs: number;
  /** A publishing command without an answer for this long fails (`redis.commandTimeoutMs`). */
  readonly commandTimeoutMs: number;
  /** Called for every item refused, after it is dropped. */
  readonly onRefused: (channel: TransportChannel, reason: RefusalReason, detail: string) => void;
  /** Called after items are put in Redis: jobs on an inbound or drain queue, messages on a channel. */
  readonly onPublished?: (channel: TransportChannel, items: number) => void;
  /** Called with how long an accepted inbound job waited in Redis since it was signed (a backlog in the queue is lag too). */
  readonly onInboundWait?: (ms: number) => void;
}

/** Queue and channel names in one place: queues `<service>.inbound` and `<service>.drain`; channels for replies and acks. */
export const queueNames = {
  inbound: (service: string) => `${service}.inbound`,
  drain: (service: string) => `${service}.drain`,
  replies: (prefix: string, service: string) => `${prefix}:${service}:replies`,
  acks: (prefix: string, service: string) => `${prefix}:${service}:acks`,
};

/** TCP keep-alive on every Redis connection: an idle peer that vanished is noticed in seconds, not hours. */
const KEEP_ALIVE_MS = 10_000;

const JOB_DEFAULTS = {
  removeOnComplete: true,
  removeOnFail: { count: 1_000 },
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
} as const;

/**
 * Redis as a doorbell and a transport, never the only copy of anything: every message published
 * here is also in a Postgres outbox until acknowledged, so a lost job only costs a re-publish.
 */
export class BullmqTransport {
  private readonly producer: Redis;
  private readonly subscriber: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly workerConnection: Redis;
  private readonly signer: MessageSigner;
  /** Whether the last Redis command succeeded; readiness reports it. */
  healthy = false;

  constructor(
    private readonly options: TransportOptions,
    private readonly logger: RsmLogger,
  ) {
    this.signer = new MessageSigner(options.signingKeys);
    // Producers fail fast while Redis is down (the outbox keeps everything); workers wait for it.
    // Only the producer has a command deadline: BullMQ's blocking waits run on copies of the worker
    // connection, and a deadline there would cut them short.
    this.producer = coalesceWrites(redisConnection(options.redis, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, keepAlive: KEEP_ALIVE_MS, commandTimeout: options.commandTimeoutMs }));
    this.workerConnection = coalesceWrites(redisConnection(options.redis, { maxRetriesPerRequest: null, lazyConnect: true, keepAlive: KEEP_ALIVE_MS }));
    this.subscriber = redisConnection(options.redis, { maxRetriesPerRequest: null, lazyConnect: true, keepAlive: KEEP_ALIVE_MS });
    for (const connection of [this.producer, this.workerConnection, this.subscriber]) {
      connection.on('error', (error: Error) => {
        this.healthy = false;
        this.logger.debug({ err: error.message }, 'redis connection error');
      });
    }
    this.producer.on('ready', () => {
      this.healthy = true;
    });
  }

  async start(handlers: TransportHandlers): Promise<void> {
    await Promise.all([this.producer.connect(), this.workerConnection.connect(), this.subscriber.connect()]);
    this.healthy = true;
    const { service, prefix } = this.options;
    const make = <T>(name: string, concurrency: number, run: (data: T) => Promise<void>) => {
      const worker = new Worker<T>(name, async (job: Job<T>) => run(job.data), {
        connection: this.workerConnection,
        prefix,
        concurrency,
        autorun: true,
        lockDuration: this.options.jobLockMs,
        stalledInterval: this.options.stalledCheckMs,
        // A job stalled by repeated kills is still only a copy (the outbox has the original): keep trying.
        maxStalledCount: 10,
      });
      worker.on('error', (error) => this.logger.debug({ err: error.message, queue: name }, 'queue worker error'));
      worker.on('failed', (job, error) => this.logger.warn({ err: error.message, queue: name, job: job?.id }, 'queue job failed'));
      this.workers.push(worker);
    };
    // A refused job completes without effect: it is dropped, never retried, never acknowledged.
    if (this.options.worker) {
      make<unknown>(queueNames.inbound(service), this.options.inboundConcurrency, async (data) => {
        const job = this.openItem('inbound', 'job', data, inboundJobSchema);
        if (job !== undefined && this.addressedHere('inbound', job.to) && this.fresh('inbound', job.at)) {
          this.options.onInboundWait?.(Date.now() - job.at);
          await handlers.inbound(job);
        }
      });
      make<unknown>(queueNames.drain(service), 8, async (data) => {
        const drain = this.openItem('drain', 'drain', data, drainSchema);
        if (drain !== undefined && this.addressedHere('drain', drain.service)) await handlers.drain({ key: drain.key });
      });
    }
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    const acks = queueNames.acks(prefix, service);
    this.subscriber.on('message', (channel: string, message: string) => {
      const kind: TransportChannel = channel === acks ? 'acks' : 'replies';
      // Anyone who can write to Redis can publish here: what is longer than any message this
      // runtime sends is refused before it is parsed, in every process at once.
      if (message.length > MAX_CHANNEL_MESSAGE_CHARS) {
        this.options.onRefused(kind, 'malformed', `${message.length} characters, more than ${MAX_CHANNEL_MESSAGE_CHARS}`);
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(message);
      } catch {
        this.options.onRefused(kind, 'malformed', 'not JSON');
        return;
      }
      if (kind === 'acks') {
        const ack = this.openItem('acks', 'ack', raw, ackSchema);
        if (ack !== undefined && this.addressedHere('acks', ack.to) && this.fresh('acks', ack.at)) handlers.acks(ack.from, ack.ids, ack.load);
      } else {
        const reply = this.openItem('replies', 'reply', raw, replySchema);
        if (reply !== undefined && this.addressedHere('replies', reply.service) && this.fresh('replies', reply.at)) handlers.reply(reply.reply);
      }
    });
    await this.subscriber.subscribe(queueNames.replies(prefix, service), acks);
  }

  /** Publishes events to another service's inbound queue, split into jobs of at most `perJob`. */
  async publish(destination: string, from: string, messages: readonly RemoteMessage[], perJob: number): Promise<void> {
    const jobs = [];
    for (let i = 0; i < messages.length; i += perJob) {
      const chunk = messages.slice(i, i + perJob);
      const job: InboundJob & { to: string; at: number } = { from, to: destination, at: Date.now(), messages: chunk };
      jobs.push({ name: 'events', data: this.signer.seal('job', job), opts: JOB_DEFAULTS });
    }
    await this.guard(this.queue(queueNames.inbound(destination)).addBulk(jobs));
    this.options.onPublished?.('inbound', jobs.length);
  }

  /** Jobs waiting in a service's inbound queue (waiting, or delayed for a retry): what it has yet to take. */
  async queuedJobs(destination: string): Promise<number> {
    return this.guard(this.queue(queueNames.inbound(destination)).getJobCountByTypes('waiting', 'delayed', 'prioritized'));
  }

  /**
   * Tells the publishing service which of its outbox rows arrived. A message on a channel, not a
   * job: a lost acknowledgement costs only a re-publish, which the pair sequence drops.
   */
  async publishAcks(destination: string, ids: readonly string[], load?: Readonly<Record<string, LagReport>>): Promise<void> {
    if (ids.length === 0) return;
    const ack = { from: this.options.service, to: destination, at: Date.now(), ids, ...(load !== undefined ? { load } : {}) };
    await this.guard(this.producer.publish(queueNames.acks(this.options.prefix, destination), JSON.stringify(this.signer.seal('ack', ack))));
    this.options.onPublished?.('acks', 1);
  }

  /** Rings the doorbell of a machine: some worker of this service drains it. Coalesced per machine. */
  async requestDrain(keys: readonly string[]): Promise<void> {
    const queue = this.queue(queueNames.drain(this.options.service));
    await this.guard(
      queue.addBulk(
        keys.map((key) => ({
          name: 'drain',
          data: this.signer.seal('drain', { service: this.options.service, key }),
          opts: { ...JOB_DEFAULTS, attempts: 1, deduplication: { id: drainDedupId(key), keepLastIfActive: true } },
        })),
      ),
    );
    this.options.onPublished?.('drain', keys.length);
  }

  /** Answers a caller waiting in another process of this service. */
  async publishReply(reply: KeyedReply): Promise<void> {
    const message = this.signer.seal('reply', { service: this.options.service, at: Date.now(), reply });
    await this.guard(this.producer.publish(queueNames.replies(this.options.prefix, this.options.service), JSON.stringify(message)));
    this.options.onPublished?.('replies', 1);
  }

  /**
   * Removes, and counts as malformed, jobs of this service's queues whose stored data is not JSON
   * (written into Redis by hand). BullMQ cannot read such a job: it neither runs nor fails it, and
   * the job cycles between the stalled check and `active` forever, an error at every check. Only
   * `active` is scanned: every worker fetch moves a waiting job there, and it is never longer than
   * the concurrency plus such jobs. Such a job is locked most of the time (each fetch locks it before
   * failing to read it), and nobody will ever process it: its lock is deleted first. A job fetched
   * again between the two commands is removed at a later call.
   */
  async removeUnreadableJobs(): Promise<number> {
    if (!this.options.worker) return 0;
    let removed = 0;
    for (const [channel, name] of [['inbound', queueNames.inbound(this.options.service)], ['drain', queueNames.drain(this.options.service)]] as const) {
      const queue = this.queue(name);
      const ids = await this.guard(queue.getRanges(['active'], 0, 199));
      for (const id of ids) {
        // Every field BullMQ parses as JSON when it takes a job: any one it cannot read leaves the
        // job moved to active and never run, back in waiting after each stalled check, for ever.
        const fields = await this.guard(this.producer.hmget(queue.toKey(id), ...JSON_JOB_FIELDS));
        const unreadable = JSON_JOB_FIELDS.find((_, i) => { const text = fields[i]; return text !== null && text !== undefined && !readable(text); });
        if (unreadable === undefined) continue;
        await this.guard(this.producer.del(`${queue.toKey(id)}:lock`));
        if ((await this.guard(queue.remove(id))) !== 1) continue;
        removed += 1;
        this.options.onRefused(channel, 'malformed', `job ${unreadable} is not JSON`);
      }
    }
    return removed;
  }

  async ping(): Promise<boolean> {
    try {
      await this.producer.ping();
      this.healthy = true;
      return true;
    } catch {
      this.healthy = false;
      return false;
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((worker) => worker.close()));
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    for (const connection of [this.producer, this.workerConnection, this.subscriber]) connection.disconnect();
  }

  /** The checked payload of a signed item, or undefined after counting its refusal. */
  private openItem<S extends z.ZodType>(channel: TransportChannel, kind: SignedKind, raw: unknown, schema: S): z.output<S> | undefined {
    const opened = this.signer.open(kind, raw);
    if (!opened.ok) {
      this.options.onRefused(channel, opened.reason, opened.reason === 'bad_signature' ? 'signature matches no key' : 'not a signed envelope');
      return undefined;
    }
    const parsed = schema.safeParse(opened.payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.options.onRefused(channel, 'malformed', issue === undefined ? 'invalid' : `${issue.path.join('.')}: ${issue.message}`);
      return undefined;
    }
    return parsed.data;
  }

  /** Whether a signed item names this service as its destination (a signed item can still be sent to the wrong place). */
  private addressedHere(channel: TransportChannel, destination: string): boolean {
    if (destination === this.options.service) return true;
    this.options.onRefused(channel, 'misaddressed', `addressed to ${destination}`);
    return false;
  }

  /** Whether a signed item is recent: an old one replayed from Redis is refused. */
  private fresh(channel: TransportChannel, at: number): boolean {
    const age = Date.now() - at;
    if (age <= this.options.maxMessageAgeMs && age >= -this.options.maxMessageAgeMs) return true;
    this.options.onRefused(channel, 'expired', `signed ${Math.round(age / 1_000)} s ago`);
    return false;
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.producer, prefix: this.options.prefix });
      queue.on('error', (error) => this.logger.debug({ err: error.message, queue: name }, 'queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  private async guard<T>(promise: Promise<T>): Promise<T> {
    try {
      const value = await promise;
      this.healthy = true;
      return value;
    } catch (error) {
      this.healthy = false;
      // A command that got no answer within `commandTimeoutMs`: the connection is as good as gone
      // (a half-open socket stays 'connected' until TCP gives up): drop it and connect afresh.
      if (error instanceof Error && error.message === 'Command timed out') this.producer.disconnect(true);
      throw error;
    }
  }
}

/** The fields of a job's hash that BullMQ 6 reads with JSON.parse when a worker takes it. */
const JSON_JOB_FIELDS = ['data', 'opts', 'progress', 'parent'] as const;

function readable(json: string): boolean {
  try {
    JSON.parse(json);
    return true;
  } catch {
    return false;
  }
}

/** A machine key as a Redis-safe name of fixed length: ids may be long and hold any character. */
function drainDedupId(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
