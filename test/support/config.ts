import { z } from 'zod';

/** Where the suite tests find Postgres and Redis, and what they pass on to the apps they start. */
export const suiteTestConfig = z
  .object({
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    /** npm's own CLI script, which npm sets for the scripts it runs (`npm test`); found on PATH otherwise. */
    npm_execpath: z.string().optional(),
  })
  .parse(process.env);

export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
