// Versioned machines without Postgres: the declaration (chains, upcasters, what defineMachine
// refuses), the migration every runtime shares (planStep and the planner), the TestRuntime, the
// start-up judgement of what is stored, and a simulated rolling upgrade.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, RequestTimeoutError, RsmStartupError, RsmUnsafeVersionError, type AnyMachineDefinition, type MachineVersion, type MigrationChain, type RsmEvent, type VersionOf } from '#rsm';
import { assertExplore, describeFailure, explore, formatTrace, simulate, TestRuntime, type SimMachine, type SimulationSetup, type WorldView } from '#rsm/testing';
import type { IntakeItem } from '../src/planning/intake.js';
import { MachineRegistry } from '../src/planning/machine-registry.js';
import { BatchWrites, emptyBatchResult, planStep, StepPlanner, type Pending } from '../src/planning/step-planner.js';
import { migrateMachine, versionProblems, type PendingEventCount, type StoredVersionCount } from '../src/planning/versioning.js';
import { ParcelV1, ParcelV2, ParcelV3, type ParcelV2Data, type ParcelV2Events } from './fixtures/parcels.js';

/** A chain without its types, to declare what the types refuse and see defineMachine refuse it too. */
type Untyped = MigrationChain & { from(version: number, step: { states?: Record<string, string> }): Untyped };

