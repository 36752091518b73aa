// A rolling deploy on real Postgres and Redis: runtimes of one service, sharing its schema and
// Redis prefix, run a v1 and a v2 definition of the same machine type side by side.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineMachine, RsmUnsafeVersionError, type MachineVersion, type RsmLogger, type RsmRuntime } from '#rsm';
import { ParcelV1, ParcelV2, ParcelV3, type ParcelV2Data, type ParcelV2Events } from './fixtures/parcels.js';
import { migrateMachine } from '../src/planning/versioning.js';
import { tableNames } from '../src/store/table-names.js';
import { VersionStore, type StoredMachine } from '../src/store/version-store.js';
import { dropSchemas, quietLogger, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/** A logger that keeps its warnings, for "logged once" assertions. */
function recordingLogger(): RsmLogger & { warnings: { obj: object; msg: string | undefined }[] } {
  const warnings: { obj: object; msg: string | undefined }[] = [];
  const logger = { ...quietLogger, warnings, warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }), child: () => logger };
  return logger;
}

async function deferrals(rsm: RsmRuntime, service: string, reason = 'newer_version'): Promise<number> {
  const text = await rsm.metrics.registry.metrics();
  return Number(new RegExp(`rsm_steps_deferred_total\\{service="${service}",type="Parcel",reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

describe('versioned machines in a rolling deploy', () => {
  const schema = uniqueSchema('ver');
  const prefix = uniquePrefix('ver');
  const pool = testPool();
  const service = 'post';
  const runtimes: RsmRuntime[] = [];
  let v2: RsmRuntime;
  // No migration at rest unless a test asks: the tests before the last one watch migrations by steps and reads.
  const start = async (machines: [typeof ParcelV1] | [typeof ParcelV2], options: { worker?: boolean; logger?: RsmLogger; migrateAtRestIntervalMs?: number } = {}) => {
    const overrides = { worker: options.worker ?? true, migrateAtRestIntervalMs: options.migrateAtRestIntervalMs ?? 0 };
    const rsm = await startRuntime({ service, schema, prefix, machines, overrides, ...(options.logger === undefined ? {} : { logger: options.logger }) });
    runtimes.push(rsm);
    return rsm;
  };
  const stored = async (id: string) =>
    (await pool.query<{ state: string; definition_version: number; data: unknown; version: string }>(`SELECT state, definition_version, data, version FROM "${schema}".rsm_machines WHERE type = 'Parcel' AND id = $1`, [id])).rows[0];

  after(async () => {
    for (const rsm of runtimes) await rsm.stop();
    await pool.end();
    await dropSchemas(schema);
  });

  it('hands the new code the old code\'s inbox events and timers, upcast, and migrates their machine in the step that takes them', async () => {
    const v1 = await start([ParcelV1]);
    await v1.create(ParcelV1.ref('old'), { type: 'Register', kg: 2 });
    assert.deepEqual(await stored('old'), { state: 'InTransit', definition_version: 1, data: { kg: 2, scans: [] }, version: '1' });
    await v1.stop();
    // Events the v1 code accepted and nobody handled yet, in v1's shapes; its timer comes due.
    const api = await start([ParcelV1], { worker: false });
    await api.send(ParcelV1.ref('old'), { type: 'Scan', at: 'Oslo' });
    await api.send(ParcelV1.ref('old'), { type: 'Lose' });
    await api.stop();
    await pool.query(`UPDATE "${schema}".rsm_timers SET fire_at = now() WHERE machine_id = 'old'`);

    v2 = await start([ParcelV2]);
    const view = await waitFor('the v1 machine to take its three events in v2', async () => {
      const row = await stored('old');
      return row?.version === '4' ? row : undefined;
    });
    assert.deepEqual(view, { state: 'Moving', definition_version: 2, data: { grams: 2_000, scans: ['Oslo'], misplaced: true }, version: '4' });
    const steps = await pool.query<{ event_type: string; from_state: string; to_state: string }>(`SELECT event_type, from_state, to_state FROM "${schema}".rsm_steps WHERE machine_id = 'old' ORDER BY id`);
    assert.deepEqual(
      steps.rows.map((s) => `${s.event_type} ${s.from_state}->${s.to_state}`),
      ['Register New->InTransit', 'Scan Moving->Moving', 'Misplace Moving->Moving', 'Timeout Moving->Moving'],
      'the v1 Scan reached v2 upcast, Lose as Misplace, and the v1 timer fired into v2',
    );
    assert.deepEqual(await v2.deadLetters(), []);
    assert.match(await v2.metrics.registry.metrics(), /rsm_machines_migrated_total\{service="post",type="Parcel",from="1"\} 1\b/);
  });

  it('an old runtime never steps a machine stored at a newer version: the event waits in the inbox, counted and logged once, and a new runtime handles it unprompted', async () => {
    const logger = recordingLogger();
    const v1 = await start([ParcelV1], { logger });
    await v2.create(ParcelV2.ref('fresh'), { type: 'Register', grams: 500 });
    assert.equal((await stored('fresh'))?.definition_version, 2);

    // Handed to the old runtime by a caller: it must leave the machine alone.
    await v1.send(ParcelV1.ref('fresh'), { type: 'Scan', at: 'Bergen' });
    assert.equal(await deferrals(v1, service), 1);
    const inbox = await pool.query<{ event: unknown }>(`SELECT event FROM "${schema}".rsm_inbox WHERE machine_id = 'fresh'`);
    const handled = (await stored('fresh'))?.version;
    assert.ok(inbox.rows.length === 1 || handled === '2', 'the event is in the inbox until a v2 runtime takes it');
    // Nothing rings a doorbell: the v2 runtime's recovery finds the waiting event.
    await waitFor('the v2 runtime to handle the deferred event', async () => (await stored('fresh'))?.version === '2', 15_000);
    assert.deepEqual(await stored('fresh'), { state: 'Moving', definition_version: 2, data: { grams: 500, scans: ['Bergen'], misplaced: false }, version: '2' });

    // A request through the old runtime: deferred there, answered by the new one.
    const answer = await v1.request(ParcelV1.ref('fresh'), { type: 'Deliver' }, { timeoutMs: 15_000 });
    assert.equal(answer, undefined);
    assert.equal((await stored('fresh'))?.state, 'Delivered');
    assert.equal(await deferrals(v1, service), 2, 'each deferral counted once: the old runtime\'s recovery leaves v2 machines alone');
    const logged = logger.warnings.filter((w) => (w.obj as { reason?: string }).reason === 'newer_version');
    assert.equal(logged.length, 1, 'logged once per type');
    assert.match(logged[0]?.msg ?? '', /stored at a newer definition version/);
    assert.deepEqual(await v1.deadLetters(), []);

    // The old runtime still steps machines of its own version, and the new one migrates them when it steps them.
    await v1.create(ParcelV1.ref('mixed'), { type: 'Register', kg: 1 });
    assert.deepEqual(await stored('mixed'), { state: 'InTransit', definition_version: 1, data: { kg: 1, scans: [] }, version: '1' });
    await v2.send(ParcelV2.ref('mixed'), { type: 'Scan', location: 'Trondheim' });
    assert.deepEqual(await stored('mixed'), { state: 'Moving', definition_version: 2, data: { grams: 1_000, scans: ['Trondheim'], misplaced: false }, version: '2' });
    await v1.send(ParcelV1.ref('mixed'), { type: 'Deliver' });
    assert.equal(await deferrals(v1, service), 3);
    await waitFor('the v2 runtime to deliver the migrated parcel', async () => (await stored('mixed'))?.state === 'Delivered', 15_000);
    await v1.stop();
  });

  it('shows an old machine migrated on read without writing it, and says so; an old runtime shows a newer machine as stored', async () => {
    const v1 = await start([ParcelV1]);
    await v1.create(ParcelV1.ref('shown'), { type: 'Register', kg: 3 });
    await v1.send(ParcelV1.ref('shown'), { type: 'Lose' });
    const inspected = await v2.inspect(ParcelV2.ref('shown'));
    assert.deepEqual(
      inspected && { state: inspected.state, data: inspected.data, definitionVersion: inspected.definitionVersion, migratedFrom: inspected.migratedFrom, recentSteps: inspected.recentSteps.length },
      { state: 'Moving', data: { grams: 3_000, scans: [], misplaced: true }, definitionVersion: 2, migratedFrom: 1, recentSteps: 2 },
    );
    const got = await v2.get(ParcelV2.ref('shown'));
    assert.deepEqual([got?.state, got?.migratedFrom, got?.data.grams], ['Moving', 1, 3_000]);
    assert.deepEqual(await stored('shown'), { state: 'Lost', definition_version: 1, data: { kg: 3, scans: [] }, version: '2' }, 'reading writes nothing');
    const listed = (await v2.list(ParcelV2)).find((m) => m.id === 'shown');
    assert.equal(listed?.migratedFrom, 1);
    const newer = await v1.get(ParcelV1.ref('fresh'));
    assert.deepEqual([newer?.state, newer?.definitionVersion, newer?.migratedFrom], ['Delivered', 2, undefined]);
    assert.match(newer?.versionNote ?? '', /stored at v2; this process runs v1/);
    await v1.stop();
  });

  it('counts machines by type and stored version, with how the running definition treats each', async () => {
    const versions = await v2.versions();
    const parcel = versions.find((t) => t.type === 'Parcel');
    assert.equal(parcel?.running, 2);
    assert.equal(parcel?.migratesFrom, 1);
    assert.deepEqual(parcel?.stored.map((s) => [s.version, s.machines, s.handling]), [[1, 1, 'migrates'], [2, 3, 'current']]);
  });

  it('migrates at rest a machine that no event steps, as its step would, and leaves a machine being stepped to its step', async () => {
    // 'shown' is at v1 with nothing pending. Another v1 machine is held as a step holds it.
    const v1 = await start([ParcelV1]);
    await v1.create(ParcelV1.ref('held'), { type: 'Register', kg: 1 });
    await v1.stop();
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".rsm_machines WHERE type = 'Parcel' AND id = 'held' FOR UPDATE`);
      const sweeper = await start([ParcelV2], { migrateAtRestIntervalMs: 50 });
      const row = await waitFor('the idle v1 parcel migrated at rest', async () => {
        const r = await stored('shown');
        return r?.definition_version === 2 ? r : undefined;
      }, 15_000);
      assert.deepEqual(row, { state: 'Moving', definition_version: 2, data: { grams: 3_000, scans: [], misplaced: true }, version: '2' }, 'the same migration as a step, and no step counted');
      // The pass that migrated 'shown' read 'held' first (id order) while it was locked: skipped, not waited for.
      assert.equal((await stored('held'))?.definition_version, 1, 'a machine locked by a step is left to it');
      await holder.query('ROLLBACK');
      await waitFor('the released parcel migrated at rest', async () => (await stored('held'))?.definition_version === 2, 15_000);
      assert.deepEqual((await stored('held'))?.data, { grams: 1_000, scans: [], misplaced: false });
      assert.match(await sweeper.metrics.registry.metrics(), /rsm_machines_migrated_total\{service="post",type="Parcel",from="1"\} 2\b/);
      const parcel = (await sweeper.versions()).find((t) => t.type === 'Parcel');
      assert.deepEqual(parcel?.stored.map((s) => [s.version, s.handling]), [[2, 'current']], 'nothing left at v1');
    } finally {
      holder.release();
    }
  });
});

