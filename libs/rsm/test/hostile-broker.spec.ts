import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RsmRuntime } from '#rsm';
import { queueNames } from '../src/delivery/bullmq-transport.js';
import { MessageSigner } from '../src/delivery/message-signer.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { runPingScenario, type ScenarioContext } from './support/ping-scenario.js';

/** Signs as a runtime would, but with a key no runtime holds: what anyone who can write to Redis can do. */
const attacker = new MessageSigner(['an-attacker-key-that-no-service-holds-0123']);
/**
 * Signs with the deployment's key. The adversary never signs new content with it (a holder of the
 * key is a trusted process); it uses it only for items a real process could have written and
 * Redis could hand back at the wrong time or place: expired, or on another service's channel.
 */
const insider = new MessageSigner(TEST_SIGNING_KEYS);
const SERVICES = ['svc-a', 'svc-b'] as const;
type Channel = 'inbound' | 'drain' | 'acks' | 'replies';

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
const fakeMessage = (seq: number) => ({ outboxId: String(1 + Math.floor(Math.random() * 5_000)), kind: 'event', sender: { type: 'Sender', id: pick(['s1', 's2', 's3', 's4']) }, to: { type: 'Receiver', id: pick(['r1', 'r2', 'r3']) }, seq, event: { type: 'Ping', n: seq } });

/**
 * A process with full access to Redis and none to the signing key: it forges and garbles items on
 * every queue and channel the runtime uses, replays genuine ones it captured (late, twice, and on
 * the wrong service's queue), and counts what it sent by channel.
 */
class HostileBroker {
  readonly sent: Record<Channel, number> = { inbound: 0, drain: 0, acks: 0, replies: 0 };
  /** Genuine jobs and messages put back: late, twice, or on the other service's queue. */
  replayed = 0;
  private readonly redis = new Redis(testConfig.REDIS_URL, { maxRetriesPerRequest: 1 });
  private readonly listener = new Redis(testConfig.REDIS_URL);
  private readonly captured: { jobs: { channel: 'inbound' | 'drain'; service: string; data: unknown }[]; messages: { channel: string; message: string }[] } = { jobs: [], messages: [] };
  private queues = new Map<string, Queue>();
  private timer: NodeJS.Timeout | undefined;
  private capture: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;