describe('versioned definitions', () => {
  it('composes a chain: a v1 machine becomes v3 through v2, states renamed and removed, data transformed step by step', () => {
    const v = ParcelV3.versions;
    assert.equal(v.current, 3);
    assert.equal(v.oldest, 1);
    assert.equal(v.stateFrom(1, 'InTransit'), 'Moving', 'renamed in v2, kept in v3');
    assert.equal(v.stateFrom(1, 'Lost'), 'Moving', 'removed in v2, mapped to a surviving state');
    assert.equal(v.stateFrom(1, 'Delivered'), 'Done', 'kept in v2, renamed in v3');
    assert.equal(v.stateFrom(2, 'Delivered'), 'Done');
    assert.equal(v.stateFrom(3, 'Done'), 'Done');
    assert.equal(v.stateFrom(0, 'New'), undefined, 'no migration from v0');
    assert.equal(v.stateFrom(4, 'New'), undefined, 'a newer version is not migrated back');
    const stored = { type: 'Parcel', id: 'p1', state: 'Lost', data: { kg: 2, scans: ['Oslo'] } };
    assert.deepEqual(v.migrate(1, stored), { state: 'Moving', data: { grams: 2_000, scans: ['Oslo'], misplaced: true, returns: 0 } });
    assert.deepEqual(stored.data, { kg: 2, scans: ['Oslo'] }, 'the stored data is not changed in place');
    assert.deepEqual(v.migrate(2, { type: 'Parcel', id: 'p1', state: 'Delivered', data: { grams: 5, scans: [], misplaced: false } }), {
      state: 'Done',
      data: { grams: 5, scans: [], misplaced: false, returns: 0 },
    });
    assert.throws(() => v.migrate(0, stored), /no migration from v0/);
  });

  it('hands each data migration the state the machine had at that version', () => {
    const seen: string[] = [];
    const Probe = defineMachine<{ n: number }, { type: 'Go' }>()({
      type: 'Probe',
      version: 3,
      initial: 'X',
      initialData: () => ({ n: 0 }),
      migrations: (current) =>
        current
          .from<MachineVersion<{ n: number }, 'X' | 'Old2', { type: 'Go' }>>(2, { data: (d, { state, id }) => (seen.push(`v2 ${state} ${id}`), { n: d.n + 10 }), states: { Old2: 'X' } })
          .from<MachineVersion<{ n: number }, 'X' | 'Old1', { type: 'Go' }>>(1, { data: (d, { state }) => (seen.push(`v1 ${state}`), { n: d.n + 1 }), states: { Old1: 'Old2' } }),
      states: { X: { on: { Go: () => undefined } } },
    });
    assert.deepEqual(Probe.versions.migrate(1, { type: 'Probe', id: 'p9', state: 'Old1', data: { n: 0 } }), { state: 'X', data: { n: 11 } });
    assert.deepEqual(seen, ['v1 Old1', 'v2 Old2 p9'], 'oldest step first, each with the state of its own version');
  });

  it('upcasts events of older versions by type, and leaves current ones and other types as they are', () => {
    const v = ParcelV2.versions;
    assert.deepEqual(v.upcast({ type: 'Scan', at: 'Oslo' } as never), { type: 'Scan', location: 'Oslo' });
    assert.deepEqual(v.upcast({ type: 'Scan', location: 'Bergen' } as never), { type: 'Scan', location: 'Bergen' });
    assert.deepEqual(v.upcast({ type: 'Lose' }), { type: 'Misplace' });
    assert.deepEqual(v.upcast({ type: 'Register', kg: 1.5 } as never), { type: 'Register', grams: 1_500 });
    const deliver = { type: 'Deliver' };
    assert.equal(v.upcast(deliver), deliver, 'a type without an upcaster is the same event');
    assert.deepEqual([...v.upcasts].sort(), ['Lose', 'Register', 'Scan']);
    assert.equal(ParcelV1.versions.oldest, 1, 'a definition without migrations migrates from nothing older');
    const Broken = defineMachine<object, { type: 'A' }>()({
      type: 'Broken',
      version: 2,
      initial: 'S',
      initialData: () => ({}),
      migrations: (current) => current.from<MachineVersion<object, 'S', { type: 'Z' }>>(1, {}).upcast({ Z: () => null as never }),
      states: { S: { on: { A: () => undefined } } },
    });
    assert.throws(() => Broken.versions.upcast({ type: 'Z' }), /the upcaster of Z returned null, not an event/);
  });

  it('refuses, naming the machine, a version that is not a positive integer and a chain that skips, repeats or overshoots a version', () => {
    const probe = (version: number, chain: (m: Untyped) => MigrationChain) =>
      defineMachine<{ n: number }, { type: 'Go' }>()({ type: 'Probe', version, initial: 'X', initialData: () => ({ n: 0 }), migrations: (m) => chain(m as unknown as Untyped), states: { X: { on: { Go: () => undefined } } } });
    assert.throws(() => probe(0, (m) => m), /machine Probe: version must be a positive integer \(got 0\)/);
    assert.throws(() => probe(1.5, (m) => m), /version must be a positive integer/);
    assert.throws(() => probe(3, (m) => m.from(1, {})), /machine Probe: .*expected the migration from v2 \(the machine is at v3\), got one from v1 \(v2 missing\)/);
    assert.throws(() => probe(4, (m) => m.from(3, {}).from(1, {})), /expected the migration from v2 \(the previous migration is from v3\), got one from v1 \(v2 missing\)/);
    assert.throws(() => probe(5, (m) => m.from(4, {}).from(1, {})), /got one from v1 \(v2-v3 missing\)/);
    assert.throws(() => probe(3, (m) => m.from(1, {}).from(2, {})), /expected the migration from v2 .*got one from v1/, 'oldest first is refused: the chain goes newest first');
    assert.throws(() => probe(2, (m) => m.from(1, {}).from(0, {})), /the migration from v0 is one too many/);
    assert.throws(() => probe(1, (m) => m.from(0, {})), /one too many/);
    assert.equal(probe(3, (m) => m.from(2, {}).from(1, {})).versions.oldest, 1);
  });

  it('refuses a migration whose target state the current version does not have, also through later renames', () => {
    const probe = (chain: (m: Untyped) => MigrationChain) =>
      defineMachine<{ n: number }, { type: 'Go' }>()({ type: 'Probe', version: 3, initial: 'X', initialData: () => ({ n: 0 }), migrations: (m) => chain(m as unknown as Untyped), states: { X: { on: { Go: () => undefined } }, Y: {} } });
    assert.throws(() => probe((m) => m.from(2, { states: { Old: 'Gone' } }).from(1, {})), /machine Probe: the migration from v2 maps state Old to Gone, which v3 does not have \(states: X, Y\)/);
    // v1's Lost becomes v2's Parked, which v2 -> v3 does not map and v3 does not have.
    assert.throws(() => probe((m) => m.from(2, {}).from(1, { states: { Lost: 'Parked' } })), /the migration from v1 maps state Lost to Parked, which becomes Parked in v3, a state it does not have: map Parked in a later migration/);
    // Mapped by the later step: fine.
    assert.equal(probe((m) => m.from(2, { states: { Parked: 'Y' } }).from(1, { states: { Lost: 'Parked' } })).versions.stateFrom(1, 'Lost'), 'Y');
  });
});

