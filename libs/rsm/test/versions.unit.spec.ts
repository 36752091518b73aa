// Versioned machines without Postgres: the declaration (chains, upcasters, what defineMachine refuses).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, type MachineVersion, type MigrationChain } from '#rsm';
import { ParcelV1, ParcelV2, ParcelV3 } from './fixtures/parcels.js';

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

