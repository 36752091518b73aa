import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RequestTimeoutError, RsmRuntime, RsmStartupError, RsmTimeoutError } from '#rsm';
import { Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, startRuntime, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';
import { sigkill, spawnNode } from './support/process-pool.js';
import { TcpProxy } from './support/tcp-proxy.js';

const CALL_MS = 1_500;
const HEALTH_MS = 1_000;
/** Generous: CI has two loaded cores. What matters is that a call ends, and not much later. */
const SLACK_MS = 5_000;

function endpoint(url: string): { host: string; port: number; withPort: (port: number) => string } {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port),
    withPort: (port) => {
      const copy = new URL(url);
      copy.port = String(port);
      return copy.toString();
    },
  };
}

/** Fails unless `call` rejects with an error of `type` within its deadline (plus slack). */
async function failsWithin(what: string, call: Promise<unknown>, type: new (...args: never[]) => Error, deadlineMs: number): Promise<void> {
  const startedAt = Date.now();
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof type, `${what}: expected ${type.name}, got ${String(error)}`);
    return true;
  });
  const elapsed = Date.now() - startedAt;
  assert.ok(elapsed < deadlineMs + SLACK_MS, `${what} failed only after ${elapsed} ms (deadline ${deadlineMs} ms)`);
}

describe('a stalled Postgres: every call fails within its deadline, then recovers', () => {
  const schema = uniqueSchema('stall');
  const prefix = uniquePrefix('stall');
  const pg = endpoint(testConfig.DATABASE_URL);
  const proxy = new TcpProxy(pg.host, pg.port);
  let rsm: RsmRuntime;

  before(async () => {
    const port = await proxy.listen();
    rsm = await startRuntime({
      service: 'stall',
      schema,
      prefix,
      machines: [Counter],
      overrides: {
        postgres: { url: pg.withPort(port), schema, poolSize: 4, connectTimeoutMs: 1_000, statementTimeoutMs: 1_000, queryTimeoutMs: 2_000 },
        calls: { timeoutMs: CALL_MS, healthTimeoutMs: HEALTH_MS },
        requests: { timeoutMs: CALL_MS },
      },
    });
    await rsm.create(Counter.ref('c1'), { type: 'Open' });
  });

  after(async () => {
    proxy.forward();
    await rsm?.stop();
    await proxy.close();
    await dropSchemas(schema);
  });

  /** Every public call against a held proxy: each ends with its typed error in time. */
  async function everyCallFails(): Promise<void> {
    const ref = Counter.ref('c1');
    const startedAt = Date.now();
    const health = await rsm.health();
    assert.equal(health.status, 'error', 'readiness must fail while Postgres does not answer');
    assert.equal(health.checks.postgres, false);
    assert.ok(Date.now() - startedAt < HEALTH_MS + SLACK_MS, `health answered after ${Date.now() - startedAt} ms`);
    await Promise.all([
      failsWithin('get', rsm.get(ref), RsmTimeoutError, CALL_MS),
      failsWithin('send', rsm.send(ref, { type: 'Add', n: 1 }, { key: `stalled-send-${Date.now()}` }), RequestTimeoutError, CALL_MS),
      failsWithin('request', rsm.request(ref, { type: 'Add', n: 1 }, { key: `stalled-request-${Date.now()}` }), RequestTimeoutError, CALL_MS),
      failsWithin('deadLetters', rsm.deadLetters(), RsmTimeoutError, CALL_MS),
    ]);
  }

  /** After the proxy forwards again, the same calls succeed (within a generous bound). */
  async function everyCallRecovers(label: string): Promise<void> {
    const ref = Counter.ref('c1');
    await waitFor(`${label}: readiness back`, async () => (await rsm.health()).status === 'ok', 20_000);
    await waitFor(`${label}: get answers`, async () => (await rsm.get(ref)) !== undefined, 20_000);
    const before = ((await rsm.get(ref))?.data as { total: number }).total;
    await rsm.send(ref, { type: 'Add', n: 10 });
    const total = Number(await rsm.request(ref, { type: 'Add', n: 100 }));
    assert.ok(total >= before + 110, `${label}: the counter went from ${before} to ${total}`);
  }

  it('fails every call while the network holds, and serves again when it heals', async () => {
    proxy.hold();
    await everyCallFails();
    proxy.forward();
    await everyCallRecovers('healed');
  });

  it('recovers when the held connections never answer again (the client discards them)', async () => {
    // Fill the pool with connections, so that each one is taken by a call when the network stalls:
    // without a client-side query deadline they would stay checked out forever.
    await Promise.all(Array.from({ length: 4 }, () => rsm.dataSource.query('SELECT pg_sleep(0.2)')));
    proxy.hold();
    await everyCallFails();
    await Promise.all(Array.from({ length: 4 }, (_, i) => failsWithin(`get ${i}`, rsm.get(Counter.ref('c1')), RsmTimeoutError, CALL_MS)));
    proxy.forward({ abandonHeld: true });
    await everyCallRecovers('abandoned connections');
  });
});