const now = new Date('2026-01-01T00:00:00Z');
const v1Parcel = (state: string, data: object = { kg: 2, scans: [] }) => ({ type: 'Parcel', id: 'p1', state, data, status: 'active' as const });
const envelope = (event: object, eventId = 'e1') => ({ eventId, event: event as RsmEvent, sender: undefined });

describe('migration with the next step (the shared planner)', () => {
  it('migrates a machine stored at an older version before its handler, and upcasts the event', async () => {
    const decision = await planStep(ParcelV2, v1Parcel('InTransit'), envelope({ type: 'Scan', at: 'Oslo' }), 0, now, 1);
    assert.equal(decision.kind, 'commit');
    if (decision.kind !== 'commit') return;
    assert.equal(decision.migratedFrom, 1);
    assert.equal(decision.from, 'Moving', 'the handler ran in the migrated state');
    assert.deepEqual(decision.event, { type: 'Scan', location: 'Oslo' }, 'the v1 payload reached the v2 handler upcast');
    assert.deepEqual(decision.machine.data, { grams: 2_000, scans: ['Oslo'], misplaced: false });
    assert.equal(decision.machine.state, 'Moving');
    const current = await planStep(ParcelV2, { ...v1Parcel('Moving', { grams: 1, scans: [], misplaced: false }) }, envelope({ type: 'Lose' }), 0, now);
    assert.ok(current.kind === 'commit' && current.migratedFrom === undefined && (current.machine.data as { misplaced: boolean }).misplaced, 'a renamed event of a current machine is upcast too');
  });

  it('leaves alone a machine stored at a newer version, one older than its migrations, and one in a state no migration maps', async () => {
    const newer = await planStep(ParcelV1, { ...v1Parcel('Moving', { grams: 1, scans: [], misplaced: false }) }, envelope({ type: 'Deliver' }), 0, now, 2);
    assert.deepEqual(newer.kind === 'defer' && [newer.reason, newer.detail], ['newer_version', 'Parcel/p1 is stored at v2; this process runs v1: a process running v2 or later steps it']);
    const FromV2Only = defineMachine<{ n: number }, { type: 'Go' }>()({
      type: 'Parcel',
      version: 3,
      initial: 'A',
      initialData: () => ({ n: 0 }),
      migrations: (m) => m.from<MachineVersion<{ n: number }, 'A', { type: 'Go' }>>(2, {}),
      states: { A: { on: { Go: () => undefined } } },
    });
    const old = await planStep(FromV2Only, v1Parcel('A', { n: 1 }), envelope({ type: 'Go' }), 0, now, 1);
    assert.deepEqual(old.kind === 'defer' && [old.reason, old.detail], ['no_migration', 'Parcel v1 has no migration: this process runs v3, which migrates from v2']);
    const unknown = await planStep(ParcelV2, v1Parcel('Lost', { grams: 1, scans: [], misplaced: false }), envelope({ type: 'Deliver' }), 0, now, 2);
    assert.deepEqual(unknown.kind === 'defer' && [unknown.reason, unknown.detail], ['no_migration', 'state Lost of Parcel v2 is not a state of v2 and no migration maps it']);
    const halted = await planStep(ParcelV2, { ...v1Parcel('Delivered'), status: 'halted' }, envelope({ type: 'Deliver' }), 0, now, 1);
    assert.equal(halted.kind, 'reject', 'a halted machine is not migrated: its events are refused as in any version');
  });

  it('counts a migration that throws as a failed attempt: retried with backoff, then dead-lettered under the failure policy', async () => {
    const Fragile = defineMachine<{ n: number }, { type: 'Go' }>()({
      type: 'Fragile',
      version: 2,
      initial: 'A',
      initialData: () => ({ n: 0 }),
      failure: { maxAttempts: 2, onExhausted: 'fault' },
      migrations: (m) => m.from<MachineVersion<{ old: number }, 'A', { type: 'Go' }>>(1, { data: () => { throw new Error('bad old data'); } }),
      states: { A: { on: { Go: () => undefined } } },
    });
    const machine = { type: 'Fragile', id: 'f', state: 'A', data: { old: 1 }, status: 'active' as const };
    const first = await planStep(Fragile, machine, envelope({ type: 'Go' }), 0, now, 1);
    assert.deepEqual(first.kind === 'retry' && [first.attempts, first.error], [1, 'migration from v1 failed: Error: bad old data']);
    const last = await planStep(Fragile, machine, envelope({ type: 'Go' }), 1, now, 1);
    assert.deepEqual(last.kind === 'give-up' && [last.fault, last.reason], [true, 'handler failed 2 times, last: migration from v1 failed: Error: bad old data']);
    const Unjson = defineMachine<{ n: unknown }, { type: 'Go' }>()({
      type: 'Unjson',
      version: 2,
      initial: 'A',
      initialData: () => ({ n: 0 }),
      migrations: (m) => m.from<MachineVersion<object, 'A', { type: 'Go' }>>(1, { data: () => ({ n: 1n }) }),
      states: { A: { on: { Go: () => undefined } } },
    });
    const bigint = await planStep(Unjson, { ...machine, type: 'Unjson' }, envelope({ type: 'Go' }), 0, now, 1);
    assert.ok(bigint.kind === 'retry' && bigint.error.startsWith('migration from v1 failed: TypeError'), 'migrated data must be JSON, as a handler\'s');
    // Data Postgres would refuse fails the migration of this machine, here, rather than the
    // statement that writes it (with every machine migrated at rest beside it).
    for (const [name, returned, reason] of [
      ['Surrogate', { label: 'a split emoji \ud83d' }, 'lone UTF-16 surrogate'],
      ['Nul', { label: 'a\u0000b' }, 'NUL character'],
      ['Nothing', undefined, 'it returned no data (undefined)'],
    ] as const) {
      const Bad = defineMachine<object, { type: 'Go' }>()({
        type: name,
        version: 2,
        initial: 'A',
        initialData: () => ({}),
        migrations: (m) => m.from<MachineVersion<object, 'A', { type: 'Go' }>>(1, { data: () => returned as object }),
        states: { A: { on: { Go: () => undefined } } },
      });
      const stored = { ...machine, type: name };
      const view = migrateMachine(Bad, stored, 1);
      assert.ok(view.kind === 'failed' && view.error.includes(reason), `${name}: ${JSON.stringify(view)}`);
      const step = await planStep(Bad, stored, envelope({ type: 'Go' }), 0, now, 1);
      assert.ok(step.kind === 'retry' && step.error.includes(reason), name);
    }
  });

  it('refuses an event whose upcaster throws, naming it', async () => {
    const Picky = defineMachine<object, { type: 'Go'; n: number }>()({
      type: 'Picky',
      initial: 'A',
      initialData: () => ({}),
      migrations: (m) => m.upcast({ Go: (e) => { if (typeof e.n !== 'number') throw new Error('no n'); return e; } }),
      states: { A: { on: { Go: () => undefined } } },
    });
    const decision = await planStep(Picky, { type: 'Picky', id: 'x', state: 'A', data: {}, status: 'active' }, envelope({ type: 'Go' }), 0, now);
    assert.deepEqual(decision, { kind: 'reject', reason: 'upcasting Go failed: Error: no n' });
  });

  it('writes the migrated machine at the running version with its first committed step, once per batch', async () => {
    const registry = new MachineRegistry('post', {});
    registry.register(ParcelV2);
    const planner = new StepPlanner(registry, 'post');
    const w = new BatchWrites();
    const result = emptyBatchResult();
    await planner.planMachine(w, result, v1Parcel('Lost', { kg: 3, scans: ['a'] }), [inbox(1, { type: 'Scan', at: 'Oslo' }), inbox(2, { type: 'Deliver' })], now, now.getTime(), 1);
    assert.deepEqual(w.machineUpdates.get('Parcel/p1'), { type: 'Parcel', id: 'p1', state: 'Delivered', data: { grams: 3_000, scans: ['a', 'Oslo'], misplaced: false }, status: 'active', steps: 2, definition_version: 2 });
    assert.deepEqual(w.consumed, ['1', '2']);
    assert.deepEqual(result.migrated, [{ type: 'Parcel', from: 1 }], 'migrated once, by the first step');
    assert.deepEqual(w.steps.map((s) => [s.event_type, s.from_state, s.to_state]), [['Scan', 'Moving', 'Moving'], ['Deliver', 'Moving', 'Delivered']]);
  });

  it('leaves the inbox of a machine stored at a newer version untouched, puts its callers\' events behind it and reports the deferral', async () => {
    const registry = new MachineRegistry('post', {});
    registry.register(ParcelV1);
    const planner = new StepPlanner(registry, 'post');
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const caller: IntakeItem = { kind: 'send', ref: { type: 'Parcel', id: 'p1' }, event: { type: 'Deliver' }, key: undefined, eventId: 'x:1', enqueuedAt: now.getTime(), cancelled: false, resolve: () => undefined, reject: () => undefined };
    await planner.planMachine(w, result, v1Parcel('Moving', { grams: 1, scans: [], misplaced: false }), [inbox(1, { type: 'Scan', location: 'Oslo' }), { source: 'intake', item: caller }], now, now.getTime(), 2);
    assert.equal(w.machineUpdates.size, 0, 'nothing written to the machine');
    assert.deepEqual(w.consumed, [], 'its inbox rows stay');
    assert.deepEqual(w.deadLetters, [], 'nothing dead-lettered');
    assert.deepEqual(w.inbox.map((row) => [row.machine_id, row.event.type]), [['p1', 'Deliver']], "the caller's event joins the inbox");
    assert.deepEqual(result.settled.map((s) => s.result), [{ status: 'accepted' }]);
    assert.deepEqual(result.deferred.map((d) => [d.key, d.type, d.reason]), [['Parcel/p1', 'Parcel', 'newer_version']]);
    assert.deepEqual(result.steps, [], 'no step counted');
  });
});

