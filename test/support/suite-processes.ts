import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { SERVICES, type ServiceName } from '#contracts';
import type { SuiteUrls } from '#verifier';
import { appKeyEnv, generateCredentials, type SuiteCredentials } from '../../scripts/suite/credentials.js';
import { inheritedEnv, suiteTestConfig } from './config.js';
import { freePortBaseSync } from './ports.js';

const DIST = join(import.meta.dirname, '..', '..');

/** Settings per app, on top of what every app gets. */
export type AppEnv = Partial<Record<ServiceName, Record<string, string>>>;

export interface SuiteProcessesOptions {
  /** How long `start` waits for an app's `/health/ready` (default 120 s: six apps starting at once on two loaded cores took more than 30 s). */
  readonly readyTimeoutMs?: number;
}

interface Running {
  process: ChildProcess;
  exited: Promise<void>;
  output: string[];
}

/**
 * The six apps of the suite as separate processes on loopback, each with its own schema, sharing
 * a Redis prefix no other test uses. Apps can be killed and started again, as pods are.
 */
export class SuiteProcesses {
  readonly ports: Record<ServiceName, number>;
  readonly runId = randomBytes(3).toString('hex');
  /** The API keys every app of this run is configured with. */
  readonly keys: SuiteCredentials = generateCredentials();
  /** Running apps by service and replica (`workflow#1`); replica 0 listens on the service's own port. */
  private readonly running = new Map<string, Running>();
  /** Ports of replicas other than 0, four at most: the free slots of this run's block of ten. */
  private readonly replicaPorts = new Map<string, number>();
  private readonly base: number;
  private readonly extraEnv: AppEnv;
  private readonly readyTimeoutMs: number;

  /** `extraEnv` may be a function of this suite, for settings that name its URLs. */
  constructor(extraEnv: AppEnv | ((suite: SuiteProcesses) => AppEnv) = {}, options: SuiteProcessesOptions = {}) {
    // A block of ten whose ports are free now (other servers on this machine may hold some).
    const base = freePortBaseSync(21_000, 400, 10);
    this.base = base;
    this.ports = Object.fromEntries(SERVICES.map((service, i) => [service, base + i])) as Record<ServiceName, number>;
    this.extraEnv = typeof extraEnv === 'function' ? extraEnv(this) : extraEnv;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  }

  /** The URL of an app; `replica` > 0 is a further pod of the same service (same schema, own port). */
  url(service: ServiceName, replica = 0): string {
    return `http://127.0.0.1:${this.port(service, replica)}`;
  }

  /** How `running` and the messages name a pod: the service for replica 0, `service#n` for the others. */
  private podName(service: ServiceName, replica: number): string {
    return replica === 0 ? service : `${service}#${replica}`;
  }

  private port(service: ServiceName, replica: number): number {
    if (replica === 0) return this.ports[service];
    const key = this.podName(service, replica);
    let port = this.replicaPorts.get(key);
    if (port === undefined) {
      if (this.replicaPorts.size >= 10 - SERVICES.length) throw new Error(`no port left for ${key}`);
      port = this.base + SERVICES.length + this.replicaPorts.size;
      this.replicaPorts.set(key, port);
    }
    return port;
  }

  /** `Authorization` headers of each kind of caller. */
  auth(as: 'customer' | 'other' | 'service' | 'operator'): Record<string, string> {
    const key = { customer: this.keys.customerKey, other: this.keys.otherCustomerKey, service: this.keys.serviceKey, operator: this.keys.operatorKey }[as];
    return { authorization: `Bearer ${key}` };
  }

  get urls(): SuiteUrls {
    return { ingestion: this.url('ingestion'), workflow: this.url('workflow'), package: this.url('package'), 'drone-scheduler': this.url('drone-scheduler'), delivery: this.url('delivery') };
  }

  schema(service: ServiceName): string {
    return `e2e_${this.runId}_${service.replaceAll('-', '_')}`;
  }

  async startAll(): Promise<void> {
    await Promise.all(SERVICES.map((service) => this.start(service)));
  }

  /**
   * Starts one app and waits until it is ready; `overrides` replace this app's settings for this
   * start (a changed configuration, or another release); `replica` > 0 starts a further pod.
   */
  async start(service: ServiceName, overrides: Record<string, string> = {}, replica = 0): Promise<void> {
    const name = this.podName(service, replica);
    const env = {
      ...inheritedEnv,
      PORT: String(this.port(service, replica)),
      HOST: '127.0.0.1',
      DATABASE_URL: suiteTestConfig.DATABASE_URL,
      REDIS_URL: suiteTestConfig.REDIS_URL,
      DB_SCHEMA: this.schema(service),
      REDIS_PREFIX: `e2e-${this.runId}`,
      LOG_LEVEL: 'warn',
      SIM_URL: this.url('drone-sim'),
      DRONE_SCHEDULER_URL: this.url('drone-scheduler'),
      DELIVERY_URL: this.url('delivery'),
      ...appKeyEnv(this.keys),
      // The tests' webhook receiver listens on loopback, over http.
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      ...this.extraEnv[service],
      ...overrides,
    };
    const child = spawn(process.execPath, [join(DIST, 'apps', service, 'main.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.running.set(name, { process: child, exited, output });
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${output.join('')}`);
      try {
        const response = await fetch(`${this.url(service, replica)}/health/ready`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${name} not ready after ${this.readyTimeoutMs / 1_000} s: ${output.join('').slice(-2_000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGKILLs one app (as a pod killed) and resolves once it is gone. */
  async kill(service: ServiceName, replica = 0): Promise<void> {
    const name = this.podName(service, replica);
    const app = this.running.get(name);
    if (app === undefined) return;
    if (app.process.exitCode === null && app.process.signalCode === null) app.process.kill('SIGKILL');
    await app.exited;
    this.running.delete(name);
  }

  logs(service: ServiceName, replica = 0): string {
    return this.running.get(this.podName(service, replica))?.output.join('') ?? '';
  }

  /** Stops every app gracefully (SIGTERM), drops the schemas, and returns how each ended, with its last output. */
  async stopAll(): Promise<Record<string, { ended: string; output: string }>> {
    const codes: Record<string, { ended: string; output: string }> = {};
    await Promise.all(
      [...this.running.entries()].map(async ([service, app]) => {
        if (app.process.exitCode === null && app.process.signalCode === null) app.process.kill('SIGTERM');
        const timer = setTimeout(() => app.process.kill('SIGKILL'), 10_000);
        await app.exited;
        clearTimeout(timer);
        codes[service] = { ended: app.process.exitCode !== null ? `exit ${app.process.exitCode}` : `signal ${app.process.signalCode ?? '?'}`, output: app.output.join('') };
      }),
    );
    this.running.clear();
    const pool = new pg.Pool({ connectionString: suiteTestConfig.DATABASE_URL, max: 2 });
    try {
      for (const service of SERVICES) await pool.query(`DROP SCHEMA IF EXISTS "${this.schema(service)}" CASCADE`);
    } finally {
      await pool.end();
    }
    return codes;
  }
}

/** JSON over HTTP for tests: returns status and parsed body. */
export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
