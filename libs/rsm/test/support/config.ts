import { z } from 'zod';

/** Where tests find Postgres and Redis; the only place tests read the environment. */
const schema = z.object({
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
});

export const testConfig = schema.parse(process.env);

/** The environment children of tests start from (PATH and the like). */
export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
