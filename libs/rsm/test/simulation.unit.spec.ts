import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine } from '#rsm';
import { assertExplore, explore, simulate, type SimulationSetup } from '#rsm/testing';
import { Receiver, Sender, recordActivity, type SenderData } from './fixtures/machines.js';

/** Two senders pinging three receivers, with the crash tests' own checks as monitors. */
const pings: SimulationSetup = {
  machines: [Sender, Receiver],
  activities: { record: (input) => recordActivity.run(input as { sender: string; i: number }) as never },
  init: (env) => {
    for (const id of ['r1', 'r2', 'r3']) env.create(Receiver.ref(id), { type: 'Hello' });
    for (const id of ['s1', 's2']) env.create(Sender.ref(id), { type: 'Start', receivers: ['r1', 'r2', 'r3'], count: 12, receiverType: 'Receiver' });
  },
  monitors: [
    {
      name: 'FIFO and exactly once per pair',
      safety: (w) => {
        for (const r of w.ofType('Receiver')) {
          const data = r.data as { violations: string[] };
          if (data.violations.length > 0) return `${r.id}: ${data.violations[0]}`;
        }
        return undefined;
      },
      liveness: (w) => {
        const received = w.ofType('Receiver').reduce((n, r) => n + (r.data as { count: number }).count, 0);
        if (received !== 24) return `received ${received} pings, expected 24`;
        for (const s of w.ofType('Sender')) {
          const data = s.data as SenderData;
          if (data.violations.length > 0) return `${s.id}: ${data.violations[0]}`;
          for (let i = 0; i < data.count; i += 5) if (data.fired[`once-${i}`] !== 1) return `${s.id}: once-${i} fired ${data.fired[`once-${i}`] ?? 0} times`;
        }
        return undefined;
      },
    },
  ],
};

/** A machine that waits for an answer nobody sends: the explorer must report it stuck. */
const Waiter = defineMachine<object, { type: 'Ask' } | { type: 'Answer' }>()({
  type: 'Waiter',
  initial: 'Idle',
  initialData: () => ({}),
  states: { Idle: { on: { Ask: (_d, _e, ctx) => ctx.goto('Waiting') }, targets: { Ask: 'Waiting' } }, Waiting: { on: { Answer: (_d, _e, ctx) => ctx.goto('Done') }, targets: { Answer: 'Done' } }, Done: {} },
});

describe('systematic testing simulator', () => {
  it('keeps exactly-once FIFO delivery, timers and activities through crashes and duplicates', async () => {
    const report = await assertExplore(pings, { runs: 300, seed: 7, crashProbability: 0.2, duplicateProbability: 0.3 });
    assert.equal(report.runs, 300);
  });

  it('replays the same run from the same seed, and a different one from another seed', async () => {
    const a = await simulate(pings, 99, { runs: 1 });
    const b = await simulate(pings, 99, { runs: 1 });
    const c = await simulate(pings, 100, { runs: 1 });
    assert.deepEqual(b.trace, a.trace);
    assert.notDeepEqual(c.trace, a.trace);
    assert.ok(a.trace.some((t) => t.outcome === 'crashed') || c.trace.some((t) => t.outcome === 'crashed'));
  });

  it('drops injected duplicates by their pair sequence', async () => {
    const run = await simulate(pings, 3, { runs: 1, duplicateProbability: 0.5 });
    assert.equal(run.failure, undefined);
    assert.ok(run.trace.some((t) => t.outcome === 'duplicate-dropped'), 'duplicates were injected and dropped');
  });

  it('reports a run that ends with work stuck, with a trace and its seed', async () => {
    const stuck: SimulationSetup = {
      machines: [Waiter],
      init: (env) => env.create(Waiter.ref('w'), { type: 'Ask' }),
      monitors: [{ name: 'every waiter gets its answer', liveness: (w) => (w.get('Waiter', 'w')?.state === 'Done' ? undefined : `w is ${w.get('Waiter', 'w')?.state}`) }],
    };
    const report = await explore(stuck, { runs: 5, seed: 1 });
    assert.equal(report.runsToFirstFailure, 1);
    assert.match(report.failures[0]?.failure ?? '', /every waiter gets its answer": w is Waiting \(nothing left to do: work is stuck\)/);
    await assert.rejects(assertExplore(stuck, { runs: 1, seed: 5 }), /replay with seed 5[\s\S]*Waiter\/w \{"type":"Ask"\} \[Idle -> Waiting\]/);
  });
});
