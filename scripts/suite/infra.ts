import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Redis } from 'ioredis';
import { projectRoot } from './config.js';

const exec = promisify(execFile);

/** How a dependency was provided, so that `npm stop` stops only what `npm start` started. */
export type Provided =
  | { kind: 'external' }
  | { kind: 'docker'; service: 'postgres' | 'redis' }
  | { kind: 'pg_ctlcluster'; version: string }
  | { kind: 'pg_ctl'; dataDir: string; bin: string }
  | { kind: 'redis-server'; port: number; pidFile: string };

export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function redisReachable(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const which = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const isLocal = (host: string) => ['127.0.0.1', 'localhost', '::1', ''].includes(host);

function dockerEngine(): boolean {
  return which('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return check();
}

/** The host and port of a server that does not answer; only a local one can be started here. */
function localTarget(url: string, defaultPort: number, name: string): { hostname: string; portNumber: number } {
  const { hostname, port } = new URL(url);
  const portNumber = Number(port || defaultPort);
  if (!isLocal(hostname)) throw new Error(`${name} at ${hostname}:${portNumber} does not answer, and only a local one can be started here`);
  return { hostname, portNumber };
}

/** Starts the compose file's service when a Docker engine is present; undefined when that did not make it answer. */
async function startWithCompose(service: 'postgres' | 'redis', name: string, reachable: () => Promise<boolean>, log: (line: string) => void): Promise<Provided | undefined> {
  if (!dockerEngine()) return undefined;
  log(`starting ${name} with docker compose`);
  await exec('docker', ['compose', 'up', '-d', '--wait', service], { cwd: projectRoot });
  return (await waitFor(reachable, 30_000)) ? { kind: 'docker', service } : undefined;
}

/**
 * Makes Postgres reachable at `url`: uses it if it answers; else starts the compose service (with a
 * Docker engine) or a locally installed cluster on the URL's port. Fails with what to install.
 */
export async function ensurePostgres(url: string, runDir: string, log: (line: string) => void): Promise<Provided> {
  if (await postgresReachable(url)) return { kind: 'external' };
  const { hostname, portNumber } = localTarget(url, 5432, 'PostgreSQL');
  const composed = await startWithCompose('postgres', 'PostgreSQL', () => postgresReachable(url), log);
  if (composed !== undefined) return composed;
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql').sort() : [];
  const cluster = versions.at(-1);
  if (cluster !== undefined && which('pg_ctlcluster') && clusterPort(cluster) === portNumber) {
    log(`starting the local PostgreSQL ${cluster} cluster`);
    spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster, 'main', 'start'], { stdio: 'ignore' });
    if (await waitFor(() => postgresReachable(url), 30_000)) return { kind: 'pg_ctlcluster', version: cluster };
  }
  const bin = postgresBin();
  let reason = 'no PostgreSQL server binaries (initdb, pg_ctl) are installed';
  if (bin !== undefined) {
    const dataDir = join(runDir, 'pgdata');
    log(`starting a private PostgreSQL on port ${portNumber} in ${dataDir}`);
    try {
      await startPrivatePostgres(bin, dataDir, runDir, portNumber, url);
      if (await waitFor(() => postgresReachable(url), 30_000)) return { kind: 'pg_ctl', dataDir, bin };
      reason = 'the private server started but does not answer';
    } catch (error) {
      reason = error instanceof Error ? error.message.split('\n').slice(0, 3).join(' ') : String(error);
    }
  }
  throw new Error(
    `PostgreSQL does not answer at ${hostname}:${portNumber} and nothing here can start one (${reason}). Install Docker (then the compose file provides it) or PostgreSQL (apt-get install postgresql), or set DATABASE_URL to a running server.`,
  );
}

/** Makes Redis reachable at `url`, like {@link ensurePostgres}. */
export async function ensureRedis(url: string, runDir: string, log: (line: string) => void): Promise<Provided> {
  if (await redisReachable(url)) return { kind: 'external' };
  const { hostname, portNumber } = localTarget(url, 6379, 'Redis');
  const composed = await startWithCompose('redis', 'Redis', () => redisReachable(url), log);
  if (composed !== undefined) return composed;
  if (which('redis-server')) {
    const dir = join(runDir, 'redis');
    mkdirSync(dir, { recursive: true });
    const pidFile = join(dir, 'redis.pid');
    log(`starting redis-server on port ${portNumber}`);
    spawnSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(portNumber), '--dir', dir, '--appendonly', 'yes', '--pidfile', pidFile, '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
    if (await waitFor(() => redisReachable(url), 15_000)) return { kind: 'redis-server', port: portNumber, pidFile };
  }
  throw new Error(
    `Redis does not answer at ${hostname}:${portNumber} and nothing here can start one. Install Docker (then the compose file provides it) or Redis (apt-get install redis-server), or set REDIS_URL to a running server.`,
  );
}

/** initdb and pg_ctl refuse root: as root they run as the `postgres` system user, which owns the data. */
function pgCommand(bin: string, tool: string, args: string[]): [string, string[]] {
  const path = join(bin, tool);
  if (process.getuid?.() !== 0) return [path, args];
  return ['runuser', ['-u', 'postgres', '--', path, ...args]];
}

async function startPrivatePostgres(bin: string, dataDir: string, runDir: string, port: number, url: string): Promise<void> {
  const user = new URL(url).username || 'postgres';
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true });
    if (process.getuid?.() === 0) await exec('chown', ['-R', 'postgres', dataDir, runDir]);
    await exec(...pgCommand(bin, 'initdb', ['-D', dataDir, '-U', user, '--auth=trust']));
  }
  await exec(...pgCommand(bin, 'pg_ctl', ['-D', dataDir, '-l', join(dataDir, 'server.log'), '-o', `-p ${port} -k ${dataDir}`, '-w', 'start']));
  const database = new URL(url).pathname.slice(1) || 'postgres';
  await exec(...pgCommand(bin, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', user, database])).catch(() => undefined);
}

/** Stops what {@link ensurePostgres} or {@link ensureRedis} started. */
export async function stopProvided(provided: Provided): Promise<void> {
  switch (provided.kind) {
    case 'external':
      return;
    case 'docker':
      await exec('docker', ['compose', 'stop', provided.service], { cwd: projectRoot });
      return;
    case 'pg_ctlcluster':
      spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', provided.version, 'main', 'stop'], { stdio: 'ignore' });
      return;
    case 'pg_ctl':
      await exec(...pgCommand(provided.bin, 'pg_ctl', ['-D', provided.dataDir, '-m', 'fast', 'stop'])).catch(() => undefined);
      return;
    case 'redis-server':
      spawnSync('redis-cli', ['-p', String(provided.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
      return;
  }
}

function clusterPort(version: string): number {
  try {
    const conf = spawnSync('sh', ['-c', `grep -E '^port' /etc/postgresql/${version}/main/postgresql.conf`], { encoding: 'utf8' }).stdout;
    return Number(/port\s*=\s*(\d+)/.exec(conf)?.[1] ?? 5432);
  } catch {
    return 5432;
  }
}

function postgresBin(): string | undefined {
  if (which('initdb') && which('pg_ctl')) return '';
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const version = readdirSync(base).sort().at(-1);
  return version === undefined ? undefined : join(base, version, 'bin');
}
