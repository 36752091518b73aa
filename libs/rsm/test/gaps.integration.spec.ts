import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { GapChangedError, type RsmRuntime } from '#rsm';
import { Forwarder, Sink } from './fixtures/machines.js';
import { testConfig } from './support/config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

describe('gaps in a pair are visible and repairable', () => {
  const schemaA = uniqueSchema('gapa');
  const schemaB = uniqueSchema('gapb');
  const prefix = uniquePrefix('gap');
  const redis = new Redis(testConfig.REDIS_URL, { maxRetriesPerRequest: null });
  const inbound = new Queue('gap-b.inbound', { connection: redis, prefix });
  const pool = testPool();
  const forwarder = Forwarder.ref('f1');
  const sink = Sink.ref('s1');
  let a: RsmRuntime;
  let b: RsmRuntime | undefined;

  // A long acknowledgement timeout: the sender re-publishes only when a test says the timeout passed.
  const startSender = () =>
    startRuntime({ service: 'gap-a', schema: schemaA, prefix, machines: [Forwarder], routes: { Sink: 'gap-b' }, overrides: { delivery: { ackTimeoutMs: 60_000, sweepIntervalMs: 200, recoveryGraceMs: 500 } } });
  const startReceiver = () =>
    startRuntime({ service: 'gap-b', schema: schemaB, prefix, machines: [Sink], overrides: { delivery: { ackTimeoutMs: 60_000, sweepIntervalMs: 200, recoveryGraceMs: 500, gapAfterMs: 1_000 } } });
  const items = async () => (await (b as RsmRuntime).get(sink))?.data.items ?? [];
  const outboxSeqs = async () => (await pool.query<{ seq: number }>(`SELECT (message->>'seq')::int AS seq FROM "${schemaA}".rsm_outbox ORDER BY id`)).rows.map((row) => row.seq);

  /** With the receiver down, item `lost` is published and its job removed from Redis; then `next` is sent. */
  async function dropOne(lost: number, next: number): Promise<void> {
    await b?.stop();
    b = undefined;
    await a.send(forwarder, { type: 'Forward', to: sink.id, n: lost });
    await waitFor(`item ${lost} published`, async () => (await inbound.getWaitingCount()) === 1);
    await inbound.drain();
    await a.send(forwarder, { type: 'Forward', to: sink.id, n: next });
    await waitFor(`item ${next} published`, async () => (await inbound.getWaitingCount()) === 1);
    b = await startReceiver();
  }

  before(async () => {
    a = await startSender();
    b = await startReceiver();
    await a.create(forwarder, { type: 'Init' });
    await b.create(sink, { type: 'Open' });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await inbound.close();
    redis.disconnect();
    await pool.end();
    await dropSchemas(schemaA, schemaB);
  });

  it('shows a dropped message as a gap (method and metric) until the sender re-publishes it', async () => {
    await dropOne(1, 2);
    const receiver = b as RsmRuntime;
    const [gap, ...others] = await waitFor('the gap to show', async () => {
      const gaps = await receiver.gaps();
      return gaps.length > 0 ? gaps : undefined;
    });
    assert.equal(others.length, 0);
    assert.deepEqual({ sender: gap?.sender, receiver: gap?.receiver, missingFrom: gap?.missingFrom, nextBuffered: gap?.nextBuffered, waiting: gap?.waiting }, {
      sender: forwarder,
      receiver: sink,
      missingFrom: 1,
      nextBuffered: 2,
      waiting: 1,
    });
    assert.deepEqual(await items(), [], 'item 2 must wait for item 1');
    await waitFor('rsm_gap_pairs to count the pair', async () => /rsm_gap_pairs\{service="gap-b"\} 1\b/.test(await receiver.metrics.registry.metrics()), 20_000);
    assert.deepEqual(await outboxSeqs(), [1], 'the sender still holds the unacknowledged item 1');

    // The acknowledgement timeout passes: the sweeper publishes item 1 again and the pair heals.
    await pool.query(`UPDATE "${schemaA}".rsm_outbox SET next_attempt_at = now()`);
    await waitFor('items 1 and 2 handled in order', async () => (await items()).length === 2);
    assert.deepEqual(await items(), [1, 2]);
    assert.deepEqual(await receiver.gaps({ olderThanMs: 0 }), []);
    await waitFor('the re-published row acknowledged', async () => (await outboxSeqs()).length === 0);
  });

  it('skips a gap whose message is gone for good, with a record, and releases the waiting messages in order', async () => {
    await dropOne(3, 4);
    await a.send(forwarder, { type: 'Forward', to: sink.id, n: 5 });
    // The message is really gone: its outbox row too.
    await pool.query(`DELETE FROM "${schemaA}".rsm_outbox WHERE (message->>'seq')::int = 3`);
    const receiver = b as RsmRuntime;
    const gap = await waitFor('the gap to show with items 4 and 5 waiting', async () => (await receiver.gaps()).find((g) => g.waiting === 2));
    assert.equal(gap.missingFrom, 3);
    assert.equal(gap.nextBuffered, 4);
    assert.equal(gap.waiting, 2);
    assert.deepEqual(await items(), [1, 2]);

    assert.deepEqual(await receiver.gapOf(forwarder, sink), gap);
    // Named wrong, nothing is skipped.
    await assert.rejects(receiver.skipGap(forwarder, sink, { by: 'test-operator', reason: 'outbox row deleted', gap: { epoch: 1, fromSeq: 3, toSeq: 4 } }), (error: unknown) => error instanceof GapChangedError && error.current?.toSeq === 3);
    await assert.rejects(receiver.skipGap(forwarder, sink, { by: 'test-operator', reason: 'x', gap: { epoch: 1, fromSeq: 0, toSeq: 3 } }), TypeError);
    assert.deepEqual(await items(), [1, 2]);
    const named = { epoch: 1, fromSeq: 3, toSeq: 3 };
    const skipped = await receiver.skipGap(forwarder, sink, { by: 'test-operator', reason: 'outbox row deleted', gap: named });
    assert.deepEqual(skipped, { ...named, released: 2 });
    // Repeated (its answer lost): nothing more is done.
    assert.deepEqual(await receiver.skipGap(forwarder, sink, { by: 'test-operator', reason: 'outbox row deleted', gap: named }), { ...named, released: 0, repeated: true });
    await waitFor('items 4 and 5 handled', async () => (await items()).length === 4);
    assert.deepEqual(await items(), [1, 2, 4, 5]);
    assert.deepEqual(await receiver.gaps({ olderThanMs: 0 }), []);
    const records = await pool.query(`SELECT sender, receiver, from_seq::int, to_seq::int, skipped_by, reason, at FROM "${schemaB}".rsm_gap_skips`);
    assert.equal(records.rows.length, 1);
    assert.deepEqual({ ...records.rows[0], at: undefined }, { sender: 'Forwarder/f1', receiver: 'Sink/s1', from_seq: 3, to_seq: 3, skipped_by: 'test-operator', reason: 'outbox row deleted', at: undefined });
    assert.match(await receiver.metrics.registry.metrics(), /rsm_gaps_skipped_total\{service="gap-b"\} 1\b/);

    // Nothing left to skip; the pair goes on from where the skip left it.
    assert.equal(await receiver.skipGap(forwarder, sink, { by: 'test-operator', reason: 'again' }), undefined);
    await a.send(forwarder, { type: 'Forward', to: sink.id, n: 6 });
    await waitFor('item 6 handled', async () => (await items()).length === 5);
    assert.deepEqual(await items(), [1, 2, 4, 5, 6]);
  });

  it('a sender that starts again publishes what its outbox holds at once, not after the ack timeout', async () => {
    // Item 7 is committed, its job lost (as if the process died between commit and publish), and the
    // sender restarts: with a 60 s ack timeout only the start-up publish can deliver it in time.
    await dropOne(7, 8);
    await a.stop();
    const receiver = b as RsmRuntime;
    await waitFor('item 7 to be missing', async () => (await receiver.gaps()).length === 1);
    a = await startSender();
    await waitFor('items 7 and 8 handled', async () => (await items()).length === 7, 15_000);
    assert.deepEqual(await items(), [1, 2, 4, 5, 6, 7, 8]);
    await waitFor('the re-published rows acknowledged', async () => (await outboxSeqs()).length === 0);
  });
});
