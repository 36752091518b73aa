import { createHash } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { RemoteMessage } from '../runtime/batch-executor.js';
import type { RsmLogger } from '../runtime/logger.js';

/** One BullMQ job carrying events from one service to another. */
export interface InboundJob {
  readonly from: string;
  readonly messages: readonly RemoteMessage[];
}

export interface DrainJob {
  readonly key: string;
}

export interface TransportHandlers {
  readonly inbound: (job: InboundJob) => Promise<void>;
  /** Outbox ids another service has taken: safe to delete. */
  readonly acks: (ids: readonly string[]) => void;
  readonly drain: (job: DrainJob) => Promise<void>;
  readonly reply: (message: string) => void;
}

export interface TransportOptions {
  readonly service: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly inboundConcurrency: number;
  /** False for an API-only process: it publishes but consumes nothing but acks and replies. */
  readonly worker: boolean;
  /** A job whose worker has not renewed its lock for this long (a killed pod) is handed to another. */
  readonly jobLockMs: number;
  /** How often workers look for such jobs. */
  readonly stalledCheckMs: number;
}

/** Queue and channel names in one place: queues `<service>.inbound` and `<service>.drain`; channels for replies and acks. */
export const queueNames = {
  inbound: (service: string) => `${service}.inbound`,
  drain: (service: string) => `${service}.drain`,
  replies: (prefix: string, service: string) => `${prefix}:${service}:replies`,
  acks: (prefix: string, service: string) => `${prefix}:${service}:acks`,
};

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
  /** Whether the last Redis command succeeded; readiness reports it. */
  healthy = false;

  constructor(
    private readonly options: TransportOptions,
    private readonly logger: RsmLogger,
  ) {
    // Producers fail fast while Redis is down (the outbox keeps everything); workers wait for it.
    this.producer = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    this.workerConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
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
    if (this.options.worker) {
      make<InboundJob>(queueNames.inbound(service), this.options.inboundConcurrency, handlers.inbound);
      make<DrainJob>(queueNames.drain(service), 8, handlers.drain);
    }
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
    const acks = queueNames.acks(prefix, service);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === acks) handlers.acks(message.split(','));
      else handlers.reply(message);
    });
    await this.subscriber.subscribe(queueNames.replies(prefix, service), acks);
  }

  /** Publishes events to another service's inbound queue, split into jobs of at most `perJob`. */
  async publish(destination: string, from: string, messages: readonly RemoteMessage[], perJob: number): Promise<void> {
    const jobs = [];
    for (let i = 0; i < messages.length; i += perJob) {
      const chunk = messages.slice(i, i + perJob);
      jobs.push({ name: 'events', data: { from, messages: chunk } satisfies InboundJob, opts: JOB_DEFAULTS });
    }
    await this.guard(this.queue(queueNames.inbound(destination)).addBulk(jobs));
  }

  /**
   * Tells the publishing service which of its outbox rows arrived. A message on a channel, not a
   * job: a lost acknowledgement costs only a re-publish, which the pair sequence drops.
   */
  async publishAcks(destination: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.guard(this.producer.publish(queueNames.acks(this.options.prefix, destination), ids.join(',')));
  }

  /** Rings the doorbell of a machine: some worker of this service drains it. Coalesced per machine. */
  async requestDrain(keys: readonly string[]): Promise<void> {
    const queue = this.queue(queueNames.drain(this.options.service));
    await this.guard(
      queue.addBulk(
        keys.map((key) => ({
          name: 'drain',
          data: { key } satisfies DrainJob,
          opts: { ...JOB_DEFAULTS, attempts: 1, deduplication: { id: drainDedupId(key), keepLastIfActive: true } },
        })),
      ),
    );
  }

  async publishReply(message: string): Promise<void> {
    await this.guard(this.producer.publish(queueNames.replies(this.options.prefix, this.options.service), message));
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
      throw error;
    }
  }
}

/** A machine key as a Redis-safe name of fixed length: ids may be long and hold any character. */
function drainDedupId(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
