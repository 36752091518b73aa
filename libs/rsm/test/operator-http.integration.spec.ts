import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RsmRuntime } from '#rsm';
import { RsmModule } from '#rsm/nest';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { BullmqTransport } from '../src/delivery/bullmq-transport.js';

const TOKEN = 'operator-token-for-the-gap-routes';

function through(url: string, port: number): string {
  const copy = new URL(url);
  copy.port = String(port);
  return copy.toString();
}

describe('operator routes for gaps, and readiness over HTTP', () => {
  const schema = uniqueSchema('ophttp');
  const pgUrl = new URL(testConfig.DATABASE_URL);
  const redisUrl = new URL(testConfig.REDIS_URL);
  const pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port));
  const redisProxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port));
  const pool = testPool();
  let app: INestApplication;
  let base: string;

  before(async () => {
    const pgPort = await pgProxy.listen();
    const redisPort = await redisProxy.listen();
    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'op-http',
          postgres: { url: through(testConfig.DATABASE_URL, pgPort), schema },
          redis: { url: through(testConfig.REDIS_URL, redisPort), prefix: uniquePrefix('ophttp'), signingKeys: TEST_SIGNING_KEYS },
          delivery: { gapAfterMs: 1_000 },
          calls: { healthTimeoutMs: 1_000 },
          adminTokens: [TOKEN],
          deps: { logger: quietLogger },
        }),
        RsmModule.forFeature([Counter]),
      ],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  after(async () => {
    pgProxy.forward();
    redisProxy.forward();
    await app?.close();
    await pgProxy.close();
    await redisProxy.close();
    await pool.end();
    await dropSchemas(schema);
  });

  const auth = { authorization: `Bearer ${TOKEN}` };

  it('lists a gap and skips it with a record; both routes need the operator token', async () => {
    const rsm = app.get(RsmRuntime);
    await rsm.create(Counter.ref('c1'), { type: 'Open' });
    // Message 2 of a pair waits for message 1, which never comes (a sender id with a space).
    const message = { outboxId: '77', kind: 'event', sender: { type: 'Sender', id: 's 1' }, to: { type: 'Counter', id: 'c1' }, seq: 2, event: { type: 'Add', n: 3 } };
    await pool.query(`INSERT INTO "${schema}".rsm_reorder (sender, receiver, seq, message, from_service, created_at) VALUES ('Sender/s 1', 'Counter/c1', 2, $1, 'elsewhere', now() - interval '1 minute')`, [
      JSON.stringify(message),
    ]);

    assert.equal((await fetch(`${base}/rsm/gaps`)).status, 401);
    const listed = await fetch(`${base}/rsm/gaps`, { headers: auth });
    assert.equal(listed.status, 200);
    const gaps = (await listed.json()) as { sender: unknown; receiver: unknown; missingFrom: number; nextBuffered: number; waiting: number }[];
    assert.deepEqual(
      gaps.map(({ sender, receiver, missingFrom, nextBuffered, waiting }) => ({ sender, receiver, missingFrom, nextBuffered, waiting })),
      [{ sender: { type: 'Sender', id: 's 1' }, receiver: { type: 'Counter', id: 'c1' }, missingFrom: 1, nextBuffered: 2, waiting: 1 }],
    );

    const skipUrl = `${base}/rsm/gaps/Sender/${encodeURIComponent('s 1')}/Counter/c1/skip`;
    const post = (body: unknown, headers: Record<string, string> = auth) =>
      fetch(skipUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const gap = { epoch: 0, fromSeq: 1, toSeq: 1 };
    assert.equal((await post({ by: 'alice', reason: 'lost', ...gap }, {})).status, 401);
    assert.equal((await post({ reason: 'no author', ...gap })).status, 400);
    // The gap must be named, with numbers that can be one.
    for (const bad of [{}, { epoch: 0, fromSeq: 1 }, { ...gap, toSeq: 0 }, { ...gap, fromSeq: 0 }, { ...gap, epoch: -1 }, { ...gap, fromSeq: 1.5 }, { ...gap, toSeq: '1' }, { ...gap, fromSeq: 2, toSeq: 1 }, { ...gap, extra: 1 }]) {
      const refused = await post({ by: 'alice', reason: 'x', ...bad });
      assert.equal(refused.status, 400, JSON.stringify(bad));
    }
    // Ids no machine can have (over 512 bytes of UTF-8, though under 1,000 characters): 400, not 500.
    for (const id of ['a'.repeat(600), '€'.repeat(200)]) {
      const long = await fetch(`${base}/rsm/gaps/Sender/${encodeURIComponent(id)}/Counter/c1/skip`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ by: 'alice', reason: 'x', ...gap }) });
      assert.equal(long.status, 400, await long.text());
    }
    // The pair's own gap, whatever its age; 404 for a pair with none.
    const one = await fetch(`${base}/rsm/gaps/Sender/${encodeURIComponent('s 1')}/Counter/c1`, { headers: auth });
    assert.equal(one.status, 200);
    assert.deepEqual(((await one.json()) as { missingFrom: number; nextBuffered: number }).nextBuffered, 2);
    assert.equal((await fetch(`${base}/rsm/gaps/Sender/s2/Counter/c1`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${base}/rsm/gaps/Sender/s2/Counter/c1`)).status, 401);
    // A skip aimed at another gap than the pair's skips nothing: 409, with the gap there is.
    const stale = await post({ by: 'alice', reason: 'x', epoch: 0, fromSeq: 1, toSeq: 4 });
    assert.equal(stale.status, 409);
    assert.deepEqual(((await stale.json()) as { current: unknown }).current, gap);
    assert.equal((await pool.query(`SELECT 1 FROM "${schema}".rsm_gap_skips`)).rows.length, 0);

    const skipped = await post({ by: 'alice', reason: 'outbox row lost in a restore', ...gap });
    assert.equal(skipped.status, 200);
    assert.deepEqual(await skipped.json(), { ...gap, released: 1 });
    await waitFor('the released Add handled', async () => ((await rsm.get(Counter.ref('c1')))?.data as { total: number }).total === 3);
    const record = await pool.query(`SELECT sender, skipped_by, reason FROM "${schema}".rsm_gap_skips`);
    assert.deepEqual(record.rows, [{ sender: 'Sender/s 1', skipped_by: 'alice', reason: 'outbox row lost in a restore' }]);

    // The same skip again (its answer was lost, or a second operator clicked): done already.
    // Message 4 waits for 3, which is still on its way: the repeat must not skip that gap.
    const later = { ...message, outboxId: '79', seq: 4, event: { type: 'Add', n: 10 } };
    await pool.query(`INSERT INTO "${schema}".rsm_reorder (sender, receiver, seq, message, from_service) VALUES ('Sender/s 1', 'Counter/c1', 4, $1, 'elsewhere')`, [JSON.stringify(later)]);
    const repeated = await post({ by: 'bob', reason: 'same alert', ...gap });
    assert.equal(repeated.status, 200);
    assert.deepEqual(await repeated.json(), { ...gap, released: 0, repeated: true });
    assert.equal((await pool.query(`SELECT 1 FROM "${schema}".rsm_gap_skips`)).rows.length, 1);
    assert.deepEqual((await pool.query(`SELECT seq::int FROM "${schema}".rsm_reorder WHERE receiver = 'Counter/c1'`)).rows, [{ seq: 4 }]);
    assert.deepEqual((await pool.query(`SELECT last_seq::int FROM "${schema}".rsm_recv_seq WHERE receiver = 'Counter/c1'`)).rows, [{ last_seq: 2 }]);
    // That new gap is skipped only when named.
    const next = { epoch: 0, fromSeq: 3, toSeq: 3 };
    assert.deepEqual(await (await fetch(`${base}/rsm/gaps/Sender/${encodeURIComponent('s 1')}/Counter/c1`, { headers: auth })).json().then((g) => { const { epoch, missingFrom, nextBuffered } = g as { epoch: number; missingFrom: number; nextBuffered: number }; return { epoch, fromSeq: missingFrom, toSeq: nextBuffered - 1 }; }), next);
    assert.deepEqual(await (await post({ by: 'bob', reason: 'gone too', ...next })).json(), { ...next, released: 1 });
    await waitFor('the second released Add handled', async () => ((await rsm.get(Counter.ref('c1')))?.data as { total: number }).total === 13);
    assert.equal((await post({ by: 'alice', reason: 'again', epoch: 0, fromSeq: 5, toSeq: 5 })).status, 404);
  });

  it('stays ready (degraded) with Redis gone, and is not ready while Postgres does not answer', async () => {
    redisProxy.refuse();
    const degraded = await waitFor('readiness to report Redis gone', async () => {
      const response = await fetch(`${base}/health/ready`);
      const body = (await response.json()) as { status: string };
      return body.status === 'degraded' ? { code: response.status, body } : undefined;
    });
    assert.equal(degraded.code, 200);
    redisProxy.forward();
    await waitFor('readiness ok again', async () => (await fetch(`${base}/health/ready`)).status === 200 && ((await (await fetch(`${base}/health/ready`)).json()) as { status: string }).status === 'ok', 20_000);

    pgProxy.hold();
    const startedAt = Date.now();
    const stalled = await fetch(`${base}/health/ready`);
    assert.equal(stalled.status, 503);
    assert.equal(stalled.headers.get('retry-after'), '1', 'a probe told when to ask again, as every 503');
    assert.ok(Date.now() - startedAt < 1_000 + 5_000, `readiness answered after ${Date.now() - startedAt} ms`);
    pgProxy.forward();
    await waitFor('readiness back with Postgres', async () => (await fetch(`${base}/health/ready`)).status === 200, 20_000);
  });
});

describe('a Redis connection that goes silent', () => {
  const redisUrl = new URL(testConfig.REDIS_URL);
  const proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port));
  let transport: BullmqTransport;

  before(async () => {
    const port = await proxy.listen();
    transport = new BullmqTransport(
      { service: 'silent', redis: { url: through(testConfig.REDIS_URL, port) }, prefix: uniquePrefix('silent'), inboundConcurrency: 1, worker: false, jobLockMs: 2_000, stalledCheckMs: 1_000, signingKeys: TEST_SIGNING_KEYS, maxMessageAgeMs: 60_000, commandTimeoutMs: 500, onRefused: () => undefined },
      quietLogger,
    );
    await transport.start({ inbound: async () => undefined, acks: () => undefined, drain: async () => undefined, reply: () => undefined });
  });
  after(async () => {
    proxy.forward();
    await transport.stop();
    await proxy.close();
  });

  it('fails a publish after redis.commandTimeoutMs instead of waiting for TCP, and publishes again once it answers', async () => {
    const message = { outboxId: '1', kind: 'event' as const, sender: { type: 'A', id: 'a' }, to: { type: 'B', id: 'b' }, seq: 1, epoch: 1, event: { type: 'E' } };
    await transport.publish('elsewhere', 'silent', [message], 10);
    proxy.hold();
    const startedAt = Date.now();
    await assert.rejects(transport.publish('elsewhere', 'silent', [message], 10), /timed out/i);
    const waited = Date.now() - startedAt;
    assert.ok(waited >= 450 && waited < 10_000, `gave up after ${waited} ms`);
    assert.equal(transport.healthy, false);
    proxy.forward({ abandonHeld: true });
    await waitFor('publishing again on a new connection', async () => transport.publish('elsewhere', 'silent', [message], 10).then(() => true, () => false), 30_000);
  });
});
