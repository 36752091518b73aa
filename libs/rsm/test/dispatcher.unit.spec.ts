import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RsmLogger } from '../src/core/logger.js';
import type { IntakeItem } from '../src/planning/intake.js';
import { emptyBatchResult, type BatchResult } from '../src/planning/step-planner.js';
import type { BatchExecutor } from '../src/runtime/batch-executor.js';
import { Dispatcher, MAX_HOT } from '../src/runtime/dispatcher.js';

const quiet: RsmLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/** A dispatcher whose transactions are held open until the test ends them, and a record of each. */
function dispatcher(hotEvents = 8, concurrency = 4, runs?: (type: string) => boolean) {
  const batches: { keys: string[]; finish: (result?: BatchResult) => void }[] = [];
  const executor = {
    run: (keys: readonly string[], _intake: ReadonlyMap<string, readonly IntakeItem[]>) =>
      new Promise<BatchResult>((resolve) => batches.push({ keys: [...keys], finish: (result = emptyBatchResult()) => resolve(result) })),
  } as unknown as BatchExecutor;
  const d = new Dispatcher(executor, { maxMachines: 64, concurrency, hotEvents, handle: true, ...(runs !== undefined ? { runs } : {}) }, quiet, () => undefined, () => undefined);
  return { d, batches };
}

function handled(counts: Record<string, number>, more: string[] = []): BatchResult {
  const result = emptyBatchResult();
  for (const [key, n] of Object.entries(counts)) result.handled.set(key, n);
  for (const key of more) result.more.add(key);
  return result;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Dispatcher: machines of types this process does not run', () => {
  it('leaves them to the processes that run them (a newer release rolling out) instead of stepping them', async () => {
    const { d, batches } = dispatcher(8, 1, (type) => type !== 'Future');
    d.notify('Future/1');
    d.notify('Counter/1');
    d.notify('Future/2');
    await settle();
    batches.at(-1)?.finish();
    await settle();
    assert.deepEqual(batches.map((b) => b.keys), [['Counter/1']]);
  });
});

describe('Dispatcher: a hot machine is stepped in transactions of its own', () => {
  it('steps machines together until one handles hotEvents in a step, then that one alone, until it is quiet', async () => {
    // One transaction at a time: while one runs, the next ones' machines gather.
    const { d, batches } = dispatcher(8, 1);
    const run = async (result?: BatchResult) => {
      batches.at(-1)?.finish(result);
      await settle();
    };
    d.notify('Z/1');
    d.notify('A/1');
    d.notify('B/1');
    await run();
    assert.deepEqual(batches.map((b) => b.keys), [['Z/1'], ['A/1', 'B/1']], 'cold machines share a transaction');
    d.notify('B/1');
    d.notify('C/1');
    d.notify('A/1');
    await run(handled({ 'A/1': 8, 'B/1': 7 }));
    assert.equal(d.isHot('A/1'), true);
    assert.equal(d.isHot('B/1'), false, 'below the threshold');
    assert.deepEqual(batches[2]?.keys, ['A/1'], 'the hot one first, and alone');
    await run(handled({ 'A/1': 3 }));
    assert.deepEqual(batches[3]?.keys.sort(), ['B/1', 'C/1'], 'then the others, without it');
    assert.equal(d.isHot('A/1'), true, 'a hot machine stays hot while it has more than one event a step');
    assert.equal(d.hotCount(), 1);

    d.notify('A/1');
    d.notify('B/1');
    await run(handled({ 'B/1': 1, 'C/1': 0 }));
    assert.deepEqual(batches[4]?.keys, ['A/1']);
    await run(handled({ 'A/1': 1 }));
    assert.equal(d.isHot('A/1'), false, 'quiet again');
    assert.deepEqual(batches[5]?.keys, ['B/1']);
    d.notify('A/1');
    d.notify('C/1');
    await run();
    assert.deepEqual(batches[6]?.keys, ['A/1', 'C/1'], 'back with the others');
  });

  it('makes a machine that left events behind (more) hot, and keeps each hot machine to one transaction at a time', async () => {
    const { d, batches } = dispatcher(100, 2);
    d.notify('Z/1');
    d.notify('Z/2');
    d.notify('H/1');
    d.notify('H/2');
    batches[0]?.finish();
    batches[1]?.finish();
    await settle();
    assert.deepEqual(batches[2]?.keys, ['H/1', 'H/2']);
    batches[2]?.finish(handled({ 'H/1': 32, 'H/2': 5 }, ['H/1', 'H/2']));
    await settle();
    assert.equal(d.hotCount(), 2, 'events left behind by the per-machine limit make a machine hot whatever the threshold');
    assert.deepEqual(batches.slice(3).map((b) => b.keys), [['H/1'], ['H/2']], 'each runs again for what it left, alone');
    d.notify('H/1');
    assert.equal(batches.length, 5, 'in flight: it runs again after, not beside itself');
    batches[3]?.finish(handled({ 'H/1': 2 }));
    await settle();
    assert.deepEqual(batches[5]?.keys, ['H/1']);
  });

  it('remembers at most MAX_HOT hot machines: a burst to many machines that never come back is forgotten', async () => {
    const { d, batches } = dispatcher(2, 1);
    for (let i = 0; i < MAX_HOT + 50; i += 1) {
      d.notify(`M/${i}`);
      batches.at(-1)?.finish(handled({ [`M/${i}`]: 5 }));
      await settle();
    }
    assert.equal(d.hotCount(), MAX_HOT);
    assert.equal(d.isHot('M/0'), false, 'the one hot the longest ago went first');
    assert.equal(d.isHot(`M/${MAX_HOT + 49}`), true);
  });
});

describe('Dispatcher: callers queueing for its transactions', () => {
  const item = (id: string, enqueuedAt: number): IntakeItem => ({
    kind: 'create',
    ref: { type: 'Counter', id },
    event: { type: 'Open' },
    key: undefined,
    eventId: `e-${id}`,
    enqueuedAt,
    cancelled: false,
    resolve: () => undefined,
    reject: () => undefined,
  });

  it('says since when the oldest waits while more machines wait than a transaction takes, and nothing for a few', async () => {
    const { d, batches } = dispatcher(8, 1);
    d.submit(item('first', 1));
    await settle();
    assert.deepEqual(batches.map((b) => b.keys), [['Counter/first']], 'the one slot is taken');
    // A few waiting callers (one machine held elsewhere, say) are no queue.
    for (let i = 0; i < 64; i += 1) d.submit(item(`w${i}`, 100 + i));
    assert.equal(d.oldestWaitingSince(), undefined);
    d.submit(item('w64', 500));
    assert.equal(d.oldestWaitingSince(), 100, 'the first submitted of those still waiting');
    // A transaction takes the oldest 64: the one left waits since it was submitted.
    batches.at(-1)?.finish();
    await settle();
    assert.equal(d.oldestWaitingSince(), undefined);
    for (let i = 0; i < 64; i += 1) d.submit(item(`x${i}`, 1_000 + i));
    assert.equal(d.oldestWaitingSince(), 500, 'the machine left behind is the oldest, though submitted before the others');
  });
});
