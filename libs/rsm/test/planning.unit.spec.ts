// The step planner decides a whole step transaction in memory: these tests run it without Postgres,
// on snapshots and intake items, and check the rows it would write and the outcome it reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, MachineNotFoundError, RequestRejectedError, type MachineVersion } from '#rsm';
import type { IntakeItem, IntakeResult } from '../src/planning/intake.js';
import { MachineRegistry } from '../src/planning/machine-registry.js';
import type { Effect } from '../src/definition/effects.js';
import { BatchWrites, emptyBatchResult, planStep, STEP_SENDS_KEPT, stepSends, StepPlanner, type InboxEvent, type Pending } from '../src/planning/step-planner.js';
import { migrateMachine } from '../src/planning/versioning.js';

type DoorEvents = { type: 'Open' } | { type: 'Knock'; who: string } | { type: 'Shout' } | { type: 'Lock' } | { type: 'Tick' } | { type: 'Weird' } | { type: 'Timeout'; name: string };

const Door = defineMachine<{ knocks: string[]; weird?: unknown }, DoorEvents>()({
  type: 'Door',
  initial: 'Closed',
  initialData: () => ({ knocks: [] }),
  failure: { maxAttempts: 2, initialBackoffMs: 1_000, maxBackoffMs: 1_000, onExhausted: 'fault' },
  states: {
    Closed: {
      on: {
        Open: (_data, _event, ctx) => ctx.goto('Opened'),
        Knock: (data, event, ctx) => {
          data.knocks.push(event.who);
          ctx.send({ type: 'Bell', id: 'b1' }, { type: 'Ring' });
          ctx.send({ type: 'Porch', id: 'p1' }, { type: 'Light' });
          ctx.send({ type: 'Nowhere', id: 'x' }, { type: 'Lost' });
          ctx.reply(data.knocks.length);
        },
        Shout: () => {
          throw new Error('too loud');
        },
        Lock: (_data, _event, ctx) => ctx.cancelTimer('auto'),
        Tick: (_data, _event, ctx) => ctx.startTimer('auto', 5_000),
        Weird: (data) => {
          data.weird = 10n;
        },
        Timeout: () => undefined,
      },
      targets: { Open: 'Opened' },
    },
    Opened: {},
  },
});

const Bell = defineMachine<object, { type: 'Ring' }>()({ type: 'Bell', initial: 'Idle', initialData: () => ({}), states: { Idle: { on: { Ring: () => undefined } } } });

function planner(): StepPlanner {
  const registry = new MachineRegistry('house', { Porch: 'garden' });
  registry.register(Door);
  registry.register(Bell);
  return new StepPlanner(registry, 'house');
}

const door = { type: 'Door', id: 'd1', state: 'Closed', data: { knocks: [] }, status: 'active' as const };
const now = new Date('2026-01-01T00:00:00Z');

let seq = 0;
function inboxRow(event: DoorEvents, extra: Partial<InboxEvent> = {}): Pending {
  seq += 1;
  return {
    source: 'inbox',
    row: { seq: String(seq), type: 'Door', id: 'd1', event, eventId: `e${seq}`, senderType: null, senderId: null, timerName: null, requestKey: null, attempts: 0, notBefore: null, createdAt: now, ...extra },
  };
}

function intake(kind: IntakeItem['kind'], event: DoorEvents, key?: string): IntakeItem & { outcome: () => IntakeResult | Error | undefined } {
  let outcome: IntakeResult | Error | undefined;
  return {
    kind,
    ref: { type: 'Door', id: 'd1' },
    event,
    key,
    eventId: `${kind === 'request' ? 'q' : 'x'}:${event.type}`,
    enqueuedAt: now.getTime(),
    cancelled: false,
    resolve: (result) => (outcome = result),
    reject: (error) => (outcome = error),
    outcome: () => outcome,
  };
}

