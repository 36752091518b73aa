import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is and how to reach it: `rsm.redis.url` and, for a private CA or client certificates, `rsm.redis.tls`. */
export interface RedisEndpoint {
  readonly url: string;
  readonly tls?:
    | {
        readonly ca?: string;
        readonly cert?: string;
        readonly key?: string;
        readonly servername?: string;
      }
    | undefined;
}

/**
 * Opens (lazily, with `lazyConnect` set by the caller) an ioredis connection to `endpoint`, with its
 * TLS settings when there are any. Every connection the runtime makes goes through here, so TLS
 * applies to producers, workers, subscribers and the start-up probe alike.
 *
 * @example
 * const redis = redisConnection({ url: 'rediss://redis:6379', tls: { ca } }, { lazyConnect: true });
 */
export function redisConnection(endpoint: RedisEndpoint, options: RedisOptions): Redis {
  const tls = endpoint.tls;
  if (tls === undefined) return new Redis(endpoint.url, options);
  return new Redis(endpoint.url, {
    ...options,
    tls: {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    },
  });
}
