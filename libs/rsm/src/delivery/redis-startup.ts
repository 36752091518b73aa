import { setTimeout as delay } from 'node:timers/promises';
import { RsmStartupError } from '../core/errors.js';
import type { RsmLogger } from '../core/logger.js';
import { redisConnection, type RedisEndpoint } from './redis-connection.js';

/** Host and port of a Redis URL, for logs: the URL itself may carry a password. */
export function redisEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'redis';
  }
}

/**
 * Resolves once Redis answers PING, trying again with capped exponential backoff and one log line
 * per failed attempt; rejects with RsmStartupError after `timeoutMs`. Each attempt is a connection
 * of its own with no automatic reconnect, so nothing keeps retrying (or rejects unheard) after it.
 *
 * @example
 * await waitForRedis({ url: 'redis://127.0.0.1:6379' }, 60_000, logger);
 */
export async function waitForRedis(target: RedisEndpoint, timeoutMs: number, logger: RsmLogger): Promise<void> {
  const endpoint = redisEndpoint(target.url);
  const giveUpAt = Date.now() + timeoutMs;
  let backoffMs = 100;
  for (let attempt = 1; ; attempt += 1) {
    const left = giveUpAt - Date.now();
    const connection = redisConnection(target, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: Math.max(100, Math.min(5_000, left)),
    });
    // Attempt failures are reported below; an 'error' event nobody hears would crash the process.
    connection.on('error', () => undefined);
    try {
      await connection.connect();
      await connection.ping();
      connection.disconnect();
      if (attempt > 1) logger.info({ redis: endpoint, attempts: attempt }, 'redis answers; starting');
      return;
    } catch (error) {
      connection.disconnect();
      const reason = error instanceof Error ? error.message : String(error);
      const wait = Math.min(backoffMs, giveUpAt - Date.now());
      if (wait <= 0) {
        throw new RsmStartupError(`redis at ${endpoint} did not answer within ${timeoutMs} ms (redis.startupTimeoutMs): ${reason}`);
      }
      logger.warn({ redis: endpoint, attempt, retryInMs: wait, err: reason }, 'waiting for redis');
      await delay(wait);
      backoffMs = Math.min(backoffMs * 2, 5_000);
    }
  }
}