describe('Redis down: the runtime waits for it at start-up and stays ready (degraded) while it is gone', () => {
  const schema = uniqueSchema('rdown');
  const prefix = uniquePrefix('rdown');
  const redis = endpoint(testConfig.REDIS_URL);
  const schemas: string[] = [schema];

  after(async () => {
    await dropSchemas(...schemas);
  });

  function runtimeOn(redisUrl: string, schemaName: string, startupTimeoutMs: number, logs: string[]): RsmRuntime {
    const logger = {
      ...quietLogger,
      warn: (obj: object, msg?: string) => void logs.push(`${msg ?? ''} ${JSON.stringify(obj)}`),
      info: (obj: object, msg?: string) => void logs.push(`${msg ?? ''} ${JSON.stringify(obj)}`),
      child: () => logger,
    };
    return new RsmRuntime(
      {
        service: 'rdown',
        postgres: { url: testConfig.DATABASE_URL, schema: schemaName, poolSize: 4 },
        redis: { url: redisUrl, prefix, signingKeys: TEST_SIGNING_KEYS, startupTimeoutMs },
        delivery: { ackTimeoutMs: 1_000, sweepIntervalMs: 200, recoveryGraceMs: 500 },
        calls: { healthTimeoutMs: HEALTH_MS },
      },
      { machines: [Counter], logger },
    );
  }

  it('fails start-up with RsmStartupError after its start-up timeout when Redis never answers', async () => {
    const proxy = new TcpProxy(redis.host, redis.port);
    const port = await proxy.listen();
    proxy.refuse();
    const logs: string[] = [];
    const other = uniqueSchema('rnever');
    schemas.push(other);
    const rsm = runtimeOn(redis.withPort(port), other, 1_500, logs);
    try {
      await failsWithin('start', rsm.start(), RsmStartupError, 1_500);
      assert.ok(logs.some((line) => line.startsWith('waiting for redis')), `no "waiting for redis" line in ${JSON.stringify(logs)}`);
      assert.equal(rsm.running, false);
    } finally {
      await rsm.stop();
      await proxy.close();
    }
  });

  it('waits for Redis, starts when it answers, then reports degraded (still serving) while Redis is gone', async () => {
    const proxy = new TcpProxy(redis.host, redis.port);
    const port = await proxy.listen();
    proxy.refuse();
    const logs: string[] = [];
    const rsm = runtimeOn(redis.withPort(port), schema, 60_000, logs);
    try {
      const started = rsm.start();
      await waitFor('a "waiting for redis" log line', () => logs.some((line) => line.startsWith('waiting for redis')));
      assert.equal(rsm.running, false, 'the runtime must not start without Redis');
      proxy.forward();
      await started;
      assert.equal((await rsm.health()).status, 'ok');

      proxy.refuse();
      const ref = Counter.ref('r1');
      // Intake commits to Postgres and local steps run without Redis.
      await rsm.create(ref, { type: 'Open' });
      assert.equal(Number(await rsm.request(ref, { type: 'Add', n: 2 })), 2);
      const health = await waitFor('readiness to see Redis gone', async () => {
        const report = await rsm.health();
        return report.checks.redis ? undefined : report;
      });
      assert.equal(health.status, 'degraded');
      assert.equal(health.checks.postgres, true);

      proxy.forward();
      await waitFor('readiness to see Redis back', async () => (await rsm.health()).status === 'ok', 20_000);
    } finally {
      await rsm.stop();
      await proxy.close();
    }
  });
});

describe('an unhandled error ends the process cleanly', () => {
  const schema = uniqueSchema('fatal');
  const prefix = uniquePrefix('fatal');

  after(async () => {
    await dropSchemas(schema);
  });

  for (const fault of ['rejection', 'exception'] as const) {
    it(`logs an unhandled ${fault}, stops the runtime and exits with code 1`, async () => {
      const child = spawnNode(`fatal-${fault}`, fileURLToPath(new URL('./fixtures/fatal-error-child.js', import.meta.url)), {
        SCHEMA: schema,
        PREFIX: prefix,
        DATABASE_URL: testConfig.DATABASE_URL,
        REDIS_URL: testConfig.REDIS_URL,
        FAULT: fault,
      });
      let stdout = '';
      child.process.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      try {
        await child.ready;
        const code = await Promise.race([child.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref())]);
        assert.equal(code, 1, `exit code; output:\n${stdout}`);
        assert.match(stdout, /"msg":"fatal error: stopping and exiting"/);
        assert.match(stdout, new RegExp(`"kind":"${fault === 'rejection' ? 'unhandledRejection' : 'uncaughtException'}"`));
        assert.match(stdout, /"msg":"rsm runtime stopped"/, 'the runtime stops before the process exits');
      } finally {
        await sigkill(child);
      }
    });
  }
});
