import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RsmRuntime } from '#rsm';
import { Forwarder, Sink } from './fixtures/machines.js';
import { testConfig } from './support/config.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

const delivery = { ackTimeoutMs: 1_000, sweepIntervalMs: 200, recoveryGraceMs: 500, maxMessageAgeMs: 120_000 };

describe('quiet pairs retire their sequence counters without letting duplicates back in', () => {
  const schemaA = uniqueSchema('epa');
  const schemaB = uniqueSchema('epb');
  const prefix = uniquePrefix('ep');
  const redis = new Redis(testConfig.REDIS_URL, { maxRetriesPerRequest: null });
  const inbound = new Queue('ep-b.inbound', { connection: redis, prefix });
  const pool = testPool();
  const forwarder = Forwarder.ref('f1');
  const sink = Sink.ref('s1');
  let a: RsmRuntime;
  let b: RsmRuntime | undefined;

  const startSender = () =>
    startRuntime({ service: 'ep-a', schema: schemaA, prefix, machines: [Forwarder], routes: { Sink: 'ep-b' }, overrides: { delivery, cleanupIntervalMs: 200, retention: { quietPairsMs: 1_000 } } });
  const startReceiver = () =>
    startRuntime({ service: 'ep-b', schema: schemaB, prefix, machines: [Sink], overrides: { delivery: { ...delivery, gapAfterMs: 1_000 }, cleanupIntervalMs: 200, retention: { quietPairsMs: 1_000 } } });
  const items = async () => ((await (b as RsmRuntime).get(sink))?.data as { items: number[] } | undefined)?.items ?? [];
  const sendRows = async () => (await pool.query<{ epoch: string; last_seq: string }>(`SELECT epoch, last_seq FROM "${schemaA}".rsm_send_seq`)).rows;
  const recvRow = async () =>
    (await pool.query<{ epoch: string; last_seq: string; retired: boolean }>(`SELECT epoch, last_seq, retired_at IS NOT NULL AS retired FROM "${schemaB}".rsm_recv_seq`)).rows[0];
  const count = async (schema: string, table: string) => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0]?.n);
  const forward = (n: number) => a.send(forwarder, { type: 'Forward', to: sink.id, n });
  const duplicatesDropped = async () => Number(/rsm_duplicates_dropped_total\{service="ep-b",source="pair_sequence"\} (\d+)/.exec(await (b as RsmRuntime).metrics.registry.metrics())?.[1] ?? 0);

  /** With the receiver down, sends items and keeps a copy of the signed jobs that carried them. */
  async function sendCaptured(...ns: number[]): Promise<unknown[]> {
    await b?.stop();
    b = undefined;
    for (const n of ns) await forward(n);
    const jobs = await waitFor('the items published', async () => {
      const waiting = await inbound.getWaiting();
      const carried = waiting.reduce((sum, job) => sum + (((JSON.parse((job.data as { body: string }).body) as { messages: unknown[] }).messages.length)), 0);
      return carried >= ns.length ? waiting : undefined;
    }, 30_000);
    const copies = jobs.map((job) => job.data as unknown);
    b = await startReceiver();
    return copies;
  }

  async function replay(jobs: unknown[]): Promise<void> {
    const before = await duplicatesDropped();
    for (const data of jobs) await inbound.add('events', data);
    await waitFor('the replayed items dropped as duplicates', async () => (await duplicatesDropped()) >= before + jobs.length, 30_000);
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

  it('retires a numbering on both sides, drops replays of it, and delivers the next numbering once and in order', async () => {
    const old = await sendCaptured(1, 2);
    await waitFor('items 1 and 2 handled', async () => (await items()).length === 2, 30_000);
    const first = await waitFor('the receive counter to be retired', async () => ((await recvRow())?.retired === true ? await recvRow() : undefined), 30_000);
    assert.deepEqual(await sendRows(), [], 'the send counter is gone');
    assert.equal(first?.last_seq, '2');
    assert.match(await a.metrics.registry.metrics(), /rsm_retention_deleted_total\{service="ep-a",table="send_seq"\} 1\b/);
    await waitFor('the retire message acknowledged', async () => (await count(schemaA, 'rsm_outbox')) === 0, 30_000);

    // A replay of the retired numbering, while the receiver still holds its row.
    await replay(old);
    assert.deepEqual(await items(), [1, 2]);
    assert.equal((await recvRow())?.retired, true);

    // The next send starts a new numbering with a larger epoch, from 1.
    await forward(3);
    await forward(4);
    await waitFor('items 3 and 4 handled', async () => (await items()).length === 4, 30_000);
    assert.deepEqual(await items(), [1, 2, 3, 4]);
    const second = await recvRow();
    assert.ok(Number(second?.epoch) > Number(first?.epoch), `epoch ${second?.epoch} after ${first?.epoch}`);
    assert.equal(second?.last_seq, '2');

    // A replay of the old numbering now meets a newer one: dropped all the same.
    await replay(old);
    assert.deepEqual(await items(), [1, 2, 3, 4]);

    // Once retired again and past the signature window (made to pass here), the receive row goes too.
    await waitFor('the second numbering retired', async () => (await recvRow())?.retired === true && Number((await recvRow())?.epoch) === Number(second?.epoch), 30_000);
    await pool.query(`UPDATE "${schemaB}".rsm_recv_seq SET retired_at = now() - interval '1 day'`);
    await waitFor('the receive counter deleted', async () => (await count(schemaB, 'rsm_recv_seq')) === 0, 30_000);
    assert.equal(await count(schemaA, 'rsm_send_seq'), 0);
    assert.match(await (b as RsmRuntime).metrics.registry.metrics(), /rsm_retention_deleted_total\{service="ep-b",table="recv_seq"\} 1\b/);

    // A later send to the same pair: a third numbering, delivered once.
    await forward(5);
    await waitFor('item 5 handled', async () => (await items()).length === 5, 30_000);
    assert.deepEqual(await items(), [1, 2, 3, 4, 5]);
    assert.ok(Number((await recvRow())?.epoch) > Number(second?.epoch));
  });

  it('a retire that arrives with or after the next numbering changes nothing', async () => {
    await waitFor('the pair retired', async () => (await sendRows()).length === 0, 30_000);
    // The receiver is down: the retire waits in the outbox while a new numbering starts.
    await b?.stop();
    b = undefined;
    await waitFor('a retire in the outbox', async () => (await pool.query(`SELECT 1 FROM "${schemaA}".rsm_outbox WHERE message->>'kind' = 'retire'`)).rows.length > 0, 30_000);
    await forward(6);
    await forward(7);
    b = await startReceiver();
    await waitFor('items 6 and 7 handled', async () => (await items()).length === 7, 30_000);
    assert.deepEqual(await items(), [1, 2, 3, 4, 5, 6, 7]);
    const row = await recvRow();
    const [send] = await sendRows();
    // Either the send counter is still the new one, or it was retired again meanwhile (row marked).
    if (send !== undefined) {
      assert.equal(row?.epoch, send.epoch);
      assert.equal(row?.retired, false);
    }
    assert.equal(row?.last_seq, '2');
    await waitFor('the outbox empty', async () => (await count(schemaA, 'rsm_outbox')) === 0, 30_000);
  });

  it('shows and skips a gap within a later numbering, recording its epoch', async () => {
    await waitFor('the pair retired', async () => (await sendRows()).length === 0, 30_000);
    await waitFor('the retire acknowledged', async () => (await count(schemaA, 'rsm_outbox')) === 0, 30_000);
    await b?.stop();
    b = undefined;
    await forward(8);
    await waitFor('item 8 published', async () => (await inbound.getWaitingCount()) === 1, 30_000);
    await inbound.drain();
    await forward(9);
    await waitFor('item 9 published', async () => (await inbound.getWaitingCount()) === 1, 30_000);
    const [send] = await sendRows();
    await pool.query(`DELETE FROM "${schemaA}".rsm_outbox WHERE (message->>'seq')::int = 1 AND message->>'kind' = 'event'`);
    b = await startReceiver();
    const receiver = b;
    const gap = await waitFor('the gap to show', async () => (await receiver.gaps()).at(0), 30_000);
    assert.deepEqual({ epoch: gap.epoch, missingFrom: gap.missingFrom, nextBuffered: gap.nextBuffered }, { epoch: Number(send?.epoch), missingFrom: 1, nextBuffered: 2 });
    const skipped = await receiver.skipGap(forwarder, sink, { by: 'test', reason: 'outbox row deleted' });
    assert.deepEqual(skipped, { epoch: Number(send?.epoch), fromSeq: 1, toSeq: 1, released: 1 });
    await waitFor('item 9 handled', async () => (await items()).length === 8, 30_000);
    assert.deepEqual(await items(), [1, 2, 3, 4, 5, 6, 7, 9]);
    const record = await pool.query<{ epoch: string }>(`SELECT epoch FROM "${schemaB}".rsm_gap_skips`);
    assert.deepEqual(record.rows.map((r) => r.epoch), [send?.epoch]);
  });
});

