import { z } from 'zod';

/** Benchmark settings, from the environment. */
export const benchConfig = z
  .object({
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    BENCH_SECONDS: z.coerce.number().positive().default(20),
    BENCH_CLIENTS: z.coerce.number().int().positive().default(32),
    BENCH_MACHINES: z.coerce.number().int().positive().default(1_000),
    BENCH_HOPS: z.coerce.number().int().positive().default(2_000),
    BENCH_IDLE_MACHINES: z.coerce.number().int().nonnegative().default(100_000),
    BENCH_ONLY: z.string().default(''),
  })
  .parse(process.env);
