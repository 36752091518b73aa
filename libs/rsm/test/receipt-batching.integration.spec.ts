import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RsmRuntime } from '#rsm';
import { Receiver, Sender, recordActivity, senderProblems, senderSettled } from './fixtures/machines.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/** Sum and count of a histogram in Prometheus text. */
function histogram(text: string, name: string): { sum: number; count: number } {
  const value = (suffix: string) => Number(new RegExp(`^${name}_${suffix}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  return { sum: value('sum'), count: value('count') };
}

describe('receipt batching: jobs from several services in one receipt transaction', () => {
  const schemas = { a: uniqueSchema('ra'), b: uniqueSchema('rb'), c: uniqueSchema('rc') };
  const prefix = uniquePrefix('receipt');
  const pool = testPool();
  let a: RsmRuntime;
  let b: RsmRuntime;
  let c: RsmRuntime;

  before(async () => {
    // A late acknowledgement would be re-published only after 10 s: a re-publish here means an
    // acknowledgement went astray.
    const sender = (service: string, schema: string) =>
      startRuntime({ service, schema, prefix, machines: [Sender], routes: { Receiver: 'svc-b' }, activities: [recordActivity], overrides: { delivery: { ackTimeoutMs: 10_000, sweepIntervalMs: 200, recoveryGraceMs: 500 } } });
    // One receipt at a time: every job that arrives during it waits and joins the next.
    b = await startRuntime({ service: 'svc-b', schema: schemas.b, prefix, machines: [Receiver], overrides: { delivery: { ackTimeoutMs: 1_000, sweepIntervalMs: 200, recoveryGraceMs: 500, receiptConcurrency: 1, inboundConcurrency: 16 } } });
    a = await sender('svc-a', schemas.a);
    c = await sender('svc-c', schemas.c);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await pool.end();
    await dropSchemas(schemas.a, schemas.b, schemas.c);
  });

  it('keeps every pair exactly-once and in order, and acknowledges each job to the service that sent it', async () => {
    const receivers = ['r1', 'r2', 'r3'];
    for (const id of receivers) await b.create({ type: 'Receiver', id }, { type: 'Hello' });
    const count = 40;
    const senders = { a: ['a1', 'a2', 'a3', 'a4'], c: ['c1', 'c2', 'c3', 'c4'] };
    await Promise.all([
      ...senders.a.map((id) => a.create({ type: 'Sender', id }, { type: 'Start', receivers, count, receiverType: 'Receiver' })),
      ...senders.c.map((id) => c.create({ type: 'Sender', id }, { type: 'Start', receivers, count, receiverType: 'Receiver' })),
    ]);
    const total = (senders.a.length + senders.c.length) * count;
    await waitFor(`${total} pings received`, async () => {
      let sum = 0;
      for (const id of receivers) sum += ((await b.get({ type: 'Receiver', id }))?.data as { count: number }).count;
      return sum === total;
    }, 60_000);
    for (const id of receivers) {
      const r = (await b.get({ type: 'Receiver', id })) as { data: { violations: string[]; steps: number }; version: number };
      assert.deepEqual(r.data.violations, [], 'no duplicate, no gap, no reordering within a pair');
      assert.equal(r.data.steps, r.version, 'no lost update');
    }
    for (const [runtime, ids] of [[a, senders.a], [c, senders.c]] as const) {
      await waitFor('every sender to settle', async () => {
        for (const id of ids) if (!senderSettled((await runtime.get({ type: 'Sender', id })) as { state: string; data: unknown })) return false;
        return true;
      }, 60_000);
      const problems = [];
      for (const id of ids) problems.push(...senderProblems(id, (await runtime.get({ type: 'Sender', id })) as { state: string; version: number; data: unknown }));
      assert.deepEqual(problems, []);
    }
    // Acknowledgements went to the right service: both outboxes empty out (an ack sent to the
    // other sender would leave these rows to be re-published forever, or delete that one's rows).
    await waitFor('both senders’ outboxes to be acknowledged', async () => {
      const rows = await pool.query<{ n: string }>(`SELECT (SELECT count(*) FROM "${schemas.a}".rsm_outbox) + (SELECT count(*) FROM "${schemas.c}".rsm_outbox) AS n`);
      return rows.rows[0]?.n === '0';
    }, 30_000);
    const text = await b.metrics.registry.metrics();
    assert.doesNotMatch(text, /rsm_duplicates_dropped_total\{[^}]*source="pair_sequence"[^}]*\} [1-9]/, 'nothing was published twice: every job was acknowledged to its sender at once');
    const receipts = histogram(text, 'rsm_receipt_jobs');
    assert.ok(receipts.count > 0 && receipts.sum > receipts.count, `some receipt took more than one job (jobs ${receipts.sum} in ${receipts.count} receipts)`);
  });
});
