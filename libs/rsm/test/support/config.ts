import { z } from 'zod';

/** Where tests find Postgres and Redis; the only place tests read the environment. */
const schema = z.object({
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
});

export const testConfig = schema.parse(process.env);

/** The HMAC key every test runtime signs its Redis items with (tests of rotation add their own). */
export const TEST_SIGNING_KEYS = ['rsm-test-signing-key-0123456789abcdef'];

/** The environment children of tests start from (PATH and the like). */
export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
