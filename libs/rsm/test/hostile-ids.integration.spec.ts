import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RsmRuntime } from '#rsm';
import { activityIdempotencyKey } from '../src/definition/step-executor.js';
import { Counter, Receiver, Sender, recordActivity, senderProblems, senderSettled } from './fixtures/machines.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/**
 * Ids are any non-empty string the API accepts. These hold every separator the runtime or a naive
 * encoding could use (space, `:`, `|`, `/`, `,`), quotes, non-ASCII, and names that are special on
 * plain JavaScript objects; several would be confused with each other by a split on a space.
 */
const HOSTILE_IDS = [
  'has space',
  'Receiver/fake other',
  'a:b|c/d e,f',
  `quote"'\``,
  'ünïcødé ✈ 漢字',
  '__proto__',
  'constructor',
  ' lead and trail ',
];

describe('any id the API accepts', () => {
  const schemaA = uniqueSchema('ida');
  const schemaB = uniqueSchema('idb');
  const prefix = uniquePrefix('ids');
  const pool = testPool();
  let a: RsmRuntime;
  let b: RsmRuntime;

  before(async () => {
    a = await startRuntime({ service: 'id-a', schema: schemaA, prefix, machines: [Sender, Counter], routes: { Receiver: 'id-b' }, activities: [recordActivity] });
    b = await startRuntime({ service: 'id-b', schema: schemaB, prefix, machines: [Receiver] });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await pool.end();
    await dropSchemas(schemaA, schemaB);
  });

  it('gives distinct activity calls distinct idempotency keys whatever the ids hold', () => {
    const one = activityIdempotencyKey({ type: 'A', id: 'x:y' }, 'e', 'c');
    const two = activityIdempotencyKey({ type: 'A', id: 'x' }, 'y:e', 'c');
    const three = activityIdempotencyKey({ type: 'A', id: 'x' }, 'y', 'e:c');
    const four = activityIdempotencyKey({ type: 'A', id: 'x%3Ay' }, 'e', 'c');
    assert.equal(new Set([one, two, three, four]).size, 4);
    assert.equal(activityIdempotencyKey({ type: 'Drone', id: 'drone-17' }, 'q:1', 'fly#1'), 'Drone/drone-17:q:1:fly#1');
    assert.match(activityIdempotencyKey({ type: 'A', id: 'ünï cødé ✈' }, 'e', 'c'), /^[\x21-\x7e]+$/, 'fits in an HTTP header');
  });

  it('answers requests to machines with hostile ids', async () => {
    for (const [i, id] of HOSTILE_IDS.entries()) {
      const ref = { type: 'Counter', id };
      assert.deepEqual(await a.create(ref, { type: 'Open' }), { created: true });
      assert.equal(await a.request(ref, { type: 'Add', n: i + 1 }), i + 1);
      assert.deepEqual((await a.get(ref))?.data, { total: i + 1 }, `Counter ${JSON.stringify(id)}`);
    }
  });

  it('refuses at the source an id longer than receivers accept', async () => {
    await assert.rejects(a.create({ type: 'Counter', id: 'é'.repeat(257) }, { type: 'Open' }), /at most 512 bytes/);
    // Ids a URL path drops, so that no admin route could reach the machine.
    for (const id of ['.', '..']) await assert.rejects(a.create({ type: 'Counter', id }, { type: 'Open' }), /cannot be '\.' or '\.\.'/);
    const longest = 'é'.repeat(256);
    await a.create({ type: 'Counter', id: longest }, { type: 'Open' });
    assert.equal(await a.request({ type: 'Counter', id: longest }, { type: 'Add', n: 1 }), 1);
  });

  it('delivers every message across services exactly once, in order per pair', async () => {
    const count = 16;
    for (const id of HOSTILE_IDS) await b.create({ type: 'Receiver', id }, { type: 'Hello' });
    for (const id of HOSTILE_IDS) await a.create({ type: 'Sender', id }, { type: 'Start', receivers: HOSTILE_IDS, count, receiverType: 'Receiver' });
    const perPair = count / HOSTILE_IDS.length;
    const perReceiver = HOSTILE_IDS.length * perPair;
    await waitFor(`${HOSTILE_IDS.length * count} pings received`, async () => {
      for (const id of HOSTILE_IDS) if (((await b.get({ type: 'Receiver', id }))?.data as { count: number }).count !== perReceiver) return false;
      return true;
    }, 60_000);
    for (const id of HOSTILE_IDS) {
      const r = (await b.get({ type: 'Receiver', id })) as { data: { violations: string[]; steps: number; last: Record<string, number> }; version: number };
      assert.deepEqual(r.data.violations, [], `receiver ${JSON.stringify(id)}`);
      assert.equal(r.data.steps, r.version, 'one writer at a time');
      // Each sender's pings arrived under its own name.
      assert.deepEqual(Object.keys(r.data.last).sort(), HOSTILE_IDS.map((s) => `Sender/${s}`).sort(), `senders seen by ${JSON.stringify(id)}`);
    }
    await waitFor('every sender to settle', async () => {
      for (const id of HOSTILE_IDS) if (!senderSettled((await a.get({ type: 'Sender', id })) as { state: string; data: unknown })) return false;
      return true;
    }, 30_000);
    const problems = [];
    for (const id of HOSTILE_IDS) problems.push(...senderProblems(id, (await a.get({ type: 'Sender', id })) as { state: string; version: number; data: unknown }));
    assert.deepEqual(problems, []);
    // The counters name each pair exactly as its machines are named, and the outbox is empty.
    const counters = await pool.query<{ sender: string; receiver: string; last_seq: string }>(`SELECT sender, receiver, last_seq FROM "${schemaB}".rsm_recv_seq`);
    const expected = HOSTILE_IDS.flatMap((s) => HOSTILE_IDS.map((r) => `${JSON.stringify([`Sender/${s}`, `Receiver/${r}`])}=${perPair}`)).sort();
    assert.deepEqual(counters.rows.map((row) => `${JSON.stringify([row.sender, row.receiver])}=${row.last_seq}`).sort(), expected);
    await waitFor('the sender outbox to empty', async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schemaA}".rsm_outbox`)).rows[0]?.n) === 0);
  });
});
