import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineMachine, type RsmRuntime } from '#rsm';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

type TaskEvents = { type: 'Open' } | { type: 'Finish' } | { type: 'Boom' } | { type: 'Wait' };
/** Ends when told to; `Boom` always fails (one attempt); `Wait` starts a long timer. */
const Task = defineMachine<Record<string, never>, TaskEvents>()({
  type: 'Task',
  initial: 'Open',
  initialData: () => ({}),
  states: {
    Open: {
      on: {
        Open: () => undefined,
        Finish: (_data, _event, ctx) => ctx.halt(),
        Boom: () => {
          throw new Error('boom');
        },
        Wait: (_data, _event, ctx) => ctx.startTimer('later', 3_600_000),
      },
    },
  },
  failure: { maxAttempts: 1 },
});

const DAY_MS = 86_400_000;

describe('the janitor bounds dead letters, halted machines and gap records by their retention', () => {
  const schema = uniqueSchema('ret');
  const prefix = uniquePrefix('ret');
  const pool = testPool();
  let rsm: RsmRuntime;
  const table = (name: string) => `"${schema}".${name}`;

  before(async () => {
    rsm = await startRuntime({
      service: 'retention',
      schema,
      prefix,
      machines: [Task],
      overrides: {
        cleanupIntervalMs: 200,
        retention: { openDeadLettersMs: 3 * DAY_MS, redrivenDeadLettersMs: DAY_MS, haltedMachinesMs: DAY_MS, gapSkipsMs: DAY_MS, auditLogMs: DAY_MS },
      },
    });
  });

  after(async () => {
    await rsm?.stop();
    await pool.end();
    await dropSchemas(schema);
  });

  it('deletes only what is past its retention, and counts it', async () => {
    const halting = ['old-halted', 'new-halted', 'old-halted-with-timer', 'old-halted-with-call', 'old-unstamped', 'new-unstamped'];
    for (const id of [...halting, 'old-active', 'letters']) await rsm.create(Task.ref(id), { type: 'Open' });
    await rsm.send(Task.ref('old-halted-with-timer'), { type: 'Wait' });
    for (const id of halting) await rsm.send(Task.ref(id), { type: 'Finish' });
    for (let i = 0; i < 4; i += 1) await rsm.send(Task.ref('letters'), { type: 'Boom' });
    await waitFor('four dead letters', async () => (await rsm.deadLetters()).length === 4);
    await waitFor('six halted machines', async () => (await pool.query(`SELECT 1 FROM ${table('rsm_machines')} WHERE status = 'halted'`)).rowCount === 6);
    // Halting dropped the machine's timer: its Timeout could never be handled, and the timer would
    // keep retention from deleting the machine.
    assert.equal((await pool.query(`SELECT 1 FROM ${table('rsm_timers')}`)).rowCount, 0);
    // The step that halts a machine stamps it; retention goes by that stamp.
    const stamps = await pool.query<{ id: string; stamped: boolean }>(`SELECT id, halted_at IS NOT NULL AS stamped FROM ${table('rsm_machines')} ORDER BY id`);
    assert.deepEqual(stamps.rows.filter((r) => r.stamped).map((r) => r.id), [...halting].sort());
    const letters = (await rsm.deadLetters()).map((l) => l.id).sort();
    const [oldOpen, newOpen, oldRedriven, newRedriven] = letters as [string, string, string, string];
    await rsm.redrive(oldRedriven);
    await rsm.redrive(newRedriven);
    await waitFor('the redriven events dead-lettered again', async () => (await rsm.deadLetters()).length === 4);

    const allLetters = (await pool.query<{ id: string }>(`SELECT id::text FROM ${table('rsm_dead_letters')} ORDER BY id`)).rows.map((r) => r.id);
    assert.equal(allLetters.length, 6);
    // Age the rows instead of waiting days: the janitor compares with now().
    const ago = (days: number) => `now() - interval '${days} days'`;
    // A call it made before halting still runs (in backoff): its outcome must find this machine.
    // Written before the machine is aged, or the janitor could delete it in between.
    await pool.query(
      `INSERT INTO ${table('rsm_activities')} (machine_type, machine_id, activity, call_id, idempotency_key, input, next_attempt_at)
       VALUES ('Task', 'old-halted-with-call', 'mail', 'mail#1', 'Task/old-halted-with-call:e:mail#1', '{}', now() + interval '1 hour')`,
    );
    await pool.query(`UPDATE ${table('rsm_machines')} SET updated_at = ${ago(2)}, halted_at = ${ago(2)} WHERE id IN ('old-halted', 'old-halted-with-timer', 'old-halted-with-call')`);
    await pool.query(`UPDATE ${table('rsm_machines')} SET updated_at = ${ago(2)} WHERE id = 'old-active'`);
    // Halted with no stamp, as by a process of the release before the stamp (or before the migration):
    // the janitor stamps each with its last step's time, then retention treats it like the others.
    await pool.query(`UPDATE ${table('rsm_machines')} SET updated_at = ${ago(2)}, halted_at = NULL WHERE id = 'old-unstamped'`);
    await pool.query(`UPDATE ${table('rsm_machines')} SET halted_at = NULL WHERE id = 'new-unstamped'`);
    await pool.query(`UPDATE ${table('rsm_dead_letters')} SET created_at = ${ago(4)} WHERE id = $1`, [oldOpen]);
    await pool.query(`UPDATE ${table('rsm_dead_letters')} SET created_at = ${ago(2)} WHERE id = $1`, [newOpen]);
    await pool.query(`UPDATE ${table('rsm_dead_letters')} SET redriven_at = ${ago(2)} WHERE id = $1`, [oldRedriven]);
    await pool.query(`INSERT INTO ${table('rsm_gap_skips')} (sender, receiver, from_seq, to_seq, skipped_by, reason, at) VALUES ('A/a', 'B/b', 1, 1, 'x', 'old', ${ago(2)}), ('A/a', 'B/b', 5, 5, 'x', 'new', now())`);
    await pool.query(`INSERT INTO ${table('rsm_admin_audit')} (actor, token_id, action, targets, outcome, at) VALUES ('ann', 'tok-1', 'old', '[]', '{}', ${ago(2)}), ('bob', 'tok-2', 'new', '[]', '{}', now())`);

    await waitFor('the janitor to delete the old rows', async () => {
      const machines = await pool.query(`SELECT 1 FROM ${table('rsm_machines')} WHERE id IN ('old-halted', 'old-halted-with-timer', 'old-unstamped') OR (id = 'new-unstamped' AND halted_at IS NULL)`);
      const letterRows = await pool.query(`SELECT 1 FROM ${table('rsm_dead_letters')} WHERE id IN ($1, $2)`, [oldOpen, oldRedriven]);
      const skips = await pool.query(`SELECT 1 FROM ${table('rsm_gap_skips')} WHERE reason = 'old'`);
      const audit = await pool.query(`SELECT 1 FROM ${table('rsm_admin_audit')} WHERE action = 'old'`);
      return machines.rowCount === 0 && letterRows.rowCount === 0 && skips.rowCount === 0 && audit.rowCount === 0;
    });

    const stamp = await pool.query<{ same: boolean }>(`SELECT halted_at = updated_at AS same FROM ${table('rsm_machines')} WHERE id = 'new-unstamped'`);
    assert.deepEqual(stamp.rows, [{ same: true }], 'stamped with the time of its last step');
    const machines = (await pool.query<{ id: string }>(`SELECT id FROM ${table('rsm_machines')} ORDER BY id`)).rows.map((r) => r.id);
    assert.deepEqual(machines, ['letters', 'new-halted', 'new-unstamped', 'old-active', 'old-halted-with-call'], 'recent and active machines stay, and one whose call still runs');
    const kept = (await pool.query<{ id: string }>(`SELECT id::text FROM ${table('rsm_dead_letters')} ORDER BY id`)).rows.map((r) => r.id);
    assert.deepEqual(kept, allLetters.filter((id) => id !== oldOpen && id !== oldRedriven), 'dead letters within their retention stay');
    assert.equal((await pool.query(`SELECT 1 FROM ${table('rsm_gap_skips')}`)).rowCount, 1);
    assert.deepEqual((await pool.query(`SELECT action FROM ${table('rsm_admin_audit')}`)).rows, [{ action: 'new' }], 'recent audit entries stay');

    const metrics = await rsm.metrics.registry.metrics();
    assert.match(metrics, /rsm_retention_deleted_total\{service="retention",table="machines"\} 3\b/);
    assert.match(metrics, /rsm_retention_deleted_total\{service="retention",table="dead_letters"\} 2\b/);
    assert.match(metrics, /rsm_retention_deleted_total\{service="retention",table="gap_skips"\} 1\b/);
    assert.match(metrics, /rsm_retention_deleted_total\{service="retention",table="admin_audit"\} 1\b/);
  });

  it('deletes the timer a halted machine was left with, instead of firing it into a dead letter each period', async () => {
    await rsm.create(Task.ref('legacy'), { type: 'Open' });
    await rsm.send(Task.ref('legacy'), { type: 'Finish' });
    await waitFor('legacy halted', async () => (await rsm.get(Task.ref('legacy')))?.status === 'halted');
    // As a release before this one left it: a periodic timer, due now, on the halted machine.
    await pool.query(`INSERT INTO ${table('rsm_timers')} (machine_type, machine_id, name, fire_at, period_ms) VALUES ('Task', 'legacy', 'tick', now(), 1000)`);
    await waitFor('the poller to delete it', async () => (await pool.query(`SELECT 1 FROM ${table('rsm_timers')} WHERE machine_id = 'legacy'`)).rowCount === 0);
    assert.equal((await pool.query(`SELECT 1 FROM ${table('rsm_dead_letters')} WHERE machine_id = 'legacy'`)).rowCount, 0, 'no Timeout was dead-lettered');
    assert.equal((await pool.query(`SELECT 1 FROM ${table('rsm_inbox')} WHERE machine_id = 'legacy'`)).rowCount, 0);
  });

  it('frees the id of a deleted halted machine: a create makes a new machine', async () => {
    const created = await rsm.create(Task.ref('old-halted'), { type: 'Open' });
    assert.equal(created.created, true);
    assert.equal((await rsm.get(Task.ref('old-halted')))?.status, 'active');
  });
});

