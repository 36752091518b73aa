import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeriodicTask } from '../src/runtime/periodic-task.js';
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
});