let inboxSeq = 0;
function inbox(seq: number, event: object): Pending {
  inboxSeq += 1;
  return {
    source: 'inbox',
    row: { seq: String(seq), type: 'Parcel', id: 'p1', event: event as RsmEvent, eventId: `e${inboxSeq}`, senderType: null, senderId: null, timerName: null, requestKey: null, attempts: 0, notBefore: null, createdAt: now },
  };
}

describe('versions in the TestRuntime', () => {
  it('migrates a machine seeded at an older version with its next step, and upcasts old events', async () => {
    const rt = new TestRuntime([ParcelV2]);
    rt.seed(ParcelV2.ref('p1'), { state: 'Lost', data: { kg: 1, scans: [] }, version: 1 });
    assert.equal(rt.get(ParcelV2.ref('p1'))?.version, 1);
    await rt.send(ParcelV1.ref('p1'), { type: 'Scan', at: 'Oslo' });
    assert.deepEqual(rt.get(ParcelV2.ref('p1')), { type: 'Parcel', id: 'p1', state: 'Moving', data: { grams: 1_000, scans: ['Oslo'], misplaced: false }, status: 'active', steps: 1, version: 2 });
    assert.deepEqual(rt.deadLetters, []);
  });

  it('keeps the events of a machine stored at a newer version until `upgrade`, then a timer of the old code is handled by the new', async () => {
    const rt = new TestRuntime([ParcelV1]);
    await rt.create(ParcelV1.ref('old'), { type: 'Register', kg: 2 });
    assert.equal(rt.stateOf(ParcelV1.ref('old')), 'InTransit');
    rt.seed(ParcelV1.ref('new'), { state: 'Moving', data: { grams: 5, scans: [], misplaced: false }, version: 2 });
    await rt.send(ParcelV1.ref('new'), { type: 'Deliver' });
    // Production's caller waits until its deadline: the same error, at once, saying why.
    await assert.rejects(rt.request(ParcelV1.ref('new'), { type: 'Deliver' }), (e) => e instanceof RequestTimeoutError && e.cause instanceof Error && /deferred: Parcel\/new is stored at v2; this process runs v1/.test(e.cause.message));
    assert.deepEqual(rt.trace.filter((t) => t.machine === 'Parcel/new').map((t) => t.outcome), ['deferred', 'deferred']);
    assert.equal(rt.get(ParcelV1.ref('new'))?.state, 'Moving', 'not stepped by v1');
    assert.deepEqual(rt.deadLetters, []);
    rt.upgrade(ParcelV2);
    await rt.runUntilIdle();
    assert.equal(rt.stateOf(ParcelV2.ref('new')), 'Delivered', 'the kept events are handled by v2');
    assert.deepEqual(rt.trace.filter((t) => t.machine === 'Parcel/new').map((t) => t.outcome), ['deferred', 'deferred', 'ok', 'rejected'], 'v2 handles the first Deliver and refuses the second (a request: refused to its caller, not dead-lettered)');
    await rt.advance(60_000);
    const old = rt.get(ParcelV2.ref('old'));
    assert.deepEqual([old?.state, old?.version, old?.data], ['Moving', 2, { grams: 2_000, scans: [], misplaced: true }], "v1's timer fired into v2's handler after the migration");
    assert.throws(() => rt.upgrade(ParcelV3, defineMachine<object, { type: 'A' }>()({ type: 'Nobody', initial: 'S', initialData: () => ({}), states: { S: {} } })), /test runtime owns no machine type Nobody/);
  });
});

