import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineMachine, RequestTimeoutError, type RsmRuntime } from '#rsm';
import { Counter } from './fixtures/machines.js';
import { dropSchemas, startRuntime, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

type FragileEvents = { type: 'Open' } | { type: 'Ask' } | { type: 'Boom' } | { type: 'Hang' };
/** Faults on its first failure; `Hang` never returns (its handler deadline ends the attempt). */
const Fragile = defineMachine<{ asked: number }, FragileEvents>()({
  type: 'Fragile',
  initial: 'Open',
  initialData: () => ({ asked: 0 }),
  states: {
    Open: {
      on: {
        Open: () => undefined,
        Ask: (data, _event, ctx) => {
          data.asked += 1;
          ctx.reply(data.asked);
        },
        Boom: () => {
          throw new Error('boom');
        },
        Hang: () => new Promise<void>(() => undefined),
      },
    },
  },
  failure: { maxAttempts: 1, onExhausted: 'fault', handlerTimeoutMs: 1_500 },
});

const TIMEOUT_MS = 600;
/** Generous: CI has two loaded cores. What matters is that the call ends, and not much later. */
const SLACK_MS = 5_000;

async function expectTimeout(call: Promise<unknown>): Promise<number> {
  const startedAt = Date.now();
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof RequestTimeoutError, `expected RequestTimeoutError, got ${String(error)}`);
    assert.equal(error.timeoutMs, TIMEOUT_MS);
    return true;
  });
  const elapsed = Date.now() - startedAt;
  assert.ok(elapsed >= TIMEOUT_MS - 50, `timed out after ${elapsed} ms, before its ${TIMEOUT_MS} ms`);
  assert.ok(elapsed < TIMEOUT_MS + SLACK_MS, `timed out after ${elapsed} ms`);
  return elapsed;
}

describe('request() keeps its deadline in every state', () => {
  const schema = uniqueSchema('rqd');
  const apiSchema = uniqueSchema('rqa');
  const prefix = uniquePrefix('rqd');
  let worker: RsmRuntime;
  let apiOnly: RsmRuntime;

  before(async () => {
    worker = await startRuntime({ service: 'deadlines', schema, prefix, machines: [Fragile] });
    // An API-only process of a service whose workers are all down.
    apiOnly = await startRuntime({ service: 'no-workers', schema: apiSchema, prefix, machines: [Counter], overrides: { worker: false } });
  });

  after(async () => {
    await worker?.stop();
    await apiOnly?.stop();
    await dropSchemas(schema, apiSchema);
  });

  it('times out on a faulted machine, and the kept event is answered after redrive', async () => {
    const ref = Fragile.ref('f1');
    await worker.create(ref, { type: 'Open' });
    await worker.send(ref, { type: 'Boom' });
    await waitFor('the machine to be faulted', async () => (await worker.get(ref))?.status === 'faulted');
    await expectTimeout(worker.request(ref, { type: 'Ask' }, { timeoutMs: TIMEOUT_MS, key: 'ask-f1' }));
    // The event was accepted before the deadline: it waits for the machine, as production promises.
    const [letter] = await worker.deadLetters({ type: 'Fragile' });
    assert.ok(letter !== undefined);
    assert.equal(await worker.redrive(letter.id), true);
    await waitFor('the kept Ask to be handled after redrive', async () => ((await worker.get(ref))?.data as { asked: number }).asked === 1);
  });

  it('leaves a faulted machine with more events than a batch takes alone, rather than reading them again in a loop', async () => {
    const ref = Fragile.ref('f-many');
    await worker.create(ref, { type: 'Open' });
    await worker.send(ref, { type: 'Boom' });
    await waitFor('the machine to be faulted', async () => (await worker.get(ref))?.status === 'faulted');
    // More than `batch.maxEventsPerMachine` (32) wait behind the fault.
    for (let i = 0; i < 40; i += 1) await worker.send(ref, { type: 'Ask' });
    const counter = async (name: string) => Number(new RegExp(`${name}\\{service="deadlines"\\} (\\d+)`).exec(await worker.metrics.registry.metrics())?.[1] ?? 0);
    const [transactions, hot] = [() => counter('rsm_batch_duration_seconds_count'), () => counter('rsm_hot_transactions_total')];
    const before = { transactions: await transactions(), hot: await hot() };
    // Ten round trips of other work, one step transaction each. Read again at once after every
    // batch, the faulted machine ran as a hot machine, ahead of all others, some 330 times a second.
    for (let i = 0; i < 5; i += 1) {
      await worker.create(Fragile.ref(`calm-${i}`), { type: 'Open' });
      assert.equal(await worker.request(Fragile.ref(`calm-${i}`), { type: 'Ask' }), 1);
    }
    assert.equal((await hot()) - before.hot, 0, 'no machine was stepped as a hot one');
    const ran = (await transactions()) - before.transactions;
    assert.ok(ran <= 20, `${ran} step transactions for 10 round trips`);
    assert.equal((await worker.inspect(ref, 100))?.inbox.length, 40, 'the events wait for a redrive');
  });

  it('times out when no worker runs for the machine', async () => {
    const ref = Counter.ref('c1');
    await apiOnly.create(ref, { type: 'Open' });
    await expectTimeout(apiOnly.request(ref, { type: 'Add', n: 1 }, { timeoutMs: TIMEOUT_MS }));
  });

  it('times out when the handler never returns, and the hung attempt later fails by its own deadline', async () => {
    const ref = Fragile.ref('f2');
    await worker.create(ref, { type: 'Open' });
    await expectTimeout(worker.request(ref, { type: 'Hang' }, { timeoutMs: TIMEOUT_MS }));
    const letter = await waitFor('the hung attempt to be dead-lettered', async () => (await worker.deadLetters({ type: 'Fragile' })).find((l) => l.machineId === 'f2'), 10_000);
    assert.match(letter.reason, /handler did not return within 1500 ms/);
  });
});