describe('step planner', () => {
  it('routes effects: local sends to the inbox, remote ones to the outbox, unknown types to dead letters', async () => {
    const w = new BatchWrites();
    const result = emptyBatchResult();
    await planner().planMachine(w, result, door, [inboxRow({ type: 'Knock', who: 'ann' })], now, now.getTime());
    assert.deepEqual(w.consumed, [String(seq)]);
    assert.deepEqual(w.machineUpdates.get('Door/d1'), { type: 'Door', id: 'd1', state: 'Closed', data: { knocks: ['ann'] }, status: 'active', steps: 1, definition_version: 1 });
    assert.deepEqual(w.inbox.map((row) => [row.machine_type, row.machine_id, row.event.type, row.sender_id]), [['Bell', 'b1', 'Ring', 'd1']]);
    assert.ok(result.wake.has('Bell/b1'));
    assert.deepEqual(w.remote.map((m) => [m.destination, m.to.type, m.event.type]), [['garden', 'Porch', 'Light']]);
    assert.equal(w.deadLetters.length, 1);
    assert.match(w.deadLetters[0]?.reason ?? '', /no route to machine type Nowhere/);
    assert.equal(result.deadLetters, 1);
    assert.deepEqual(w.steps.map((s) => [s.event_type, s.from_state, s.to_state, s.effects]), [['Knock', 'Closed', 'Closed', 4]]);
    // The step history keeps where each event went, also the unroutable one; the reply is no send.
    assert.deepEqual(w.steps[0]?.sends, [
      { kind: 'send', type: 'Bell', id: 'b1', event: 'Ring' },
      { kind: 'send', type: 'Porch', id: 'p1', event: 'Light' },
      { kind: 'send', type: 'Nowhere', id: 'x', event: 'Lost' },
    ]);
  });

  it('routes no type named like a property every object has, and migrates a state so named', () => {
    const registry = new MachineRegistry('house', { Porch: 'garden' });
    for (const type of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) assert.equal(registry.serviceOf(type), undefined, type);
    assert.equal(registry.serviceOf('Porch'), 'garden');
    const Odd = defineMachine<object, { type: 'Go' }>()({
      type: 'Odd',
      version: 2,
      initial: 'toString',
      initialData: () => ({}),
      migrations: (m) => m.from<MachineVersion<object, 'toString', { type: 'Go' }>>(1, { data: (old) => old }),
      states: { toString: { on: { Go: () => undefined } } },
    });
    const view = migrateMachine(Odd, { type: 'Odd', id: 'o', state: 'toString', data: {}, status: 'active' }, 1);
    assert.equal(view.kind === 'migrated' && view.machine.state, 'toString');
  });

  it('keeps a bounded summary of a step\'s sends: the first ten, creates marked, no payload, long names cut', () => {
    const open = { type: 'Open', secret: 'payload' };
    const effects: Effect[] = [
      { kind: 'startTimer', name: 't', delayMs: 1, periodMs: null, payload: null },
      { kind: 'create', to: { type: 'Log', id: 'l1' }, event: open },
      ...Array.from({ length: 12 }, (_, i): Effect => ({ kind: 'send', to: { type: 'Log', id: `l${i}` }, event: { type: 'Add' } })),
      { kind: 'send', to: { type: 'T'.repeat(300), id: 'x' }, event: { type: 'E'.repeat(300) } },
    ];
    const sends = stepSends(effects);
    assert.equal(STEP_SENDS_KEPT, 10);
    assert.equal(sends.length, STEP_SENDS_KEPT);
    assert.deepEqual(sends[0], { kind: 'create', type: 'Log', id: 'l1', event: 'Open' });
    assert.deepEqual(sends[9], { kind: 'send', type: 'Log', id: 'l8', event: 'Add' });
    const long = stepSends(effects.slice(-1))[0];
    assert.deepEqual([long?.type.length, long?.event.length], [200, 200]);
  });

  it('answers a caller in this process with the reply, and one elsewhere through the requests table', async () => {
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const local = intake('request', { type: 'Knock', who: 'bob' }, 'k-local');
    await planner().planMachine(w, result, door, [inboxRow({ type: 'Knock', who: 'ann' }, { eventId: 'q:remote', requestKey: 'k-remote' }), { source: 'intake', item: local }], now, now.getTime());
    assert.deepEqual(result.replies, [{ key: 'k-remote', ok: true, value: 1 }]);
    assert.deepEqual(result.settled.map((s) => s.result), [{ status: 'handled', reply: 2 }]);
    assert.deepEqual(w.requestUpdates.map((u) => [u.key, u.status, u.reply]), [['k-remote', 'done', 1], ['k-local', 'done', 2]]);
  });

  it('refuses a request a state does not accept without a dead letter, and dead-letters a one-way event', async () => {
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const opened = { ...door, state: 'Opened' };
    const asked = intake('request', { type: 'Knock', who: 'c' });
    await planner().planMachine(w, result, opened, [{ source: 'intake', item: asked }, inboxRow({ type: 'Knock', who: 'd' })], now, now.getTime());
    assert.ok(result.settled[0]?.error instanceof RequestRejectedError);
    assert.equal(w.deadLetters.length, 1, 'only the one-way event is dead-lettered');
    assert.match(w.deadLetters[0]?.reason ?? '', /does not accept Knock/);
    assert.equal(w.machineUpdates.size, 0, 'nothing committed, so the row is not rewritten');
  });

  it('retries a failing handler with backoff, holds back what follows, then gives up and faults the machine', async () => {
    const p = planner();
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const later = intake('send', { type: 'Open' });
    await p.planMachine(w, result, door, [inboxRow({ type: 'Shout' }), { source: 'intake', item: later }], now, now.getTime());
    assert.deepEqual(w.retries.map((r) => [r.attempts, r.not_before, r.last_error]), [[1, '2026-01-01T00:00:01.000Z', 'Error: too loud']]);
    assert.equal(result.retryAt.get('Door/d1'), now.getTime() + 1_000);
    assert.deepEqual(w.inbox.map((row) => row.event.type), ['Open'], 'the event behind it waits in the inbox, in order');
    assert.deepEqual(result.settled.map((s) => s.result?.status), ['accepted']);

    const w2 = new BatchWrites();
    const result2 = emptyBatchResult();
    await p.planMachine(w2, result2, door, [inboxRow({ type: 'Shout' }, { attempts: 1 }), inboxRow({ type: 'Open' })], now, now.getTime());
    assert.equal(w2.deadLetters.length, 1);
    assert.match(w2.deadLetters[0]?.reason ?? '', /handler failed 2 times, last: Error: too loud/);
    assert.equal(w2.machineUpdates.get('Door/d1')?.status, 'faulted');
    assert.equal(w2.consumed.length, 1, 'the event after the fault stays in the inbox for a redrive');
  });

  it('holds an event whose backoff has not passed, and everything behind it', async () => {
    const w = new BatchWrites();
    const result = emptyBatchResult();
    await planner().planMachine(w, result, door, [inboxRow({ type: 'Open' }, { notBefore: new Date(now.getTime() + 500) }), inboxRow({ type: 'Open' })], now, now.getTime());
    assert.deepEqual(w.consumed, []);
    assert.equal(result.retryAt.get('Door/d1'), now.getTime() + 500);
  });

  it('never delivers a timeout fired before a step of the same batch cancelled its timer', async () => {
    const w = new BatchWrites();
    const result = emptyBatchResult();
    const fired = inboxRow({ type: 'Timeout', name: 'auto' }, { timerName: 'auto' });
    await planner().planMachine(w, result, door, [inboxRow({ type: 'Lock' }), fired], now, now.getTime());
    assert.deepEqual(w.consumed.length, 2, 'the fired timeout is consumed');
    assert.deepEqual(w.steps.map((s) => s.event_type), ['Lock'], 'but never handled');
    assert.deepEqual([...w.timers.values()].map((t) => [t.name, t.start]), [['auto', null]]);
  });

  it('fails a step whose data is not JSON, as a handler error', async () => {
    const decision = await planStep(Door, door, { eventId: 'e', event: { type: 'Weird' }, sender: undefined }, 0, now);
    assert.equal(decision.kind, 'retry');
    assert.match(decision.kind === 'retry' ? decision.error : '', /state is not JSON/);
  });

  it('sorts callers: a missing machine, an existing creation, and a repeated idempotency key', () => {
    const p = planner();
    const result = emptyBatchResult();
    const lost = { ...intake('send', { type: 'Open' }), ref: { type: 'Door', id: 'gone' } };
    const again = { ...intake('create', { type: 'Open' }) };
    const first = intake('send', { type: 'Knock', who: 'a' }, 'same');
    const second = intake('send', { type: 'Knock', who: 'b' }, 'same');
    const found = { createdByCaller: new Set<string>(), creators: new Set<IntakeItem>(), locked: new Map([['Door/d1', door]]), existing: new Set<string>() };
    const { live, keyed } = p.sortIntake(new Map([['Door/gone', [lost]], ['Door/d1', [again, first, second]]]), found, result);
    assert.ok(result.settled.find((s) => s.item === lost)?.error instanceof MachineNotFoundError);
    assert.deepEqual(result.settled.find((s) => s.item === again)?.result, { status: 'exists' });
    assert.deepEqual(keyed, [first, second]);
    p.dropDuplicateKeys(keyed, new Set(['same']), live, result);
    assert.deepEqual(live.get('Door/d1'), [first], 'the second caller with the same key changes nothing');
    assert.deepEqual(result.settled.find((s) => s.item === second), { item: second, result: { status: 'duplicate' }, duplicateOf: 'same' });
  });
});
