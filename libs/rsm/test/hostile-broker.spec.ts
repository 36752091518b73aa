import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RsmRuntime } from '#rsm';
import { queueNames, type RefusalReason, type TransportChannel } from '../src/delivery/bullmq-transport.js';
import { MessageSigner, type SignedEnvelope } from '../src/delivery/message-signer.js';
import { Counter, Receiver, Sender } from './fixtures/machines.js';
import { testConfig } from './support/config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { pingProblems, pingsSettled, receivedTotal } from './support/ping-checks.js';
import { sigkill, spawnNode, type Child } from './support/process-pool.js';

/**
 * The hostile-broker test: services run as separate processes under load while an adversary with
 * full access to Redis (but not to the signing key) forges, tampers with, replays and misroutes
 * every kind of item the runtime puts there, and flushes Redis once. Then the crash tests'
 * counting: nothing lost, nothing twice, FIFO per pair, every request answered with its real
 * reply; and every kind of forgery counted in `rsm_transport_refused_total`.
 */

const WORKER = join(import.meta.dirname, 'fixtures', 'crash-worker.js');
/** Short, so that items captured during the run can be replayed once they have expired. */
const MAX_AGE_MS = 10_000;
const SENDERS = 4;
const PINGS = 60;
const COUNTERS = 3;
const REQUESTS = 20;

/** Signs as a runtime would, with a key no runtime holds. */
const attacker = new MessageSigner(['an-attacker-key-that-no-service-holds-0123']);

type Kind = `${TransportChannel}/${RefusalReason}`;
type Service = 'svc-a' | 'svc-b';

interface Captured<T> {
  readonly at: number;
  readonly item: T;
}

/** A real signed item seen in Redis: a queue job's data or a channel message. */
interface CapturedJob {
  readonly queue: string;
  readonly data: SignedEnvelope;
}

/** What the adversary did, by the refusal each item should meet (`accepted` items are replays of real ones). */
class Tally {
  readonly counts = new Map<string, number>();
  add(kind: Kind | 'replayed-job' | 'replayed-reply' | 'replayed-ack' | 'raw-garbage-job', n = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
  }
  get(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }
}

function isEnvelope(value: unknown): value is SignedEnvelope {
  return typeof value === 'object' && value !== null && (value as { v?: unknown }).v === 1 && typeof (value as { body?: unknown }).body === 'string';
}

function body(envelope: SignedEnvelope): Record<string, unknown> {
  return JSON.parse(envelope.body) as Record<string, unknown>;
}

/** Real outbox ids read from a captured job: what an attacker sees in Redis. */
function outboxIdsOf(job: CapturedJob): string[] {
  const messages = body(job.data).messages as { outboxId: string }[] | undefined;
  return (messages ?? []).map((m) => m.outboxId);
}

function pick<T>(list: readonly T[]): T | undefined {
  return list[Math.floor(Math.random() * list.length)];
}

/** Sums the refusals of a runtime in this process and of the worker processes' metric files. */
async function refusals(runtimes: readonly RsmRuntime[], files: readonly string[]): Promise<{ byKind: Map<string, number>; duplicates: number }> {
  const byKind = new Map<string, number>();
  let duplicates = 0;
  const add = (channel: string, reason: string, value: number) => byKind.set(`${channel}/${reason}`, (byKind.get(`${channel}/${reason}`) ?? 0) + value);
  for (const runtime of runtimes) {
    for (const v of (await runtime.metrics.transportRefused.get()).values) add(String(v.labels.channel), String(v.labels.reason), v.value);
  }
  for (const file of files) {
    if (!existsSync(file)) continue;
    const dump = JSON.parse(readFileSync(file, 'utf8')) as { refused: { channel: string; reason: string; value: number }[]; duplicates: number };
    for (const v of dump.refused) add(v.channel, v.reason, v.value);
    duplicates += dump.duplicates;
  }
  return { byKind, duplicates };
}

