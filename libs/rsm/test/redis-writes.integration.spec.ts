import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { coalesceWrites, redisConnection } from '../src/delivery/redis-connection.js';
import { testConfig } from './support/config.js';
import { uniquePrefix } from './support/helpers.js';

/** Counts the writes a connection's socket hands to the kernel (one `_write` or `_writev` each). */
function countWrites(redis: Redis): () => number {
  const socket = (redis as unknown as { stream: Record<'_write' | '_writev', (...args: unknown[]) => unknown> }).stream;
  let writes = 0;
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      writes += 1;
      return original(...args);
    };
  }
  return () => writes;
}

describe('Redis commands of one turn of the event loop', () => {
  const key = `${uniquePrefix('writes')}:n`;
  const plain = redisConnection({ url: testConfig.REDIS_URL }, { lazyConnect: true });
  const coalesced = coalesceWrites(redisConnection({ url: testConfig.REDIS_URL }, { lazyConnect: true }));
  before(async () => {
    await Promise.all([plain.connect(), coalesced.connect()]);
  });
  after(async () => {
    await coalesced.del(key);
    plain.disconnect();
    coalesced.disconnect();
  });

  it('leave in one write, in order, each with its own answer; later turns still go out', async () => {
    const baseline = countWrites(plain);
    await Promise.all(Array.from({ length: 5 }, () => plain.ping()));
    assert.equal(baseline(), 5, 'without it, one write a command');

    const writes = countWrites(coalesced);
    const answers = await Promise.all(Array.from({ length: 10 }, () => coalesced.incr(key)));
    assert.deepEqual(answers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'sent in the order given');
    assert.equal(writes(), 1);

    // A command of the next turn is not held back by the one before.
    assert.equal(await coalesced.incr(key), 11);
    assert.equal(await coalesced.get(key), '11');
    assert.equal(writes(), 3);
  });

  it('a failing command fails alone', async () => {
    const [bad, good] = await Promise.allSettled([coalesced.call('NO-SUCH-COMMAND'), coalesced.incr(key)]);
    assert.equal(bad.status, 'rejected');
    assert.deepEqual(good, { status: 'fulfilled', value: 12 });
  });
});