  start(ctx: ScenarioContext): void {
    for (const service of SERVICES) {
      for (const name of [queueNames.inbound(service), queueNames.drain(service)]) this.queues.set(name, new Queue(name, { connection: this.redis, prefix: ctx.prefix }));
    }
    const channels = SERVICES.flatMap((s) => [queueNames.acks(ctx.prefix, s), queueNames.replies(ctx.prefix, s)]);
    this.listener.on('message', (channel: string, message: string) => {
      if (this.captured.messages.length < 500) this.captured.messages.push({ channel, message });
    });
    void this.listener.subscribe(...channels).catch(() => undefined);
    // Genuine jobs, copied while they wait, to replay later.
    this.capture = setInterval(() => void this.captureJobs(), 100);
    this.timer = setInterval(() => {
      if (this.busy || this.stopped) return;
      this.busy = true;
      void this.strike(ctx).catch(() => undefined).finally(() => (this.busy = false));
    }, 10);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.capture);
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.redis.disconnect();
    this.listener.disconnect();
  }

  private async captureJobs(): Promise<void> {
    if (this.stopped || this.captured.jobs.length >= 300) return;
    for (const service of SERVICES) {
      for (const channel of ['inbound', 'drain'] as const) {
        const queue = this.queues.get(channel === 'inbound' ? queueNames.inbound(service) : queueNames.drain(service));
        const jobs = (await queue?.getJobs(['waiting', 'active', 'delayed'], 0, 5).catch(() => [])) ?? [];
        for (const job of jobs) if (job !== undefined) this.captured.jobs.push({ channel, service, data: job.data as unknown });
      }
    }
  }

  private async add(channel: 'inbound' | 'drain', service: string, data: unknown): Promise<void> {
    const name = channel === 'inbound' ? queueNames.inbound(service) : queueNames.drain(service);
    await this.queues.get(name)?.add(channel === 'inbound' ? 'events' : 'drain', data, { removeOnComplete: true, removeOnFail: true });
    this.sent[channel] += 1;
  }

  private async publish(channel: 'acks' | 'replies', target: string, message: string): Promise<void> {
    await this.redis.publish(target, message);
    this.sent[channel] += 1;
  }

  /** One hostile act, drawn at random. */
  private async strike(ctx: ScenarioContext): Promise<void> {
    const now = Date.now();
    const service = pick(SERVICES);
    const other = service === 'svc-a' ? 'svc-b' : 'svc-a';
    const ids = Array.from({ length: 5 }, () => String(1 + Math.floor(Math.random() * 5_000)));
    const acks = queueNames.acks(ctx.prefix, service);
    const replies = queueNames.replies(ctx.prefix, service);
    const forgedReply = { key: `add-${1 + Math.floor(Math.random() * 20)}`, ok: true, value: 9_999 };
    const acts: (() => Promise<void>)[] = [
      // Inbound: garbage, an unsigned job, a forged one claiming a real sender, one for another service, an expired one.
      () => this.add('inbound', service, 'garbage'),
      () => this.add('inbound', service, { from: other, to: service, at: now, messages: [fakeMessage(1)] }),
      () => this.add('inbound', service, attacker.seal('job', { from: other, to: service, at: now, messages: [fakeMessage(1 + Math.floor(Math.random() * 60))] })),
      () => this.add('inbound', service, insider.seal('job', { from: service, to: other, at: now, messages: [fakeMessage(1)] })),
      () => this.add('inbound', service, insider.seal('job', { from: other, to: service, at: now - 3_600_000, messages: [fakeMessage(1)] })),
      () => this.add('inbound', service, insider.seal('job', { from: other, to: service, at: now, messages: [{ ...fakeMessage(1), seq: -1 }] })),
      // Drain doorbells: garbage, forged, for another service.
      () => this.add('drain', service, { service, key: 'Receiver r1' }),
      () => this.add('drain', service, attacker.seal('drain', { service, key: 'Receiver r1' })),
      () => this.add('drain', service, insider.seal('drain', { service: other, key: 'Receiver r1' })),
      // Acknowledgements that would delete undelivered outbox rows: bare ids, forged, expired, misaddressed, garbage.
      () => this.publish('acks', acks, ids.join(',')),
      () => this.publish('acks', acks, JSON.stringify(attacker.seal('ack', { from: other, to: service, at: now, ids }))),
      () => this.publish('acks', acks, JSON.stringify(insider.seal('ack', { from: other, to: service, at: now - 3_600_000, ids }))),
      () => this.publish('acks', acks, JSON.stringify(insider.seal('ack', { from: other, to: 'svc-x', at: now, ids }))),
      () => this.publish('acks', acks, '{"from":'),
      // Replies that would answer a waiting caller with a made-up value.
      () => this.publish('replies', replies, JSON.stringify(forgedReply)),
      () => this.publish('replies', replies, JSON.stringify(attacker.seal('reply', { service, at: now, reply: forgedReply }))),
      () => this.publish('replies', replies, JSON.stringify(insider.seal('reply', { service: other, at: now, reply: forgedReply }))),
      () => this.publish('replies', replies, JSON.stringify(insider.seal('reply', { service, at: now - 3_600_000, reply: forgedReply }))),
      () => this.publish('replies', replies, 'garbage'),
    ];
    // Replays of genuine items: the same job again (duplicates), on the other service's queue (misaddressed), a genuine ack or reply again.
    const job = this.captured.jobs.length > 0 ? pick(this.captured.jobs) : undefined;
    const replay = (work: () => Promise<void>) => async () => {
      await work();
      this.replayed += 1;
    };
    if (job !== undefined) {
      acts.push(replay(() => this.add(job.channel, job.service, job.data)));
      acts.push(replay(() => this.add(job.channel, job.service === 'svc-a' ? 'svc-b' : 'svc-a', job.data)));
    }
    const message = this.captured.messages.length > 0 ? pick(this.captured.messages) : undefined;
    if (message !== undefined) acts.push(replay(() => this.publish(message.channel.endsWith(':acks') ? 'acks' : 'replies', message.channel, message.message)));
    await pick(acts)();
  }
}

