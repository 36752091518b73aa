import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InboundJob } from '../src/core/messages.js';
import { InboundBatcher } from '../src/runtime/inbound-batcher.js';

/** A job of `n` placeholder events from `from` (the batcher only counts them). */
function job(from: string, n = 1): InboundJob {
  return { from, messages: Array.from({ length: n }, (_, i) => ({ outboxId: `${from}-${i}` }) as unknown as InboundJob['messages'][number]) };
}

/** A receipt the test finishes by hand, recording which jobs went together. */
function gate() {
  const calls: { jobs: readonly InboundJob[]; finish: (error?: Error) => void }[] = [];
  const receive = (jobs: readonly InboundJob[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ jobs, finish: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  return { calls, receive };
}

const settled = async (promise: Promise<void>) => promise.then(() => 'ok', (error: unknown) => (error instanceof Error ? error.message : String(error)));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InboundBatcher: jobs that arrive during a receipt go together in the next', () => {
  it('receives a lone job at once, and the jobs that came meanwhile in one receipt', async () => {
    const { calls, receive } = gate();
    const batcher = new InboundBatcher(1, 100, receive);
    const first = batcher.submit(job('a'));
    assert.equal(calls.length, 1, 'idle: no waiting');
    const later = [batcher.submit(job('b')), batcher.submit(job('c', 3)), batcher.submit(job('a'))];
    assert.equal(calls.length, 1, 'nothing starts while the concurrency is used');
    assert.equal(batcher.backlog, 3);
    calls[0]?.finish();
    assert.equal(await settled(first), 'ok');
    await tick();
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1]?.jobs.map((j) => j.from), ['b', 'c', 'a'], 'the three waiting jobs, in arrival order, in one receipt');
    let done = 0;
    for (const p of later) void p.then(() => (done += 1));
    await tick();
    assert.equal(done, 0, 'no job is settled before its receipt commits');
    calls[1]?.finish();
    assert.deepEqual(await Promise.all(later.map(settled)), ['ok', 'ok', 'ok']);
  });

  it('never puts more than maxMessages events in one receipt, unless one job alone is larger', async () => {
    const { calls, receive } = gate();
    const batcher = new InboundBatcher(1, 5, receive);
    const all = [batcher.submit(job('x')), batcher.submit(job('big', 9)), batcher.submit(job('y', 2)), batcher.submit(job('z', 3)), batcher.submit(job('w', 1))];
    for (let i = 0; i < 4; i += 1) {
      calls[i]?.finish();
      await tick();
      await tick();
    }
    assert.deepEqual(calls.map((c) => c.jobs.map((j) => j.from)), [['x'], ['big'], ['y', 'z'], ['w']]);
    calls[3]?.finish();
    assert.deepEqual(await Promise.all(all.map(settled)), ['ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('runs up to `concurrency` receipts at once', async () => {
    const { calls, receive } = gate();
    const batcher = new InboundBatcher(2, 100, receive);
    void batcher.submit(job('a'));
    void batcher.submit(job('b'));
    void batcher.submit(job('c'));
    assert.equal(calls.length, 2);
    assert.equal(batcher.backlog, 1);
    for (const call of calls) call.finish();
  });

  it('a failed receipt of several jobs is retried job by job: only the job the database refuses fails', async () => {
    const received: string[][] = [];
    const batcher = new InboundBatcher(1, 100, async (jobs) => {
      received.push(jobs.map((j) => j.from));
      await tick();
      if (jobs.some((j) => j.from === 'poison')) throw new Error('refused');
    });
    const first = batcher.submit(job('first'));
    const rest = [batcher.submit(job('a')), batcher.submit(job('poison')), batcher.submit(job('b'))];
    assert.equal(await settled(first), 'ok');
    assert.deepEqual(await Promise.all(rest.map(settled)), ['ok', 'refused', 'ok']);
    assert.deepEqual(received, [['first'], ['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  });

  it('a lone job that fails fails once, and the batcher goes on', async () => {
    let n = 0;
    const batcher = new InboundBatcher(1, 100, async () => {
      n += 1;
      if (n === 1) throw new Error('down');
    });
    assert.equal(await settled(batcher.submit(job('a'))), 'down');
    assert.equal(await settled(batcher.submit(job('b'))), 'ok');
    assert.equal(n, 2, 'the failed job was not retried by the batcher (its queue retries it)');
  });
});
