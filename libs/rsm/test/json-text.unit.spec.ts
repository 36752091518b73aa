import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, type MachineVersion, type RsmEvent } from '#rsm';
import { copyJson, jsonText, parseJson, rememberedJson, rememberJson, storableText, unstorableReason } from '../src/definition/json-text.js';
import { MachineRegistry } from '../src/planning/machine-registry.js';
import { BatchWrites, emptyBatchResult, planStep, StepPlanner, type Pending } from '../src/planning/step-planner.js';

describe('committed data is serialized once', () => {
  it('copies from the remembered text, and writes it, instead of serializing again', () => {
    const data = { a: 1 };
    rememberJson(data, '{"a":2}');
    assert.deepEqual(copyJson(data), { a: 2 }, 'the copy comes from the text');
    assert.equal(jsonText(data), '{"a":2}');
    const plain = { b: [1, { c: 'x' }] };
    const copy = copyJson(plain);
    assert.deepEqual(copy, plain);
    assert.notEqual(copy.b, plain.b, 'a deep copy');
    assert.equal(jsonText(plain), JSON.stringify(plain));
    assert.equal(jsonText(undefined), 'null');
  });

  it('a handler works on its own copy of the committed data, across several steps', async () => {
    const Tally = defineMachine<{ items: number[] }, { type: 'Add'; n: number }>()({
      type: 'Tally',
      initial: 'Open',
      initialData: () => ({ items: [] }),
      states: { Open: { on: { Add: (data, event) => void data.items.push(event.n) } } },
    });
    let machine = { type: 'Tally', id: 't', state: 'Open', data: { items: [] } as unknown, status: 'active' as const };
    const seen: unknown[] = [];
    for (const n of [1, 2, 3]) {
      const event: RsmEvent = { type: 'Add', n } as RsmEvent;
      const decision = await planStep(Tally, machine, { event, eventId: `e${n}`, sender: undefined }, 0, new Date());
      assert.equal(decision.kind, 'commit');
      if (decision.kind !== 'commit') return;
      seen.push(machine.data);
      machine = { ...machine, ...decision.machine, status: 'active' };
      assert.equal(jsonText(machine.data), JSON.stringify(machine.data), 'the remembered text is the committed data');
    }
    assert.deepEqual(machine.data, { items: [1, 2, 3] });
    assert.deepEqual(seen, [{ items: [] }, { items: [1] }, { items: [1, 2] }], 'no step changed the data an earlier step committed');
  });

  it('a migration that changes its input in place still hands the handler the migrated data, not the stored text', async () => {
    type V1 = MachineVersion<{ n: number }, 'Open', { type: 'Add' }>;
    const Counter2 = defineMachine<{ n: number; doubled: boolean }, { type: 'Add' }>()({
      type: 'Counter2',
      version: 2,
      migrations: (current) =>
        current.from<V1>(1, {
          data: (old) => {
            const changed = old as { n: number; doubled?: boolean };
            changed.n *= 2;
            changed.doubled = true;
            return changed as { n: number; doubled: boolean };
          },
        }),
      initial: 'Open',
      initialData: () => ({ n: 0, doubled: false }),
      states: { Open: { on: { Add: (data) => void (data.n += 1) } } },
    });
    const stored = { n: 5 };
    rememberJson(stored, JSON.stringify(stored)); // as if an earlier step (at v1) committed it
    const decision = await planStep(Counter2, { type: 'Counter2', id: 'c', state: 'Open', data: stored, status: 'active' }, { event: { type: 'Add' }, eventId: 'e1', sender: undefined }, 0, new Date(), 1);
    assert.equal(decision.kind, 'commit');
    if (decision.kind === 'commit') assert.deepEqual(decision.machine.data, { n: 11, doubled: true });
  });

  it('a transaction changes data read from its row in place, and no later step changes what an earlier one sent, nor a failed one the data', async () => {
    const Log = defineMachine<{ items: string[] }, { type: 'Add'; item: string; fail?: boolean }>()({
      type: 'Log',
      initial: 'Open',
      initialData: () => ({ items: [] }),
      failure: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, onExhausted: 'dead-letter' },
      states: {
        Open: {
          on: {
            Add: (data, event, ctx) => {
              data.items.push(event.item);
              if (event.fail === true) throw new Error('refused after changing the data');
              // The event and the reply hold the data's own array: later steps must not change them.
              ctx.send({ type: 'Audit', id: 'a' }, { type: 'Seen', items: data.items });
            },
          },
        },
      },
    });
    const registry = new MachineRegistry('logs', { Audit: 'audit' });
    registry.register(Log);
    const planner = new StepPlanner(registry, 'logs');
    const text = '{"items": ["x"]}';
    const data = parseJson(text);
    const start = { type: 'Log', id: 'l', state: 'Open', data, status: 'active' as const };
    const now = new Date();
    const pending: Pending[] = ['a', 'b', 'c'].map((item, i) => ({
      source: 'inbox',
      row: { seq: String(i + 1), type: 'Log', id: 'l', event: { type: 'Add', item, ...(item === 'b' ? { fail: true } : {}) }, eventId: `e${i}`, senderType: null, senderId: null, timerName: null, requestKey: null, attempts: 0, notBefore: null, createdAt: now },
    }));
    const w = new BatchWrites();
    const result = emptyBatchResult();
    await planner.planMachine(w, result, start, pending, now, now.getTime());
    assert.deepEqual(w.remote.map((r) => (r.event as unknown as { items: string[] }).items), [['x', 'a'], ['x', 'a', 'c']], 'each event as its step sent it');
    assert.equal(w.deadLetters.length, 1, 'the failing step was dead-lettered');
    const written = w.machineUpdates.get('Log/l')?.data;
    assert.deepEqual(written, { items: ['x', 'a', 'c'] }, "the failed step's change is gone");
    assert.equal(jsonText(written), JSON.stringify({ items: ['x', 'a', 'c'] }), 'and the text written is the data');
    assert.equal(rememberedJson(data), undefined, 'the object the failed step changed has no text any more');
  });
});

describe('text Postgres can store', () => {
  it('finds a NUL or a lone surrogate where JSON.stringify would write it, and only there', () => {
    assert.equal(unstorableReason({ a: ['ok', { b: 'fine \ud83d\ude00' }], n: 1, t: null }), undefined, 'a surrogate pair is fine');
    assert.match(unstorableReason({ a: [{ b: 'x\u0000' }] }) ?? '', /NUL/);
    assert.match(unstorableReason({ ['\udc00']: 1 }) ?? '', /lone UTF-16 surrogate/, 'in a key too');
    assert.match(unstorableReason('\ud800x') ?? '', /surrogate/);
    // Keys of what JSON leaves out are not written; toJSON is called once, as JSON.stringify does.
    assert.equal(unstorableReason({ ['\u0000']: undefined, f: () => 1 }), undefined);
    assert.match(unstorableReason({ when: { toJSON: () => 'a\u0000' } }) ?? '', /NUL/);
    let calls = 0;
    const endless = (): object => ({ toJSON: () => ((calls += 1), endless()) });
    assert.equal(unstorableReason({ x: endless() }), undefined, 'what toJSON returns is not converted again');
    assert.equal(calls, 1);
  });

  it('cuts and cleans an error text', () => {
    assert.equal(storableText('a\u0000b\ud800', 100), 'a\ufffdb\ufffd');
    assert.equal(storableText('x'.repeat(10), 4), 'xxxx... (6 more characters)');
  });
});
