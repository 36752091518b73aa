import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SERVICES } from '#contracts';
import { defineMachine, RsmRuntime, RsmStartupError } from '#rsm';
import { appKeyEnv, generateCredentials } from '../../scripts/suite/credentials.js';
import { makeTlsMaterial, type TlsMaterial } from '../../scripts/tls/certificates.js';
import { inheritedEnv, suiteTestConfig } from '../support/config.js';
import { http, SuiteProcesses } from '../support/suite-processes.js';

const DIST = join(import.meta.dirname, '..', '..');
const PASSWORD = 'tls-test-password';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs an app with `env` until it exits by itself; resolves with its code and output. */
async function runUntilExit(app: string, env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const child: ChildProcess = spawn(process.execPath, [join(DIST, 'apps', app, 'main.mjs')], {
    env: { ...inheritedEnv, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

const Probe = defineMachine<{ n: number }, { type: 'Touch' }>()({
  type: 'TlsProbe',
  initial: 'Open',
  initialData: () => ({ n: 0 }),
  states: { Open: { on: { Touch: (data) => void (data.n += 1) } } },
});

describe('Redis over TLS with client certificates', { concurrency: false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsm-redis-tls-'));
  let tls: TlsMaterial;
  let redisServer: ChildProcess;
  let port: number;
  const files = {
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
  };
  const url = () => `rediss://:${PASSWORD}@127.0.0.1:${port}`;

  before(async () => {
    tls = await makeTlsMaterial(['localhost', '127.0.0.1']);
    writeFileSync(join(dir, 'redis.crt'), tls.serverCert);
    writeFileSync(join(dir, 'redis.key'), tls.serverKey, { mode: 0o600 });
    writeFileSync(files.ca, tls.caCert);
    writeFileSync(files.cert, tls.clientCert);
    writeFileSync(files.key, tls.clientKey, { mode: 0o600 });
    port = await freePort();
    // No plain-text port at all: every connection that works went through TLS.
    redisServer = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        join(dir, 'redis.crt'),
        '--tls-key-file',
        join(dir, 'redis.key'),
        '--tls-ca-cert-file',
        files.ca,
        '--tls-auth-clients',
        'yes',
        '--requirepass',
        PASSWORD,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const probe = new Redis(url(), {
        tls: { ca: tls.caCert, cert: tls.clientCert, key: tls.clientKey },
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        assert.equal(await probe.ping(), 'PONG');
        probe.disconnect();
        break;
      } catch (error) {
        probe.disconnect();
        if (Date.now() > deadline) throw new Error(`redis-server with TLS did not answer: ${String(error)}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });

  after(() => {
    redisServer?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the whole suite over TLS: a delivery completes and every app is ready without degradation', async () => {
    const tlsEnv = {
      REDIS_URL: url(),
      REDIS_TLS_CA_FILE: files.ca,
      REDIS_TLS_CERT_FILE: files.cert,
      REDIS_TLS_KEY_FILE: files.key,
    };
    const suite = new SuiteProcesses({
      ...Object.fromEntries(SERVICES.filter((s) => s !== 'drone-sim').map((s) => [s, tlsEnv])),
      'drone-scheduler': { ...tlsEnv, FLEET_SIZE: '3' },
      'drone-sim': { LEG_MS_MIN: '0', LEG_MS_MAX: '50' },
    });
    try {
      await suite.startAll();
      for (const service of SERVICES.filter((s) => s !== 'drone-sim')) {
        const ready = await http('GET', `${suite.url(service)}/health/ready`);
        assert.equal(ready.status, 200, service);
        assert.doesNotMatch(JSON.stringify(ready.body), /degraded/, `${service} reaches Redis: ${JSON.stringify(ready.body)}`);
      }
      const now = Date.now();
      const answer = await http(
        'POST',
        `${suite.url('ingestion')}/api/deliveryrequests`,
        {
          ownerId: suite.keys.customerOwners[0],
          pickupLocation: 'tls pickup',
          dropOffLocation: 'tls drop',
          pickupTime: new Date(now).toISOString(),
          deadline: new Date(now + 10 * 60_000).toISOString(),
          expedited: false,
          confirmationRequired: 'None',
          packageInfo: {
            packageId: `tls-${now}`,
            size: 'Small',
            weight: 1,
            tag: 'tls',
          },
        },
        suite.auth('customer'),
      );
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      const id = (answer.body as { deliveryId: string }).deliveryId;
      const deadline = Date.now() + 60_000;
      let state = '';
      while (state !== 'Completed') {
        assert.ok(Date.now() < deadline, `delivery ${id} still ${state} after 60 s`);
        state = ((await http('GET', `${suite.url('workflow')}/api/workflows/${id}`, undefined, suite.auth('operator'))).body as { state?: string }).state ?? '';
        if (state !== 'Completed') await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await suite.stopAll();
    }
  });

  const runtimeWith = (redisTls: { ca?: string; cert?: string; key?: string } | undefined) =>
    new RsmRuntime(
      {
        service: 'tls-probe',
        postgres: {
          url: suiteTestConfig.DATABASE_URL,
          schema: `tls_probe_${process.pid}`,
        },
        redis: {
          url: url(),
          signingKeys: ['tls-test-signing-key-0123456789abcdef'],
          startupTimeoutMs: 1_500,
          ...(redisTls !== undefined ? { tls: redisTls } : {}),
        },
      },
      {
        machines: [Probe],
        logger: {
          debug: () => undefined,
          info: () => undefined,
          warn: () => undefined,
          error: () => undefined,
          child: function () {
            return this;
          },
        },
      },
    );

  it('refuses to start when the server certificate is not trusted or no client certificate is offered', async () => {
    for (const [what, settings] of [
      ['no CA (Node does not trust the private CA)', undefined],
      ['the CA but no client certificate', { ca: tls.caCert }],
    ] as const) {
      const runtime = runtimeWith(settings);
      await assert.rejects(runtime.start(), (error: unknown) => {
        assert.ok(error instanceof RsmStartupError, `${what}: ${String(error)}`);
        assert.match(error.message, new RegExp(`redis at 127\\.0\\.0\\.1:${port} did not answer`), what);
        return true;
      });
    }
  });

  it('stops an app at start-up naming the TLS setting that is wrong', async () => {
    const base = {
      PORT: String(await freePort()),
      DATABASE_URL: suiteTestConfig.DATABASE_URL,
      ...appKeyEnv(generateCredentials()),
    };
    const missing = await runUntilExit('ingestion', {
      ...base,
      REDIS_URL: url(),
      REDIS_TLS_CA_FILE: join(dir, 'no-such.crt'),
    });
    assert.notEqual(missing.code, 0);
    assert.match(missing.output, /REDIS_TLS_CA_FILE: cannot read .*no-such\.crt: ENOENT/);
    const notPem = await runUntilExit('ingestion', {
      ...base,
      REDIS_URL: url(),
      REDIS_TLS_CA_FILE: files.key,
    });
    assert.match(notPem.output, /REDIS_TLS_CA_FILE: the file holds no PEM CERTIFICATE/);
    const plain = await runUntilExit('ingestion', {
      ...base,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_TLS_CA_FILE: files.ca,
    });
    assert.match(plain.output, /REDIS_URL: must be rediss:\/\/ when REDIS_TLS_\* is set/);
    const half = await runUntilExit('ingestion', {
      ...base,
      REDIS_URL: url(),
      REDIS_TLS_CERT_FILE: files.cert,
    });
    assert.match(half.output, /REDIS_TLS_CERT_FILE: REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/);
  });
});
