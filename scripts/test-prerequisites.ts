/**
 * The first step of `npm test`, so that the README's test command works on a fresh machine right
 * after `npm ci`: Postgres and Redis must answer at `DATABASE_URL` / `REDIS_URL` (a local one is
 * started the way `npm start` starts it), and the programs the stack tests run (Debian's
 * `prometheus` with `promtool`, `docker-compose`, `kubectl`, `chromium`) are installed with apt-get when missing
 * and this is root on Debian. Otherwise it stops at once, naming what to install.
 */
import { spawnSync } from 'node:child_process';
import { suiteConfig as config } from './suite/config.js';
import { ensurePostgres, ensureRedis } from './suite/infra.js';


/** Each program the tests run, and the Debian package that provides it. */
const programs: readonly { command: string; pkg: string; usedBy: string }[] = [
  { command: 'prometheus', pkg: 'prometheus', usedBy: 'test/stack/observability (a real Prometheus scrapes the suite)' },
  { command: 'promtool', pkg: 'prometheus', usedBy: 'test/stack/observability (config and alert rules)' },
  { command: 'docker-compose', pkg: 'docker-compose', usedBy: 'test/stack/manifests (docker-compose config)' },
  { command: 'kubectl', pkg: 'kubectl', usedBy: 'test/stack/manifests (kubectl kustomize)' },
  { command: 'pg_ctlcluster', pkg: 'postgresql-common', usedBy: 'the crash and chaos tests (Postgres restarts)' },
  { command: 'redis-server', pkg: 'redis-server', usedBy: 'test/stack/redis-tls (a private Redis that speaks only TLS)' },
  { command: 'chromium', pkg: 'chromium', usedBy: 'libs/rsm/test/console.e2e (the operator console in a headless browser, driven by playwright-core)' },
  { command: 'runuser', pkg: 'util-linux', usedBy: 'npm start as root (a private PostgreSQL runs as postgres)' },
];

const log = (line: string) => console.log(`[prerequisites] ${line}`);
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function fail(message: string): never {
  console.error(`[prerequisites] ${message}`);
  process.exit(1);
}

let missing = programs.filter((p) => !has(p.command));
if (missing.length > 0) {
  const packages = [...new Set(missing.map((p) => p.pkg))];
  const canInstall = process.getuid?.() === 0 && has('apt-get');
  if (!canInstall) {
    fail(
      `missing ${missing.map((p) => `${p.command} (${p.usedBy})`).join('; ')}.\n` +
        `Install them, e.g. on Debian or Ubuntu: sudo apt-get install ${packages.join(' ')}`,
    );
  }
  log(`installing ${packages.join(', ')} from Debian's packages (for ${missing.map((p) => p.command).join(', ')})`);
  const apt = (...args: string[]) => spawnSync('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], { encoding: 'utf8' });
  const update = apt('update', '-qq');
  const install = update.status === 0 ? apt('install', '-y', '-qq', '--no-install-recommends', ...packages) : update;
  missing = programs.filter((p) => !has(p.command));
  if (install.status !== 0 || missing.length > 0) {
    console.error(`${install.stdout}${install.stderr}`.slice(-4_000));
    fail(`apt-get could not provide ${missing.map((p) => p.command).join(', ') || packages.join(', ')}: install ${packages.join(' ')} by hand`);
  }
}

// Reached or started the way `npm start` does; whatever this starts is left running for the tests.
try {
  await Promise.all([ensurePostgres(config.DATABASE_URL, config.RUN_DIR, log), ensureRedis(config.REDIS_URL, config.RUN_DIR, log)]);
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
log('Postgres, Redis and every program the tests run are here');
