/**
 * `npm start`: brings the whole suite up on this machine. Postgres and Redis are used where they
 * answer, else started (compose with a Docker engine, else locally installed servers); every app
 * runs as its own process under PM2, which restarts it when it dies; each app migrates its schema
 * at start-up. Prints where each app listens. `npm stop` undoes all of it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '#contracts';
import { projectRoot, suiteConfig as config } from './config.js';
import { appKeyEnv, credentialsEnv, loadOrCreateCredentials } from './credentials.js';
import { ensurePostgres, ensureRedis } from './infra.js';
import { connectSupervisor, processName } from './supervisor.js';
import { stateFile, type SuiteState } from './state.js';

const log = (line: string) => console.log(`[suite] ${line}`);
mkdirSync(config.RUN_DIR, { recursive: true });

let postgres;
let redis;
try {
  [postgres, redis] = await Promise.all([ensurePostgres(config.DATABASE_URL, config.RUN_DIR, log), ensureRedis(config.REDIS_URL, config.RUN_DIR, log)]);
} catch (error) {
  console.error(`[suite] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const port = (i: number) => config.PORT_BASE + i;
const url = (i: number) => `http://${config.HOST}:${port(i)}`;
const index = (service: string) => SERVICES.indexOf(service as (typeof SERVICES)[number]);
const state: SuiteState = { stack: config.STACK, postgres, redis, apps: [] };
writeFileSync(stateFile(config.RUN_DIR), JSON.stringify(state, null, 2));

const credentials = loadOrCreateCredentials(config.RUN_DIR);
const keyEnv = appKeyEnv(credentials);

const supervisor = await connectSupervisor();
try {
  for (const service of SERVICES) {
    const name = processName(config.STACK, service);
    await supervisor.remove(name).catch(() => undefined);
    const replicas = service === 'drone-sim' ? 1 : config.REPLICAS;
    await supervisor.start({
      name,
      script: join(projectRoot, 'dist', 'apps', service, 'main.mjs'),
      cwd: projectRoot,
      instances: replicas,
      exec_mode: replicas > 1 ? 'cluster' : 'fork',
      merge_logs: true,
      autorestart: true,
      restart_delay: 200,
      max_restarts: 1_000_000,
      kill_timeout: 10_000,
      output: join(config.RUN_DIR, 'logs', `${service}.out.log`),
      error: join(config.RUN_DIR, 'logs', `${service}.err.log`),
      env: {
        PORT: String(port(index(service))),
        HOST: config.HOST,
        DATABASE_URL: config.DATABASE_URL,
        REDIS_URL: config.REDIS_URL,
        DB_SCHEMA: `${config.STACK}_${service.replaceAll('-', '_')}`,
        REDIS_PREFIX: config.STACK,
        LOG_LEVEL: config.LOG_LEVEL,
        FLEET_SIZE: String(config.FLEET_SIZE),
        SIM_URL: url(index('drone-sim')),
        DRONE_SCHEDULER_URL: url(index('drone-scheduler')),
        DELIVERY_URL: url(index('delivery')),
        LEG_MS_MIN: String(config.LEG_MS_MIN),
        LEG_MS_MAX: String(config.LEG_MS_MAX),
        // Longer than events may wait while admission still takes work (3 s), five longest legs and
        // 1 s: a shorter watchdog fires for flights that are only late, and each of its calls is
        // work more for a suite already behind (at 2 s, 2.1 a delivery when offered twice the maximum).
        FLIGHT_WATCHDOG_MS: String(config.FLIGHT_WATCHDOG_MS ?? Math.max(5_000, 5 * config.LEG_MS_MAX + 4_000)),
        ...keyEnv,
        // A local demo may register plain-http webhooks; private addresses stay refused.
        WEBHOOK_ALLOW_HTTP: 'true',
        // No PM2 agent inside the apps (PM2 reads this variable in the app's process): it wraps HTTP
        // handling for metrics Prometheus already has, and a pod in Kubernetes runs without it.
        pmx: 'false',
        // Each service's operator console covers the others' too (drone-sim runs no machines).
        RSM_CONSOLE_SERVICES: SERVICES.filter((s) => s !== 'drone-sim')
          .map((s) => `${s}=${url(index(s)).replace('//0.0.0.0:', '//127.0.0.1:')}`)
          .join(','),
      },
    });
    state.apps.push({ service, name, url: url(index(service)) });
  }
  writeFileSync(stateFile(config.RUN_DIR), JSON.stringify(state, null, 2));

  const deadline = Date.now() + config.READY_TIMEOUT_MS;
  const pending = new Set(state.apps.map((a) => a.service));
  while (pending.size > 0 && Date.now() < deadline) {
    for (const app of state.apps) {
      if (!pending.has(app.service)) continue;
      const ready = await fetch(`${app.url}/health/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ready) pending.delete(app.service);
    }
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  for (const app of state.apps) console.log(`${app.service.padEnd(16)} ${app.url}${pending.has(app.service) ? '   NOT READY (see .run/logs)' : ''}`);
  if (pending.size > 0) {
    console.error(`[suite] not ready after ${config.READY_TIMEOUT_MS} ms: ${[...pending].join(', ')}; logs in ${join(config.RUN_DIR, 'logs')}`);
    process.exitCode = 1;
  } else {
    log(`up: OpenAPI at ${url(0)}/api/docs; stop with npm stop`);
    log(`API keys (Authorization: Bearer <key>), also in ${credentialsEnv(config.RUN_DIR)}:`);
    console.log(`  customer (owners ${credentials.customerOwners.join(', ')}): ${credentials.customerKey}`);
    console.log(`  customer (owners ${credentials.otherCustomerOwners.join(', ')}): ${credentials.otherCustomerKey}`);
    console.log(`  service: ${credentials.serviceKey}`);
    console.log(`  operator: ${credentials.operatorKey}`);
    log(`in a shell: . ${credentialsEnv(config.RUN_DIR)}`);
  }
} finally {
  supervisor.disconnect();
}