describe('tables the runtime rewrites all the time are vacuumed', () => {
  const schema = uniqueSchema('vac');
  const prefix = uniquePrefix('vac');
  const pool = testPool();
  let rsm: RsmRuntime;

  before(async () => {
    // 'always', so that the test means the same on a server with autovacuum on or off ('auto' does it only when off).
    rsm = await startRuntime({ service: 'vacuum', schema, prefix, machines: [Task], overrides: { vacuum: { mode: 'always', intervalMs: 300 } } });
  });

  after(async () => {
    await rsm?.stop();
    await pool.end();
    await dropSchemas(schema);
  });

  it('vacuums them, so that the rows each step leaves dead are reclaimed', async () => {
    await rsm.create(Task.ref('busy'), { type: 'Open' });
    for (let i = 0; i < 50; i += 1) await rsm.send(Task.ref('busy'), { type: 'Open' });
    const vacuumed = async () =>
      (await pool.query<{ relname: string; n: string }>(`SELECT relname, vacuum_count::text AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('rsm_machines', 'rsm_inbox', 'rsm_outbox', 'rsm_timers')`, [schema])).rows.filter((r) => Number(r.n) > 0).map((r) => r.relname).sort();
    const seen = await waitFor('a vacuum of the busy tables after the steps', async () => {
      const tables = await vacuumed();
      return tables.length === 4 ? tables : undefined;
    }, 20_000);
    assert.deepEqual(seen, ['rsm_inbox', 'rsm_machines', 'rsm_outbox', 'rsm_timers']);
    const dead = await waitFor('the machine row to have no dead versions left', async () => {
      const row = (await pool.query<{ n: string }>(`SELECT n_dead_tup::text AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'rsm_machines'`, [schema])).rows[0];
      return row !== undefined && Number(row.n) === 0 ? Number(row.n) : undefined;
    }, 20_000);
    assert.equal(dead, 0);
  });
});