describe('judging what is stored against a definition (start-up)', () => {
  const stored = (definitionVersion: number, state: string, count: number, status: StoredVersionCount['status'] = 'active'): StoredVersionCount => ({ type: 'Parcel', definitionVersion, state, status, count });
  const pending = (source: PendingEventCount['source'], eventTypes: string[], count: number): PendingEventCount => ({ type: 'Parcel', source, eventTypes, count });

  it('accepts what migrations and upcasters cover', () => {
    const problems = versionProblems(ParcelV2, [stored(1, 'Lost', 4), stored(1, 'InTransit', 2), stored(2, 'Moving', 9)], [pending('inbox', ['Lose'], 3), pending('inbox', ['Scan'], 1), pending('timers', ['Timeout'], 5)]);
    assert.deepEqual(problems, []);
  });

  it('names each state, version and event a definition cannot handle, with counts', () => {
    const problems = versionProblems(
      ParcelV1,
      [stored(1, 'Gone', 3), stored(1, 'Gone', 2, 'faulted'), stored(1, 'Lost', 7, 'halted'), stored(0, 'New', 1)],
      [pending('inbox', ['Explode'], 2), pending('reorder buffer', ['Explode'], 1), pending('activities', ['ActivityCompleted', 'ActivityFailed'], 4), pending('timers', ['Timeout'], 6), { ...pending('inbox', ['Nope'], 9), type: 'Other' }],
    );
    assert.deepEqual(problems.map((p) => p.message), [
      'Parcel v1: 5 machines in state Gone, which v1 does not have and no migration maps',
      'Parcel v1: 1 machine stored at v0, which v1 cannot migrate (its migrations start at v1)',
      'Parcel v1: 2 pending Explode events (inbox), which no state of v1 accepts and no upcaster converts',
      'Parcel v1: 1 pending Explode event (reorder buffer), which no state of v1 accepts and no upcaster converts',
      'Parcel v1: 4 pending ActivityCompleted or ActivityFailed events (activities), which no state of v1 accepts and no upcaster converts',
    ]);
    assert.deepEqual(problems.map((p) => [p.kind, p.subject, p.count]).slice(0, 2), [['state', 'Gone', 5], ['version', 'v0', 1]]);
  });

  it('judges stored states through the migrations, and leaves machines stored at newer versions (and, then, events) to newer processes', () => {
    assert.deepEqual(versionProblems(ParcelV3, [stored(2, 'Delivered', 1), stored(1, 'Lost', 1), stored(3, 'Delivered', 2)], []).map((p) => p.message), [
      'Parcel v3: 2 machines in state Delivered, which v3 does not have and no migration maps',
    ]);
    // The old side of a rolling deploy: v2 machines exist, so v2 events this code does not know are expected.
    assert.deepEqual(versionProblems(ParcelV1, [stored(2, 'Moving', 3), stored(1, 'InTransit', 1)], [pending('inbox', ['Misplace'], 2)]), []);
  });

  it('refuses at start-up with an error that names every problem', () => {
    const error = new RsmUnsafeVersionError(versionProblems(ParcelV1, [stored(1, 'Gone', 3)], []));
    assert.ok(error instanceof RsmStartupError);
    assert.match(error.message, /cannot handle what is stored.*\n {2}Parcel v1: 3 machines in state Gone/);
  });
});