describe('migration at rest during a rollout', () => {
  const schema = uniqueSchema('verrest');
  const prefix = uniquePrefix('verrest');
  const pool = testPool();
  const stored = async (id: string) => (await pool.query<{ definition_version: number }>(`SELECT definition_version FROM "${schema}".rsm_machines WHERE type = 'Parcel' AND id = $1`, [id])).rows[0];

  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  it('migrates at rest only a machine at rest: none stepped lately, none with an event waiting (older processes of a rollout still step the others)', async () => {
    const v1 = await startRuntime({ service: 'post', schema, prefix, machines: [ParcelV1], overrides: { migrateAtRestIntervalMs: 0 } });
    for (const id of ['rest-a', 'rest-b']) await v1.create(ParcelV1.ref(id), { type: 'Register', kg: 1 });
    await v1.stop();
    // An event for rest-b, accepted and not handled yet (an API-only process steps nothing).
    const api = await startRuntime({ service: 'post', schema, prefix, machines: [ParcelV1], overrides: { worker: false, migrateAtRestIntervalMs: 0 } });
    await api.send(ParcelV1.ref('rest-b'), { type: 'Scan', at: 'Oslo' });
    await api.stop();
    const store = new VersionStore(pool, tableNames(schema));
    const migrate = (machine: StoredMachine) => {
      const view = migrateMachine(ParcelV2, machine, machine.definitionVersion);
      return view.kind === 'migrated' ? { state: view.machine.state, data: view.machine.data } : undefined;
    };
    const ids = (machines: { id: string }[]) => machines.map((m) => m.id);
    // Both were stepped a moment ago: not at rest for a minute. Read and paged past all the same,
    // so that a pass finding only machines in use does not back off as one that found nothing.
    const recent = await store.migrateAtRest('Parcel', 1, 2, 100, '', 60_000, migrate);
    assert.deepEqual(ids(recent.migrated), []);
    assert.equal(recent.read, 2);
    const idle = await store.migrateAtRest('Parcel', 1, 2, 100, '', 0, migrate);
    assert.deepEqual(ids(idle.migrated), ['rest-a'], 'rest-b has an event waiting: its step migrates it');
    assert.equal((await stored('rest-a'))?.definition_version, 2);
    assert.equal((await stored('rest-b'))?.definition_version, 1);
  });
});

