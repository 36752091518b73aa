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
    /** Empty: every case but `soak`; otherwise a comma-separated list of cases (`soak` runs only when named). */
    BENCH_ONLY: z.string().default(''),
    BENCH_SOAK_SECONDS: z.coerce.number().int().min(60).default(360),
    BENCH_SOAK_SAMPLE_SECONDS: z.coerce.number().int().min(5).default(20),
    /** Closed loops of the soak: fewer than the keyed runs', so the receiving service keeps up and the outbox stays level. */
    BENCH_SOAK_CLIENTS: z.coerce.number().int().positive().default(12),
    BENCH_SOAK_MAX_OUTBOX: z.coerce.number().int().positive().default(2_000),
    BENCH_SOAK_SOURCES: z.coerce.number().int().positive().default(2_000),
    BENCH_SOAK_SINKS: z.coerce.number().int().positive().default(300),
  })
  .parse(process.env);