describe('a rolling upgrade in the simulator', () => {
  type Weighed = { kg?: number; grams?: number };
  /** Four parcels of 2 kg, half of their clients still sending v1 events, while v1 and v2 processes run side by side. */
  const upgradeWorld = (v2: AnyMachineDefinition): SimulationSetup => ({
    machines: [v2],
    upgrade: { from: [ParcelV1], overlapSteps: 40 },
    init: (env) => {
      for (let i = 1; i <= 4; i += 1) {
        const ref = ParcelV1.ref(`p${i}`);
        env.create(ref, { type: 'Register', kg: 2 });
        const scan = i % 2 === 1 ? { type: 'Scan', at: `hub-${i}` } : { type: 'Scan', location: `hub-${i}` };
        const lost = (machines: ReadonlyMap<string, SimMachine>) => machines.get(`Parcel/p${i}`)?.state === 'Lost';
        env.script(`client-${i}`, [{ to: ref, event: scan }, { to: ref, event: { type: 'Deliver' }, skipIf: lost }]);
      }
    },
    monitors: [
      {
        name: 'weights survive the upgrade',
        safety: (w) => {
          for (const p of w.ofType('Parcel')) {
            if (p.state === 'New') continue;
            const data = p.data as Weighed;
            if (p.version === 1 && data.kg !== 2) return `${p.id} at v1 weighs ${String(data.kg)} kg`;
            if (p.version === 2 && (data.grams !== 2_000 || 'kg' in data)) return `${p.id} at v2 weighs ${String(data.grams)} g${'kg' in data ? ' and still has kg' : ''}`;
          }
          return undefined;
        },
      },
      {
        name: 'a machine at v2 is in a v2 state and never goes back to v1',
        safety: (() => {
          const seen = new WeakMap<SimMachine, number>();
          return (w: WorldView) => {
            for (const p of w.ofType('Parcel')) {
              if ((seen.get(p) ?? 0) > p.version) return `${p.id} went back from v${String(seen.get(p))} to v${p.version}`;
              seen.set(p, p.version);
              if (p.version === 2 && !(ParcelV2.states as readonly string[]).includes(p.state)) return `${p.id} is at v2 in state ${p.state}`;
            }
            return undefined;
          };
        })(),
      },
      {
        name: 'every parcel is delivered (or, under v1 only, lost)',
        liveness: (w) => {
          for (const p of w.ofType('Parcel')) if (p.state !== 'Delivered' && !(p.state === 'Lost' && p.version === 1)) return `${p.id} ends ${p.state} at v${p.version}`;
          return undefined;
        },
      },
    ],
  });

  it('keeps every invariant while v1 and v2 processes run side by side, v1 never stepping a v2 machine', async () => {
    const report = await assertExplore(upgradeWorld(ParcelV2), { runs: 300, seed: 1 });
    assert.equal(report.runs, 300);
    let deferred = 0;
    let migrated = 0;
    let createdOld = 0;
    for (let seed = 1; seed <= 30; seed += 1) {
      const run = await simulate(upgradeWorld(ParcelV2), seed, { runs: 1 });
      deferred += run.trace.filter((t) => t.outcome === 'deferred' && t.version === 1).length;
      migrated += run.trace.filter((t) => t.effects.includes('migrated from v1')).length;
      createdOld += run.trace.some((t) => t.outcome === 'ok' && t.version === 1 && t.from === 'New') ? 1 : 0;
      const atV2 = new Set<string>();
      for (const t of run.trace) {
        if (t.outcome !== 'ok' || t.version === undefined) continue;
        if (t.version === 2) atV2.add(t.machine);
        else assert.ok(!atV2.has(t.machine), `seed ${seed}: v1 stepped ${t.machine} after v2 did\n${formatTrace(run.trace)}`);
      }
    }
    assert.ok(deferred > 0, 'v1 processes met v2 machines and left them alone');
    assert.ok(migrated > 0, 'v2 processes migrated v1 machines');
    assert.ok(createdOld > 0, 'some machines were created and stepped by v1 processes');
  });

  it('catches a migration that loses information', async () => {
    const Forgetful = defineMachine<ParcelV2Data, ParcelV2Events>()({
      ...ParcelV2.spec,
      migrations: (current) =>
        current
          .from<VersionOf<typeof ParcelV1>>(1, { data: (old) => ({ grams: old.kg, scans: old.scans, misplaced: false }), states: { InTransit: 'Moving', Lost: 'Moving' } })
          .upcast({ Register: (e) => ('kg' in e ? { type: 'Register', grams: e.kg * 1_000 } : e), Scan: (e) => ('at' in e ? { type: 'Scan', location: e.at } : e), Lose: () => ({ type: 'Misplace' }) }),
    });
    const report = await explore(upgradeWorld(Forgetful), { runs: 300, seed: 1 });
    const failure = report.failures[0];
    assert.ok(failure !== undefined, 'a v2 that reads kilograms as grams must be caught');
    assert.match(failure.failure ?? '', /weights survive the upgrade": p\d at v2 weighs 2 g/);
    assert.match(describeFailure(failure), /migrated from v1/);
  });
});
