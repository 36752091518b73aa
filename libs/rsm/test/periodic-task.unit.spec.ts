import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdleBackoff, PeriodicTask } from '../src/runtime/periodic-task.js';
import type { RsmLogger } from '../src/core/logger.js';
import { waitFor } from './support/helpers.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as RsmLogger;

describe('periodic tasks', () => {
  it('waits out an interval longer than setTimeout can hold instead of running at once, over and over', async () => {
    let short = 0;
    let long = 0;
    // Any positive integer passes the options' schema: 2^32 ms (about 50 days) is a valid interval.
    const longTask = new PeriodicTask('long', 2 ** 32, () => Promise.resolve((long += 1) < 0), silent);
    const shortTask = new PeriodicTask('short', 20, () => Promise.resolve((short += 1) < 0), silent);
    longTask.start();
    // Woken, it runs once now; its next run is then planned a whole interval later.
    longTask.wake();
    await waitFor('the long task to run once', () => long >= 1);
    shortTask.start();
    try {
      await waitFor('the short task to run five times', () => short >= 5);
      assert.equal(long, 1, 'the long task ran only when woken');
    } finally {
      await shortTask.stop();
      await longTask.stop();
    }
  });

  it('keeps its pace when the wall clock steps back, instead of waiting out the step', async () => {
    let runs = 0;
    const realNow = Date.now.bind(Date);
    const task = new PeriodicTask('stepped', 30, () => Promise.resolve((runs += 1) < 0), silent);
    task.start();
    try {
      await waitFor('a first run', () => runs >= 1);
      const before = runs;
      Date.now = () => realNow() - 3_600_000; // NTP steps the clock back an hour
      // Waited for by the monotonic clock: the wall clock is the one that moved.
      for (const deadline = performance.now() + 20_000; runs < before + 3; ) {
        assert.ok(performance.now() < deadline, `${runs - before} runs since the step`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      Date.now = realNow;
      await task.stop();
    }
  });

  it('never runs its work twice at once, when a run planned during one comes due before it ends', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let release: (() => void) | undefined;
    const task = new PeriodicTask('slow', 60_000, async () => {
      running += 1;
      runs += 1;
      most = Math.max(most, running);
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
      running -= 1;
      return false;
    }, silent);
    task.start();
    task.wake();
    await waitFor('the first run to start', () => release !== undefined);
    // Woken for 5 ms from now while the first run holds: that timer fires during the run.
    const at = Date.now() + 5;
    task.wakeAt(at);
    await waitFor('the planned time to pass', () => Date.now() > at + 20);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs, 1, 'not started beside the running one');
    release?.();
    await waitFor('the planned run to follow', () => runs === 2);
    assert.equal(most, 1);
    await task.stop();
  });

  it('looks less and less often at a search that keeps finding nothing, and every interval again once it finds something', () => {
    const backoff = new IdleBackoff(600_000);
    let now = 1_000_000;
    const waits: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      assert.equal(backoff.due('Parcel', now), true);
      backoff.idle('Parcel', now, 10_000);
      let wait = 0;
      while (!backoff.due('Parcel', now + wait)) wait += 1_000;
      waits.push(wait);
      now += wait;
    }
    assert.deepEqual(waits, [20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000, 600_000], 'doubling from the interval, at most ten minutes');
    assert.equal(backoff.due('Drone', now), true, 'per key');
    backoff.idle('Parcel', now, 10_000);
    backoff.busy('Parcel');
    assert.equal(backoff.due('Parcel', now), true, 'found something: due again at once');
    backoff.idle('Parcel', now, 10_000);
    assert.equal(backoff.due('Parcel', now + 19_999), false);
    assert.equal(backoff.due('Parcel', now + 20_000), true, 'and the doubling starts over');
  });
});
