import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { RsmRuntime } from '#rsm';
import { HOLDER_LOCK_CLASS, HolderLock } from '../src/store/holder-lock.js';
import { ActivityStore } from '../src/store/activity-store.js';
import { tableNames } from '../src/store/table-names.js';
import { Caller, Counter, Sender, recordActivity } from './fixtures/machines.js';
import { testConfig } from './support/config.js';
import { dropSchemas, quietLogger, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { sigkill, spawnNode } from './support/process-pool.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'crash-worker.js');
const TEN_MINUTES = 600_000;

describe('activity calls held by a process that died', () => {
  const schema = uniqueSchema('hold');
  const prefix = uniquePrefix('hold');
  const pool = testPool();
  const runtimes: RsmRuntime[] = [];

  after(async () => {
    for (const runtime of runtimes) await runtime.stop();
    await pool.end();
    await dropSchemas(schema);
  });

  it('are run by another process as soon as the holder is gone, not when their lease runs out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rsm-hold-'));
    const crashLog = join(dir, 'crashes.log');
    writeFileSync(crashLog, '');
    // This process takes requests but steps nothing: the worker steps the Caller, holds its call
    // for ten minutes, runs it, and is killed before it records the outcome.
    const front = await startRuntime({ service: 'svc-a', schema, prefix, machines: [Sender, Caller, Counter], routes: { Receiver: 'svc-b' }, overrides: { worker: false } });
    runtimes.push(front);
    const worker = spawnNode('holder', WORKER, {
      SERVICE: 'svc-a',
      SCHEMA: schema,
      PREFIX: prefix,
      DATABASE_URL: testConfig.DATABASE_URL,
      REDIS_URL: testConfig.REDIS_URL,
      CRASH_AT: 'whileActivityRuns',
      CRASH_LOG: crashLog,
      LEASE_MS: String(TEN_MINUTES),
    });
    try {
      await worker.ready;
      const ref = { type: 'Caller', id: 'held' };
      await front.create(ref, { type: 'Go', value: 'x' });
      await worker.exited;
      assert.deepEqual(readFileSync(crashLog, 'utf8').trim().split('\n'), ['whileActivityRuns']);
      const held = await pool.query<{ holder: number | null; leased: boolean }>(
        `SELECT holder, next_attempt_at > now() + interval '5 minutes' AS leased FROM ${tableNames(schema).activities}`,
      );
      assert.equal(held.rows.length, 1, 'the dead worker left its call');
      assert.notEqual(held.rows[0]?.holder, null, 'held by the dead worker');
      assert.equal(held.rows[0]?.leased, true, 'for the rest of its ten-minute lease');

      const next = await startRuntime({ service: 'svc-a', schema, prefix, machines: [Sender, Caller, Counter], routes: { Receiver: 'svc-b' }, activities: [recordActivity], overrides: { activities: { pollIntervalMs: 100, leaseMs: TEN_MINUTES } } });
      runtimes.push(next);
      await waitFor('the call to complete in the next process', async () => ((await next.get(ref))?.data as { completed: number } | undefined)?.completed === 1, 60_000);
      const left = await pool.query(`SELECT 1 FROM ${tableNames(schema).activities}`);
      assert.equal(left.rows.length, 0);
    } finally {
      await sigkill(worker);
    }
  });

  it('a holder lock is held while its process runs, given up at stop, and never waited for', async () => {
    const other = new pg.Client({ connectionString: testConfig.DATABASE_URL });
    await other.connect();
    // Whether a session other than `other` holds the lock of holder `id`.
    const heldElsewhere = async (id: number) =>
      (await other.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::int4::oid AND objid = $2::int4::oid AND pid <> pg_backend_pid()`, [HOLDER_LOCK_CLASS, id])).rows.length > 0;
    const lock = new HolderLock(pool, quietLogger, 50);
    const twin = new HolderLock(pool, quietLogger, 50, lock.id);
    try {
      await lock.start();
      assert.equal(await heldElsewhere(lock.id), true, 'held by the running process');
      await lock.stop();
      assert.equal(await heldElsewhere(lock.id), false, 'given up at stop');
      // Another session holds the id: a holder with the same id starts at once and keeps trying.
      await other.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [HOLDER_LOCK_CLASS, lock.id]);
      await twin.start();
      assert.equal(await heldElsewhere(lock.id), false, 'the twin did not take it from the session that holds it');
      await other.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', [HOLDER_LOCK_CLASS, lock.id]);
      await waitFor('the twin to take the lock once it is free', () => heldElsewhere(lock.id));
    } finally {
      await twin.stop();
      await lock.stop();
      await other.end();
    }
  });

  it('are told apart from calls of a live holder and calls waiting out a backoff', async () => {
    const s = uniqueSchema('hold2');
    // The runtime's migrations make the schema.
    const owner = await startRuntime({ service: 'svc-a', schema: s, prefix, machines: [Caller] });
    await owner.stop();
    const t = tableNames(s);
    const live = new pg.Client({ connectionString: testConfig.DATABASE_URL });
    await live.connect();
    try {
      const liveId = 11;
      const deadId = 12;
      await live.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [HOLDER_LOCK_CLASS, liveId]);
      // Another key space with the dead id's number locked says nothing about the dead holder.
      await live.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [HOLDER_LOCK_CLASS + 1, deadId]);
      const insert = (key: string, holder: number | null) =>
        pool.query(`INSERT INTO ${t.activities} (machine_type, machine_id, activity, call_id, idempotency_key, input, attempts, next_attempt_at, holder) VALUES ('Caller', $1, 'record', 'c', $1, '{}', 1, now() + interval '10 minutes', $2)`, [key, holder]);
      await insert('of-live', liveId);
      await insert('of-dead', deadId);
      await insert('backing-off', null);
      const store = new ActivityStore(pool, t);
      assert.equal(await store.reclaimOrphans(), 1);
      const due = await pool.query<{ idempotency_key: string; holder: number | null }>(`SELECT idempotency_key, holder FROM ${t.activities} WHERE next_attempt_at <= now()`);
      assert.deepEqual(due.rows, [{ idempotency_key: 'of-dead', holder: null }]);
      // The live holder goes: its call is due at the next look.
      await live.end();
      await waitFor('the live holder\'s lock to go', async () => (await store.reclaimOrphans()) === 1);
      const stillHeld = await pool.query(`SELECT idempotency_key FROM ${t.activities} WHERE next_attempt_at > now()`);
      assert.deepEqual(stillHeld.rows, [{ idempotency_key: 'backing-off' }]);
    } finally {
      await live.end().catch(() => undefined);
      await dropSchemas(s);
    }
  });
});
