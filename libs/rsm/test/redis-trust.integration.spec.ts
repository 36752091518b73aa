import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RsmRuntime } from '#rsm';
import { queueNames } from '../src/delivery/bullmq-transport.js';
import { MessageSigner } from '../src/delivery/message-signer.js';
import { Counter, Receiver, Sender, recordActivity } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/** Signs as a runtime would, but with a key no runtime holds. */
const attacker = new MessageSigner(['an-attacker-key-that-no-service-holds-0123']);
/** Signs with the deployment's key: a legitimate process, or a replay of one's items. */
const insider = new MessageSigner(TEST_SIGNING_KEYS);

async function refused(runtime: RsmRuntime, channel: string, reason: string): Promise<number> {
  const metric = await runtime.metrics.transportRefused.get();
  return metric.values.filter((v) => v.labels.channel === channel && v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
}

describe('Redis is never trusted', () => {
  const schemaA = uniqueSchema('tra');
  const schemaB = uniqueSchema('trb');
  const prefix = uniquePrefix('trust');
  const pool = testPool();
  const redis = new Redis(testConfig.REDIS_URL);
  const listener = new Redis(testConfig.REDIS_URL);
  const seenAcks: string[] = [];
  let a: RsmRuntime;
  let b: RsmRuntime;
  let inboundB: Queue;

  before(async () => {
    // Service a sends to b, and to `ghost`, a service that never runs: its rows stay in a's outbox.
    a = await startRuntime({ service: 'trust-a', schema: schemaA, prefix, machines: [Sender, Counter], routes: { Receiver: 'trust-b', Ghost: 'ghost' }, activities: [recordActivity] });
    b = await startRuntime({ service: 'trust-b', schema: schemaB, prefix, machines: [Receiver] });
    inboundB = new Queue(queueNames.inbound('trust-b'), { connection: redis, prefix });
    await listener.subscribe(queueNames.acks(prefix, 'trust-a'));
    listener.on('message', (_channel: string, message: string) => seenAcks.push(message));
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await inboundB?.close();
    redis.disconnect();
    listener.disconnect();
    await pool.end();
    await dropSchemas(schemaA, schemaB);
  });

  const outboxIds = async () => (await pool.query<{ id: string }>(`SELECT id FROM "${schemaA}".rsm_outbox ORDER BY id`)).rows.map((r) => r.id);

  it('lets no forged, misaddressed or expired acknowledgement delete an outbox row', async () => {
    await a.create({ type: 'Sender', id: 'to-ghost' }, { type: 'Start', receivers: ['g1'], count: 3, receiverType: 'Ghost' });
    const ids = await waitFor('three rows for ghost in the outbox', async () => ((await outboxIds()).length === 3 ? outboxIds() : undefined));
    const channel = queueNames.acks(prefix, 'trust-a');
    const now = Date.now();
    const before = { malformed: await refused(a, 'acks', 'malformed'), bad: await refused(a, 'acks', 'bad_signature'), expired: await refused(a, 'acks', 'expired'), misaddressed: await refused(a, 'acks', 'misaddressed') };
    await redis.publish(channel, ids.join(','));
    await redis.publish(channel, JSON.stringify(attacker.seal('ack', { from: 'ghost', to: 'trust-a', at: now, ids })));
    await redis.publish(channel, JSON.stringify(insider.seal('ack', { from: 'ghost', to: 'trust-a', at: now - 3_600_000, ids })));
    await redis.publish(channel, JSON.stringify(insider.seal('ack', { from: 'ghost', to: 'someone-else', at: now, ids })));
    await redis.publish(channel, JSON.stringify(insider.seal('ack', { from: 'ghost', to: 'trust-a', at: now, ids: ['1; DROP TABLE x'] })));
    // A real service acknowledging ids that were never addressed to it.
    await redis.publish(channel, JSON.stringify(insider.seal('ack', { from: 'trust-b', to: 'trust-a', at: now, ids })));
    // Megabytes of JSON no signature covers: refused by its length, before anything parses it.
    await redis.publish(channel, `[${'[],'.repeat(3_000_000)}[]]`);
    await waitFor('every forged acknowledgement to be refused', async () =>
      (await refused(a, 'acks', 'malformed')) === before.malformed + 3 &&
      (await refused(a, 'acks', 'bad_signature')) === before.bad + 1 &&
      (await refused(a, 'acks', 'expired')) === before.expired + 1 &&
      (await refused(a, 'acks', 'misaddressed')) === before.misaddressed + 1,
    );
    // The misdirected one is not refused by the transport: its delete simply matches no row. Give
    // it the time a real acknowledgement takes (the positive control below) before judging.
    await redis.publish(channel, JSON.stringify(insider.seal('ack', { from: 'ghost', to: 'trust-a', at: now, ids: [ids[0] as string] })));
    await waitFor('the genuine acknowledgement to delete its one row', async () => (await outboxIds()).length === 2);
    assert.deepEqual(await outboxIds(), ids.slice(1), 'only the genuinely acknowledged row is gone');
  });

  it('drops forged, malformed, misaddressed and expired jobs without accepting or acknowledging them', async () => {
    await b.create({ type: 'Receiver', id: 'r1' }, { type: 'Hello' });
    const message = (seq: number) => ({ outboxId: String(900_000 + seq), kind: 'event', sender: { type: 'Sender', id: 's1' }, to: { type: 'Receiver', id: 'r1' }, seq, event: { type: 'Ping', n: 1 } });
    const now = Date.now();
    const counts = async () => ({
      malformed: await refused(b, 'inbound', 'malformed'),
      bad: await refused(b, 'inbound', 'bad_signature'),
      expired: await refused(b, 'inbound', 'expired'),
      misaddressed: await refused(b, 'inbound', 'misaddressed'),
    });
    const before = await counts();
    await inboundB.addBulk([
      // The old, unsigned format.
      { name: 'events', data: { from: 'trust-a', messages: [message(1)] } },
      { name: 'events', data: attacker.seal('job', { from: 'trust-a', to: 'trust-b', at: now, messages: [message(1)] }) },
      { name: 'events', data: insider.seal('job', { from: 'trust-a', to: 'trust-b', at: now - 3_600_000, messages: [message(1)] }) },
      { name: 'events', data: insider.seal('job', { from: 'trust-a', to: 'other', at: now, messages: [message(1)] }) },
      { name: 'events', data: insider.seal('job', { from: 'trust-a', to: 'trust-b', at: now, messages: [{ ...message(1), seq: 'one' }] }) },
      { name: 'events', data: insider.seal('job', { from: 'trust-a', to: 'trust-b', at: now, messages: [{ ...message(1), sender: { type: 'Bad/Type', id: 'x' } }] }) },
      { name: 'events', data: 'garbage' },
    ]);
    await waitFor('every bad job to be refused', async () => {
      const now = await counts();
      return now.malformed === before.malformed + 4 && now.bad === before.bad + 1 && now.expired === before.expired + 1 && now.misaddressed === before.misaddressed + 1;
    });
    const receiver = await b.get({ type: 'Receiver', id: 'r1' });
    assert.equal((receiver?.data as { count: number }).count, 0, 'no forged Ping reached the machine');
    const counters = await pool.query(`SELECT 1 FROM "${schemaB}".rsm_recv_seq WHERE sender = 'Sender/s1'`);
    assert.equal(counters.rowCount, 0, 'no pair counter moved');
    assert.equal(seenAcks.filter((raw) => raw.includes('900001')).length, 0, 'nothing was acknowledged');
  });

  it('delivers real traffic exactly once in order after the forgeries', async () => {
    await b.create({ type: 'Receiver', id: 'r2' }, { type: 'Hello' });
    await a.create({ type: 'Sender', id: 's1' }, { type: 'Start', receivers: ['r1', 'r2'], count: 20, receiverType: 'Receiver' });
    await waitFor('20 pings', async () => {
      const counts = await Promise.all(['r1', 'r2'].map(async (id) => ((await b.get({ type: 'Receiver', id }))?.data as { count: number }).count));
      return counts[0] === 10 && counts[1] === 10;
    }, 20_000);
    for (const id of ['r1', 'r2']) assert.deepEqual(((await b.get({ type: 'Receiver', id }))?.data as { violations: string[] }).violations, []);
  });

  it('lets no forged reply answer a waiting caller', async () => {
    const ref = Counter.ref('waits');
    await a.create(ref, { type: 'Open' });
    // Another transaction holds the machine: the request goes to its inbox and its caller waits
    // for an answer by key, which is when a reply from Redis could answer it.
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schemaA}".rsm_machines WHERE type = 'Counter' AND id = 'waits' FOR UPDATE`);
    const channel = queueNames.replies(prefix, 'trust-a');
    const pending = a.request(ref, { type: 'Add', n: 1 }, { key: 'k-forged', timeoutMs: 15_000 });
    const forged = { key: 'k-forged', ok: true, value: 'forged' };
    const before = { bad: await refused(a, 'replies', 'bad_signature'), malformed: await refused(a, 'replies', 'malformed'), misaddressed: await refused(a, 'replies', 'misaddressed') };
    try {
      await waitFor('the request to wait in the inbox', async () => (await pool.query(`SELECT 1 FROM "${schemaA}".rsm_inbox WHERE request_key = 'k-forged'`)).rowCount === 1);
      await redis.publish(channel, JSON.stringify(forged));
      await redis.publish(channel, JSON.stringify(attacker.seal('reply', { service: 'trust-a', at: Date.now(), reply: forged })));
      await redis.publish(channel, JSON.stringify(insider.seal('reply', { service: 'trust-b', at: Date.now(), reply: forged })));
      await waitFor('the forged replies to be refused', async () =>
        (await refused(a, 'replies', 'bad_signature')) === before.bad + 1 &&
        (await refused(a, 'replies', 'malformed')) === before.malformed + 1 &&
        (await refused(a, 'replies', 'misaddressed')) === before.misaddressed + 1,
      );
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    assert.equal(await pending, 1, 'the caller gets the machine\'s answer, not the forged one');
  });
});

describe('signing keys rotate', () => {
  const schemaA = uniqueSchema('rota');
  const schemaB = uniqueSchema('rotb');
  const prefix = uniquePrefix('rot');
  const oldKey = TEST_SIGNING_KEYS[0] as string;
  const newKey = 'the-next-signing-key-of-this-deployment-42';
  let a: RsmRuntime;
  let b: RsmRuntime;

  before(async () => {
    // Mid-rotation: a already signs with the new key, b still signs with the old one; both accept both.
    a = await startRuntime({ service: 'rot-a', schema: schemaA, prefix, machines: [Sender], routes: { Receiver: 'rot-b' }, activities: [recordActivity], overrides: { redis: { url: testConfig.REDIS_URL, prefix, signingKeys: [newKey, oldKey] } } });
    b = await startRuntime({ service: 'rot-b', schema: schemaB, prefix, machines: [Receiver], overrides: { redis: { url: testConfig.REDIS_URL, prefix, signingKeys: [oldKey, newKey] } } });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await dropSchemas(schemaA, schemaB);
  });

  it('delivers and acknowledges between services signing with different keys', async () => {
    await b.create({ type: 'Receiver', id: 'r' }, { type: 'Hello' });
    await a.create({ type: 'Sender', id: 's' }, { type: 'Start', receivers: ['r'], count: 10, receiverType: 'Receiver' });
    await waitFor('10 pings', async () => ((await b.get({ type: 'Receiver', id: 'r' }))?.data as { count: number }).count === 10, 20_000);
    const pool = testPool();
    try {
      await waitFor('a genuine acknowledgement to empty the outbox', async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schemaA}".rsm_outbox`)).rows[0]?.n) === 0);
    } finally {
      await pool.end();
    }
    assert.equal(await refused(a, 'acks', 'bad_signature'), 0);
    assert.equal(await refused(b, 'inbound', 'bad_signature'), 0);
  });
});

describe('Redis AUTH', () => {
  const schema = uniqueSchema('auth');
  const prefix = uniquePrefix('auth');
  const admin = new Redis(testConfig.REDIS_URL);
  const user = `rsm-test-${prefix.slice(-8)}`;
  let runtime: RsmRuntime | undefined;

  after(async () => {
    await runtime?.stop();
    await admin.call('ACL', 'DELUSER', user);
    admin.disconnect();
    await dropSchemas(schema);
  });

  it('connects with the user and password of the URL', async () => {
    await admin.call('ACL', 'SETUSER', user, 'on', '>s3cret pass', '~*', '&*', '+@all');
    const url = new URL(testConfig.REDIS_URL);
    url.username = user;
    url.password = 's3cret pass';
    runtime = await startRuntime({ service: 'auth', schema, prefix, machines: [Counter], overrides: { redis: { url: url.toString(), prefix, signingKeys: TEST_SIGNING_KEYS } } });
    await runtime.create(Counter.ref('c'), { type: 'Open' });
    assert.equal(await runtime.request(Counter.ref('c'), { type: 'Add', n: 3 }), 3);
    const clients = (await admin.call('CLIENT', 'LIST')) as string;
    assert.match(clients, new RegExp(`user=${user}`), 'the runtime is connected as the URL user');
  });
});

