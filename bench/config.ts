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
    /** The soak workload: how long, how many clients, over how many relay machines (each with its own pair). */
    BENCH_SOAK_SECONDS: z.coerce.number().int().positive().default(360),
    BENCH_SOAK_CLIENTS: z.coerce.number().int().positive().default(32),
    BENCH_SOAK_RATE: z.coerce.number().positive().default(300),
    /** Set by the soak for its receiving process (bench/soak-sink.ts): the key both services sign with. */
    BENCH_SOAK_SIGNING_KEY: z.string().min(32).default('soak-signing-key-for-a-local-benchmark-only'),
    BENCH_SOAK_RELAYS: z.coerce.number().int().positive().default(5_000),
  })
  .parse(process.env);

/** The environment children of the benchmark start from (PATH and the like). */
export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