/** Items refused by every runtime of the run, by channel and reason: the workers' files and the two API runtimes. */
async function refusals(dir: string, apis: readonly RsmRuntime[]): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  const add = (channel: string, reason: string, value: number) => totals.set(`${channel}/${reason}`, (totals.get(`${channel}/${reason}`) ?? 0) + value);
  for (const file of readdirSync(dir)) {
    for (const v of JSON.parse(readFileSync(join(dir, file), 'utf8')) as { channel: string; reason: string; value: number }[]) add(v.channel, v.reason, v.value);
  }
  for (const api of apis) for (const v of (await api.metrics.transportRefused.get()).values) add(String(v.labels.channel), String(v.labels.reason), v.value);
  return totals;
}

describe('a hostile broker: Redis forges, replays, garbles and loses items under load', { concurrency: false }, () => {
  it('loses nothing, duplicates nothing, keeps FIFO per pair, answers every caller truly, and counts every forgery', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rsm-hostile-'));
    const broker = new HostileBroker();
    const flusher = new Redis(testConfig.REDIS_URL);
    let apis: RsmRuntime[] = [];
    let counts: Map<string, number> | undefined;
    try {
      const outcome = await runPingScenario({
        senders: 6,
        pings: 100,
        killEveryMs: 0,
        crashPoints: false,
        requests: 20,
        refusalsDir: dir,
        disruptions: [{ atMs: 1_500, name: 'redis flushall', run: async () => void (await flusher.flushall()) }],
        adversary: {
          start: (ctx) => {
            apis = [ctx.apiA, ctx.apiB];
            broker.start(ctx);
          },
          stop: async () => {
            // Count before the API runtimes stop: their metrics go with them.
            if (apis.length > 0) {
              const counted = await refusals(dir, apis);
              counts = counted;
              apis = [];
            }
            await broker.stop();
          },
        },
      });
      assert.deepEqual(outcome.answers, Array.from({ length: 20 }, (_, i) => i + 1));
      const seen = counts;
      assert.ok(seen !== undefined, 'refusals were counted');
      const sum = (channel: Channel) => [...seen.entries()].filter(([k]) => k.startsWith(`${channel}/`)).reduce((s, [, v]) => s + v, 0);
      for (const channel of ['inbound', 'drain', 'acks', 'replies'] as const) {
        assert.ok(broker.sent[channel] > 0, `the adversary sent on ${channel}`);
        assert.ok(sum(channel) > 0, `${channel}: forged items refused and counted (${JSON.stringify([...seen])})`);
      }
      for (const key of ['inbound/malformed', 'inbound/bad_signature', 'inbound/misaddressed', 'inbound/expired', 'acks/bad_signature', 'acks/misaddressed', 'acks/expired', 'acks/malformed', 'replies/bad_signature', 'replies/misaddressed', 'replies/expired', 'replies/malformed']) {
        assert.ok((seen.get(key) ?? 0) > 0, `${key} refused at least once (${JSON.stringify([...seen])})`);
      }
      assert.ok(broker.replayed > 0, 'genuine items were replayed');
      console.log(`# hostile broker: sent ${JSON.stringify(broker.sent)}, ${broker.replayed} of them replays of genuine items; refused ${JSON.stringify(Object.fromEntries(seen))}; ${outcome.seconds.toFixed(1)} s`);
    } finally {
      await broker.stop();
      flusher.disconnect();
    }
  });
});

