import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RsmRuntime, type ActivityContext } from '#rsm';
import { RsmActivity, RsmModule, type RsmActivityHandler } from '#rsm/nest';
import { Caller, Counter } from './fixtures/machines.js';
import { TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

@Injectable()
class Recorder {
  readonly keys: string[] = [];
}

@RsmActivity('record', { maxAttempts: 2 })
class RecordActivity implements RsmActivityHandler<{ value: string }, string> {
  constructor(private readonly recorder: Recorder) {}
  async run(input: { value: string }, ctx: ActivityContext): Promise<string> {
    this.recorder.keys.push(ctx.idempotencyKey);
    return `recorded ${input.value}`;
  }
}

describe('Nest module', () => {
  const schema = uniqueSchema('nest');
  let app: INestApplication;
  let base: string;

  before(async () => {
    @Module({ imports: [RsmModule.forFeature([Caller])], providers: [Recorder, RecordActivity], exports: [Recorder] })
    class CallerFeature {}

    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'nest-test',
          postgres: { url: testConfig.DATABASE_URL, schema },
          redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('nest'), signingKeys: TEST_SIGNING_KEYS },
          deps: { logger: quietLogger },
        }),
        RsmModule.forFeature([Counter]),
        CallerFeature,
      ],
    })
    class AppModule {}

    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  after(async () => {
    await app?.close();
    await dropSchemas(schema);
  });

  it('registers feature machines and injected activities, and serves the runtime', async () => {
    const rsm = app.get(RsmRuntime);
    await rsm.create(Counter.ref('n1'), { type: 'Open' });
    assert.equal(await rsm.request(Counter.ref('n1'), { type: 'Add', n: 5 }), 5);
    await rsm.create(Caller.ref('k'), { type: 'Go', value: 'v' });
    await waitFor('the injected activity outcome', async () => ((await rsm.get(Caller.ref('k')))?.data as { completed: number }).completed === 1);
    assert.deepEqual(((await rsm.get(Caller.ref('k')))?.data as { outputs: unknown[] }).outputs, ['recorded v']);
    assert.equal(app.get(Recorder).keys.length, 1);
  });

  it('serves /metrics and the health endpoints', async () => {
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /rsm_steps_total\{service="nest-test"/);
    assert.match(text, /process_resident_memory_bytes/);
    assert.equal((await fetch(`${base}/health/live`)).status, 200);
    const ready = await fetch(`${base}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ok', checks: { postgres: true, redis: true, relay: true, running: true } });
  });

  it('forRootAsync: the factory\u2019s console services are the origins /rsm/* answers cross-origin, and only while the routes are served', async () => {
    const asyncSchema = uniqueSchema('nest_async');
    const other = 'http://console.example:8080';
    const appWith = async (httpEndpoints: boolean) => {
      @Module({
        imports: [
          RsmModule.forRootAsync({
            httpEndpoints,
            useFactory: async () => ({
              service: 'nest-async',
              postgres: { url: testConfig.DATABASE_URL, schema: asyncSchema },
              redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('nest-async'), signingKeys: TEST_SIGNING_KEYS },
              adminTokens: ['nest-async-operator-token-0123456789'],
              console: { services: { other: `${other}/` } },
              deps: { logger: quietLogger },
              exitOnFatalError: false,
            }),
          }),
          RsmModule.forFeature([Counter]),
        ],
      })
      class AsyncModule {}
      const nest = await NestFactory.create(AsyncModule, { logger: false });
      await nest.listen(0, '127.0.0.1');
      return nest;
    };
    const preflight = async (nest: INestApplication) =>
      fetch(`${await nest.getUrl()}/rsm/types`, { method: 'OPTIONS', headers: { origin: other, 'access-control-request-method': 'GET' } });
    const served = await appWith(true);
    try {
      const answer = await preflight(served);
      assert.equal(answer.status, 204);
      assert.equal(answer.headers.get('access-control-allow-origin'), other);
      const read = await fetch(`${await served.getUrl()}/rsm/queues`, { headers: { origin: other, authorization: 'Bearer nest-async-operator-token-0123456789' } });
      assert.equal(read.status, 200);
      assert.equal(read.headers.get('access-control-allow-origin'), other);
      assert.deepEqual(Object.keys((await read.json()) as object).sort(), ['inboxDepth', 'inboxOldestAgeSeconds', 'outboxDepth', 'outboxOldestAgeSeconds']);
      assert.match((await fetch(`${await served.getUrl()}/rsm/console/`)).headers.get('content-security-policy') ?? '', /connect-src 'self' http:\/\/console\.example:8080;/);
    } finally {
      await served.close();
    }
    const without = await appWith(false);
    try {
      const answer = await preflight(without);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, 'no admin routes, no CORS for them');
      assert.equal((await fetch(`${await without.getUrl()}/rsm/types`)).status, 404);
    } finally {
      await without.close();
      await dropSchemas(asyncSchema);
    }
  });
});