describe('start-up refuses definitions that cannot handle what is stored', () => {
  const schema = uniqueSchema('verstart');
  const prefix = uniquePrefix('verstart');
  const pool = testPool();
  const service = 'post';

  after(async () => {
    await pool.end();
    await dropSchemas(schema);
  });

  before(async () => {
    const v1 = await startRuntime({ service, schema, prefix, machines: [ParcelV1] });
    for (const id of ['a', 'b', 'c']) {
      await v1.create(ParcelV1.ref(id), { type: 'Register', kg: 1 });
      await v1.send(ParcelV1.ref(id), { type: 'Lose' });
    }
    await v1.create(ParcelV1.ref('moving'), { type: 'Register', kg: 1 });
    await v1.stop();
    // Lose events waiting for two machines, sent by v1 code nobody has run since.
    const api = await startRuntime({ service, schema, prefix, machines: [ParcelV1], overrides: { worker: false } });
    await api.send(ParcelV1.ref('moving'), { type: 'Lose' });
    await api.send(ParcelV1.ref('a'), { type: 'Scan', at: 'x' });
    await api.stop();
  });

  /** A v2 written carelessly: the older version's states untyped, Lost not mapped, no upcaster for Lose. */
  const Careless = defineMachine<ParcelV2Data, ParcelV2Events>()({
    ...ParcelV2.spec,
    migrations: (current) => current.from<MachineVersion<{ kg: number; scans: string[] }, string, { type: 'Scan'; at: string } | { type: 'Register'; kg: number }>>(1, {
      data: (old) => ({ grams: old.kg * 1_000, scans: old.scans, misplaced: false }),
      states: { InTransit: 'Moving' },
    }),
  });

  it('names the machine type, the state or event, and how many, and starts nothing', async () => {
    const error = await startRuntime({ service, schema, prefix, machines: [Careless] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof RsmUnsafeVersionError, `expected RsmUnsafeVersionError, got ${String(error)}`);
    assert.deepEqual(
      error.problems.map((p) => p.message),
      [
        'Parcel v2: 3 machines in state Lost (stored at v1), which v2 does not have and no migration maps',
        'Parcel v2: 1 pending Lose event (inbox), which no state of v2 accepts and no upcaster converts',
      ],
    );
    assert.match(error.message, /nothing was started/);
    const untouched = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".rsm_inbox`);
    assert.equal(untouched.rows[0]?.n, '2', 'the refused runtime handled nothing');
  });

  it('refuses a definition whose migrations do not reach back to what is stored', async () => {
    const FromV2 = defineMachine<ParcelV2Data & { returns: number }, ParcelV2Events | { type: 'Return' }>()({
      ...ParcelV3.spec,
      migrations: (current) => current.from<MachineVersion<ParcelV2Data, 'New' | 'Moving' | 'Delivered', ParcelV2Events>>(2, { data: (old) => ({ ...old, returns: 0 }), states: { Delivered: 'Done' } }),
    });
    await assert.rejects(startRuntime({ service, schema, prefix, machines: [FromV2] }), (error: unknown) => {
      assert.ok(error instanceof RsmUnsafeVersionError);
      assert.deepEqual(error.problems.find((p) => p.kind === 'version') && [error.problems[0]?.kind, error.problems[0]?.subject, error.problems[0]?.count], ['version', 'v1', 4]);
      assert.match(error.message, /Parcel v3: 4 machines stored at v1, which v3 cannot migrate \(its migrations start at v2\)/);
      return true;
    });
  });

  it('starts the definition that migrates and upcasts all of it, which then handles the waiting events', async () => {
    const v2 = await startRuntime({ service, schema, prefix, machines: [ParcelV2] });
    try {
      await waitFor('the waiting events to be handled', async () => (await pool.query(`SELECT 1 FROM "${schema}".rsm_inbox`)).rowCount === 0);
      const moving = await v2.get(ParcelV2.ref('moving'));
      assert.deepEqual([moving?.state, moving?.definitionVersion, moving?.data.misplaced], ['Moving', 2, true]);
      assert.deepEqual(await v2.deadLetters(), []);
    } finally {
      await v2.stop();
    }
  });
});