describe('hostile broker: guarantees hold against an adversary with full access to Redis', { concurrency: false }, () => {
  it('refuses and counts every forgery, and still delivers everything exactly once, in order, with real replies', async () => {
    const schemaA = uniqueSchema('hba');
    const schemaB = uniqueSchema('hbb');
    const prefix = uniquePrefix('hostile');
    const dir = mkdtempSync(join(tmpdir(), 'rsm-hostile-'));
    const crashLog = join(dir, 'crashes.log');
    writeFileSync(crashLog, '');
    const metricFiles: string[] = [];
    const workers: Child[] = [];
    const redis = new Redis(testConfig.REDIS_URL);
    const listener = new Redis(testConfig.REDIS_URL);
    const queues = new Map<string, Queue>();
    const queue = (name: string) => {
      let q = queues.get(name);
      if (q === undefined) {
        q = new Queue(name, { connection: redis, prefix });
        q.on('error', () => undefined);
        queues.set(name, q);
      }
      return q;
    };
    const inbound = (s: Service) => queue(queueNames.inbound(s));
    const drain = (s: Service) => queue(queueNames.drain(s));
    const acks = (s: Service) => queueNames.acks(prefix, s);
    const replies = (s: Service) => queueNames.replies(prefix, s);
    const delivery = { ackTimeoutMs: 1_000, sweepIntervalMs: 200, recoveryGraceMs: 500, maxMessageAgeMs: MAX_AGE_MS };
    const apiA = await startRuntime({ service: 'svc-a', schema: schemaA, prefix, machines: [Sender, Counter], routes: { Receiver: 'svc-b' }, overrides: { worker: false, delivery } });
    const apiB = await startRuntime({ service: 'svc-b', schema: schemaB, prefix, machines: [Receiver], overrides: { worker: false, delivery } });
    const tally = new Tally();
    const capturedJobs: Captured<CapturedJob>[] = [];
    const capturedAcks: Captured<string>[] = [];
    const capturedReplies: Captured<string>[] = [];
    const seenJobIds = new Set<string>();
    /** What the adversary published itself, so that it only captures (and replays) real items. */
    const published = new Set<string>();
    /** Keys of requests whose callers are waiting now: the adversary answers them first. */
    const waiting = new Set<string>();
    const answers = new Map<string, unknown>();
    let flushedAt = 0;
    let stop = false;
    const started = Date.now();
    try {
      for (const [slot, service, schema] of [['a1', 'svc-a', schemaA], ['a2', 'svc-a', schemaA], ['b1', 'svc-b', schemaB], ['b2', 'svc-b', schemaB]] as const) {
        const metricsFile = join(dir, `${slot}.json`);
        metricFiles.push(metricsFile);
        workers.push(
          spawnNode(slot, WORKER, {
            SERVICE: service,
            SCHEMA: schema,
            PREFIX: prefix,
            DATABASE_URL: testConfig.DATABASE_URL,
            REDIS_URL: testConfig.REDIS_URL,
            CRASH_LOG: crashLog,
            METRICS_FILE: metricsFile,
            MAX_MESSAGE_AGE_MS: String(MAX_AGE_MS),
          }),
        );
      }
      await Promise.all(workers.map((w) => w.ready));
      // A worker that dies mid-run (an unhandled rejection, a crash on bad input) fails the test.
      const deaths = workers.map((w) => w.exited.then((code) => (stop ? undefined : `${w.name} exited with ${String(code)}`)));

      // The adversary's eyes: every acknowledgement and reply published, and the jobs it can catch in the queues.
      await listener.subscribe(acks('svc-a'), replies('svc-a'));
      listener.on('message', (channel: string, message: string) => {
        if (published.has(message)) return;
        published.add(message);
        (channel === acks('svc-a') ? capturedAcks : capturedReplies).push({ at: Date.now(), item: message });
      });
      // Reads the queues as any Redis client can, job by job (BullMQ's own reader stops at the first corrupt job).
      const capture = async () => {
        for (const name of [queueNames.inbound('svc-b'), queueNames.drain('svc-a'), queueNames.drain('svc-b')]) {
          const base = `${prefix}:${name}`;
          const ids = [...(await redis.lrange(`${base}:wait`, 0, 50)), ...(await redis.lrange(`${base}:active`, 0, 50)), ...(await redis.zrange(`${base}:prioritized`, 0, 50))];
          for (const id of ids) {
            if (seenJobIds.has(`${name}/${id}`)) continue;
            seenJobIds.add(`${name}/${id}`);
            const [jobName, raw] = await redis.hmget(`${base}:${id}`, 'name', 'data');
            // Only real items: the adversary's own jobs carry names of their own.
            if (typeof raw !== 'string' || typeof jobName !== 'string' || jobName.startsWith('forged')) continue;
            let data: unknown;
            try {
              data = JSON.parse(raw);
            } catch {
              continue;
            }
            if (isEnvelope(data)) capturedJobs.push({ at: Date.now(), item: { queue: name, data } });
          }
        }
      };

      const receivers = ['r1', 'r2', 'r3'];
      for (const id of receivers) await apiB.create(Receiver.ref(id), { type: 'Hello' });
      const counters = Array.from({ length: COUNTERS }, (_, i) => `c${i + 1}`);
      for (const id of counters) await apiA.create(Counter.ref(id), { type: 'Open' });
      const senders = Array.from({ length: SENDERS }, (_, i) => `s${i + 1}`);
      for (const id of senders) await apiA.create(Sender.ref(id), { type: 'Start', receivers, count: PINGS, receiverType: 'Receiver' });
      const expected = SENDERS * PINGS;

      // Callers: each counter gets its requests one after another, so the k-th answer must be k.
      const requesters = counters.map(async (id) => {
        for (let k = 1; k <= REQUESTS; k += 1) {
          const key = `${id}:${k}`;
          waiting.add(key);
          try {
            answers.set(key, await apiA.request(Counter.ref(id), { type: 'Add', n: 1 }, { key, timeoutMs: 120_000 }));
          } catch (error) {
            answers.set(key, `error: ${String(error)}`);
          } finally {
            waiting.delete(key);
          }
        }
      });

      const freshJobs = (queueName: string) => capturedJobs.filter((c) => c.item.queue === queueName && Date.now() - c.at < MAX_AGE_MS / 2).map((c) => c.item);
      const addForged = async (target: Queue, data: unknown, kind: Kind) => {
        await target.add(`forged-${kind}`, data, { removeOnComplete: true, removeOnFail: true });
        tally.add(kind);
      };
      const publish = async (channel: string, message: string | Buffer, kind: Kind | 'replayed-ack' | 'replayed-reply') => {
        published.add(message.toString());
        await redis.publish(channel, message);
        tally.add(kind);
      };

      /** One round of attacks on every queue and channel, with what has been captured so far. */
      const round = async () => {
        await capture();
        const now = Date.now();
        const realJob = pick(freshJobs(queueNames.inbound('svc-b')));
        const realDrain = pick(freshJobs(queueNames.drain('svc-a')));
        const ids = realJob === undefined ? ['1', '2', '3'] : outboxIdsOf(realJob);
        const realMessage = realJob === undefined ? undefined : (body(realJob.data).messages as Record<string, unknown>[])[0];
        const message = realMessage ?? { outboxId: '1', kind: 'event', sender: { type: 'Sender', id: 's1' }, to: { type: 'Receiver', id: 'r1' }, seq: 1, event: { type: 'Ping', n: 1 } };

        for (const service of ['svc-a', 'svc-b'] as const) {
          const other = service === 'svc-a' ? 'svc-b' : 'svc-a';
          // Inbound queues: the old unsigned format, garbage, a job signed with a wrong key claiming the
          // real sender with its real next messages, a real job whose body was altered after signing.
          await addForged(inbound(service), { from: other, messages: [message] }, 'inbound/malformed');
          await addForged(inbound(service), 'garbage', 'inbound/malformed');
          await addForged(inbound(service), { v: 1, body: '{not json', sig: 'x' }, 'inbound/bad_signature');
          await addForged(inbound(service), attacker.seal('job', { from: other, to: service, at: now, messages: [{ ...message, event: { type: 'Ping', n: 999 } }] }), 'inbound/bad_signature');
          if (realJob !== undefined) {
            const tampered = { ...body(realJob.data), messages: [{ ...message, sender: { type: 'Sender', id: 'someone-else' }, event: { type: 'Ping', n: 999 } }] };
            await addForged(inbound(service), { ...realJob.data, body: JSON.stringify(tampered) }, 'inbound/bad_signature');
          }
          // Drain (doorbell) queues: unsigned, wrongly signed, and a real job's envelope passed off as a drain.
          await addForged(drain(service), { key: 'Counter/c1' }, 'drain/malformed');
          await addForged(drain(service), 42, 'drain/malformed');
          await addForged(drain(service), attacker.seal('drain', { service, key: 'Counter/c1' }), 'drain/bad_signature');
          if (realJob !== undefined) await addForged(drain(service), realJob.data, 'drain/bad_signature');
        }
        if (realJob !== undefined) {
          // A job signed for svc-b put in svc-a's queue; a drain of svc-a rung at svc-b.
          await addForged(inbound('svc-a'), realJob.data, 'inbound/misaddressed');
          // A fresh replay of a real job: accepted by the transport, dropped as a duplicate by the pair sequence.
          await inbound('svc-b').add('forged-replay', realJob.data, { removeOnComplete: true, removeOnFail: true });
          tally.add('replayed-job');
        }
        if (realDrain !== undefined) await addForged(drain('svc-b'), realDrain.data, 'drain/misaddressed');

        // Acknowledgements of real outbox ids: bare ids, garbage bytes, unsigned JSON, a wrong key,
        // a real job's signature, and a real acknowledgement sent to the wrong service.
        await publish(acks('svc-a'), ids.join(','), 'acks/malformed');
        await publish(acks('svc-a'), randomBytes(24), 'acks/malformed');
        await publish(acks('svc-a'), JSON.stringify({ from: 'svc-b', to: 'svc-a', at: now, ids }), 'acks/malformed');
        await publish(acks('svc-a'), JSON.stringify(attacker.seal('ack', { from: 'svc-b', to: 'svc-a', at: now, ids })), 'acks/bad_signature');
        if (realJob !== undefined) await publish(acks('svc-a'), JSON.stringify(realJob.data), 'acks/bad_signature');
        const realAck = pick(capturedAcks.filter((c) => now - c.at < MAX_AGE_MS / 2));
        if (realAck !== undefined) {
          await publish(acks('svc-b'), realAck.item, 'acks/misaddressed');
          await publish(acks('svc-a'), realAck.item, 'replayed-ack');
        }

        // Replies to the callers waiting right now, with their real keys: each would resolve a request with -1.
        for (const key of waiting) {
          const forged = { key, ok: true, value: -1 };
          await publish(replies('svc-a'), JSON.stringify(forged), 'replies/malformed');
          await publish(replies('svc-a'), randomBytes(16), 'replies/malformed');
          await publish(replies('svc-a'), JSON.stringify(attacker.seal('reply', { service: 'svc-a', at: now, reply: forged })), 'replies/bad_signature');
          await publish(replies('svc-a'), JSON.stringify(attacker.seal('reply', { service: 'svc-a', at: now, reply: { key, ok: false, kind: 'rejected', reason: 'forged' } })), 'replies/bad_signature');
        }
        const realReply = pick(capturedReplies.filter((c) => now - c.at < MAX_AGE_MS / 2));
        if (realReply !== undefined) {
          await publish(replies('svc-b'), realReply.item, 'replies/misaddressed');
          await publish(replies('svc-a'), realReply.item, 'replayed-reply');
        }
      };

      /**
       * A job one of whose JSON fields BullMQ parses when it takes it is not JSON at all, written
       * under BullMQ's feet: its data, or its options or progress (a job that passed a data-only
       * check and then sat in active, never run).
       */
      const rawGarbageJob = async (service: Service) => {
        const job = await inbound(service).add('forged-raw', { placeholder: true }, { delay: 60_000, removeOnComplete: true, removeOnFail: true });
        // The two services' jobs of a pair differ, and the next pair shifts: data, opts, progress, data.
        const field = (['data', 'opts', 'progress'] as const)[(rawJobKeys.length + (service === 'svc-b' ? 1 : 0)) % 3] ?? 'data';
        await redis.hset(`${prefix}:${queueNames.inbound(service)}:${String(job.id)}`, field, Buffer.concat([Buffer.from('{'), randomBytes(12)]));
        await job.promote();
        rawJobKeys.push(`${prefix}:${queueNames.inbound(service)}:${String(job.id)}`);
        tally.add('raw-garbage-job');
      };

      const roundErrors: string[] = [];
      const rawJobKeys: string[] = [];
      // Rounds the adversary completed: the load is not over before it has done five, however fast
      // the pings settle (on a quiet machine they settled within four once).
      let roundsDone = 0;
      const attacks = (async () => {
        let rounds = 0;
        while (!stop) {
          try {
            await round();
            rounds += 1;
            roundsDone = rounds;
            if (rounds === 5 || (flushedAt > 0 && rawJobKeys.length < 4)) await Promise.all([rawGarbageJob('svc-a'), rawGarbageJob('svc-b')]);
            // FLUSHALL once, in the middle of the load: queues, locks and dedup keys all gone.
            if (flushedAt === 0 && (await receivedTotal(apiB, receivers)) >= expected / 4) {
              await redis.flushall();
              flushedAt = Date.now() - started;
            }
          } catch (error) {
            // The adversary's own reads can fail (a job it corrupted, a flush under its feet): it carries on.
            roundErrors.push(String(error));
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return rounds;
      })();

      const settled = (async () => {
        await waitFor(`${expected} pings received and every sender settled`, () => pingsSettled(apiA, apiB, senders, receivers, expected), 150_000);
        await Promise.all(requesters);
        await waitFor('the adversary to complete five rounds', () => roundsDone >= 5, 60_000);
      })();
      const died = await Promise.race([settled.then(() => undefined), ...deaths.map((d) => d.then((why) => why ?? new Promise<never>(() => undefined)))]);
      assert.equal(died, undefined, 'no worker died');
      stop = true;
      const rounds = await attacks;
      assert.ok(rounds >= 5, `the adversary completed ${rounds} rounds (errors: ${roundErrors.slice(0, 3).join('; ')})`);
      const loadSeconds = (Date.now() - started) / 1_000;
      assert.ok(flushedAt > 0, `Redis was flushed during the load (${rounds} rounds, errors: ${roundErrors.slice(0, 3).join('; ')})`);

      // Replays after everything was acknowledged: fresh copies are duplicates, old ones have expired.
      const pool = testPool();
      try {
        await waitFor('every outbox row acknowledged', async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schemaA}".rsm_outbox`)).rows[0]?.n) === 0, 60_000);
      } finally {
        await pool.end();
      }
      const realJobs = capturedJobs.filter((c) => c.item.queue === queueNames.inbound('svc-b'));
      assert.ok(realJobs.length > 0, 'the adversary captured real jobs');
      assert.ok(capturedAcks.length > 0 && capturedReplies.length > 0, 'the adversary captured real acknowledgements and replies');
      // When the first captured job, acknowledgement and reply all are older than the freshness bound.
      const ripe = Math.max(...[realJobs, capturedAcks, capturedReplies].map((list: Captured<unknown>[]) => Math.min(...list.map((c) => c.at)))) + MAX_AGE_MS + 2_000;
      for (const c of realJobs) {
        await inbound('svc-b').add('forged-replay', c.item.data, { removeOnComplete: true, removeOnFail: true });
        tally.add(Date.now() - c.at > MAX_AGE_MS + 2_000 ? 'inbound/expired' : 'replayed-job');
      }
      // Items older than the freshness bound are refused whatever their signature: wait until the first captures are.
      await waitFor('the first captured items to be older than the freshness bound', () => Date.now() > ripe, 60_000);
      const old = <T>(list: Captured<T>[]) => list.filter((c) => Date.now() - c.at > MAX_AGE_MS + 2_000).slice(0, 20);
      for (const c of old(realJobs)) {
        await inbound('svc-b').add('forged-replay', c.item.data, { removeOnComplete: true, removeOnFail: true });
        tally.add('inbound/expired');
      }
      for (const c of old(capturedAcks)) await publish(acks('svc-a'), c.item, 'acks/expired');
      for (const c of old(capturedReplies)) await publish(replies('svc-a'), c.item, 'replies/expired');

      // Every kind injected is refused and counted: by the processes of the service it was sent to.
      const kinds = [...tally.counts.keys()].filter((k) => /^(inbound|drain|acks|replies)\//.test(k));
      let seen = new Map<string, number>();
      let duplicates = 0;
      await waitFor('every kind of forgery to be counted as refused', async () => {
        const now = await refusals([apiA, apiB], metricFiles);
        seen = now.byKind;
        duplicates = now.duplicates;
        return kinds.every((k) => (seen.get(k) ?? 0) > 0);
      }, 30_000);
      let left = '';
      await waitFor('the injected jobs to be consumed', async () => {
        left = '';
        for (const q of queues.values()) {
          const counts = await q.getJobCounts('wait', 'active', 'prioritized');
          if ((counts.wait ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0) > 0) left += ` ${q.name}: ${JSON.stringify(counts)}`;
        }
        return left === '';
      }, 30_000).catch((error: unknown) => assert.fail(`${String(error)}; left:${left}`));

      // A job BullMQ cannot even read is removed (and counted), not left cycling in the queue forever.
      await waitFor('the unreadable jobs to be removed', async () => (await redis.exists(...rawJobKeys)) === 0, 30_000);

      // Quiet now: let late duplicates surface before counting.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const problems = await pingProblems(apiA, apiB, senders, receivers, expected, [schemaA, schemaB]);
      for (const id of counters) {
        for (let k = 1; k <= REQUESTS; k += 1) {
          const answer = answers.get(`${id}:${k}`);
          if (answer !== k) problems.push(`request ${id}:${k} answered ${JSON.stringify(answer)}, expected ${k}`);
        }
        const total = ((await apiA.get(Counter.ref(id)))?.data as { total: number }).total;
        if (total !== REQUESTS) problems.push(`counter ${id} at ${total}, expected ${REQUESTS}`);
      }
      assert.deepEqual(problems, [], 'every guarantee holds');
      // Pub/sub reaches every subscriber: the caller's own process saw each forged item on svc-a's channels.
      const inA = (await refusals([apiA], [])).byKind;
      for (const kind of ['acks/malformed', 'acks/bad_signature', 'replies/malformed', 'replies/bad_signature'] as const) {
        assert.ok((inA.get(kind) ?? 0) >= tally.get(kind), `${kind}: svc-a's API process refused ${inA.get(kind) ?? 0} of ${tally.get(kind)} forged`);
      }
      ({ byKind: seen, duplicates } = await refusals([apiA, apiB], metricFiles));
      assert.ok(duplicates > 0, 'replayed jobs were dropped as duplicates');
      for (const k of kinds) assert.ok((seen.get(k) ?? 0) > 0, `${k} refused`);

      const report = [...tally.counts.entries()].sort().map(([k, n]) => `${k}: injected ${n}, refused ${seen.get(k) ?? '-'}`);
      console.log(`# hostile broker: ${rounds} attack rounds over ${loadSeconds.toFixed(1)} s of load, Redis flushed at ${(flushedAt / 1_000).toFixed(1)} s, ${duplicates} duplicates dropped, ${((Date.now() - started) / 1_000).toFixed(1)} s in all`);
      for (const line of report) console.log(`#   ${line}`);
    } finally {
      stop = true;
      await Promise.all(workers.map((w) => sigkill(w)));
      for (const q of queues.values()) await q.close().catch(() => undefined);
      redis.disconnect();
      listener.disconnect();
      await apiA.stop();
      await apiB.stop();
      await dropSchemas(schemaA, schemaB);
    }
  });
});