describe('pairs retired while they keep sending stay exactly-once and in order', () => {
  const schemaA = uniqueSchema('epra');
  const schemaB = uniqueSchema('eprb');
  const prefix = uniquePrefix('epr');
  const pool = testPool();
  let a: RsmRuntime;
  let b: RsmRuntime;

  before(async () => {
    // The janitor tries to retire every pair all the time (quiet after 1 ms, every 50 ms).
    const overrides = { delivery, cleanupIntervalMs: 50, retention: { quietPairsMs: 1 } };
    a = await startRuntime({ service: 'epr-a', schema: schemaA, prefix, machines: [Forwarder], routes: { Sink: 'epr-b' }, overrides });
    b = await startRuntime({ service: 'epr-b', schema: schemaB, prefix, machines: [Sink], overrides });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await pool.end();
    await dropSchemas(schemaA, schemaB);
  });

  it('delivers every item once, per sender in order, while counters retire between sends', async () => {
    const forwarders = ['f1', 'f2', 'f3'];
    const sinks = ['s1', 's2'];
    for (const id of forwarders) await a.create(Forwarder.ref(id), { type: 'Init' });
    for (const id of sinks) await b.create(Sink.ref(id), { type: 'Open' });
    const perForwarder = 40;
    await Promise.all(forwarders.map(async (f) => {
      for (let n = 1; n <= perForwarder; n += 1) {
        await a.send(Forwarder.ref(f), { type: 'Forward', to: sinks[n % 2] as string, n });
        // Let acknowledgements be flushed (delivery.ackFlushMs, 100 ms) and the janitor in, between sends.
        if (n % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }));
    const state = async () => Promise.all(sinks.map(async (s) => (await b.get(Sink.ref(s)))?.data as { items: number[]; from: string[] }));
    await waitFor('all items handled', async () => (await state()).reduce((sum, d) => sum + d.items.length, 0) >= forwarders.length * perForwarder, 60_000);
    const deleted = Number(/rsm_retention_deleted_total\{service="epr-a",table="send_seq"\} (\d+)/.exec(await a.metrics.registry.metrics())?.[1] ?? 0);
    assert.ok(deleted > 0, 'counters were retired during the run');
    for (const [i, data] of (await state()).entries()) {
      for (const f of forwarders) {
        const got = data.items.filter((_, k) => data.from[k] === f);
        const want = Array.from({ length: perForwarder }, (_, k) => k + 1).filter((n) => sinks[n % 2] === sinks[i]);
        assert.deepEqual(got, want, `${f} -> ${sinks[i]}`);
      }
    }
    await waitFor('no message left waiting', async () => (await pool.query(`SELECT 1 FROM "${schemaB}".rsm_reorder`)).rows.length === 0, 30_000);
  });
});
