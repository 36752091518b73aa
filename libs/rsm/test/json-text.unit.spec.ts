import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine, type RsmEvent } from '#rsm';
import { copyJson, jsonText, rememberJson } from '../src/definition/json-text.js';
import { planStep } from '../src/planning/step-planner.js';

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
});
