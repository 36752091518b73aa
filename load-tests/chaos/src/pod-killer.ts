import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { inheritedEnv } from './config.js';

const exec = promisify(execFile);

/** Kills a pod of an app, the way its platform would see a crash. */
export interface PodKiller {
  readonly name: string;
  kill(app: string): Promise<string>;
}

/** The processes `npm start` supervises: SIGKILL one of the app's processes; PM2 starts it again. */
export function localKiller(runDir: string, pm2Bin: string): PodKiller {
  const state = JSON.parse(readFileSync(join(runDir, 'suite.json'), 'utf8')) as { apps: { service: string; name: string }[] };
  return {
    name: 'local',
    kill: async (app) => {
      const name = state.apps.find((a) => a.service === app)?.name;
      if (name === undefined) throw new Error(`no app ${app} in ${runDir}/suite.json`);
      const { stdout } = await exec(process.execPath, [pm2Bin, 'jlist'], { env: { ...inheritedEnv, PM2_HOME: join(runDir, 'pm2') } });
      const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { name: string; pid: number }[];
      const running = list.filter((p) => p.name === name && p.pid > 0);
      const pid = running[Math.floor(Math.random() * running.length)]?.pid;
      if (pid === undefined) return `${app}: not running`;
      process.kill(pid, 'SIGKILL');
      return `${app}: SIGKILL pid ${pid}`;
    },
  };
}

/** docker compose: `kill -s SIGKILL` the app's container (restart: unless-stopped brings it back). */
export function composeKiller(projectDir: string): PodKiller {
  return {
    name: 'compose',
    kill: async (app) => {
      await exec('docker', ['compose', 'kill', '-s', 'SIGKILL', app], { cwd: projectDir });
      return `${app}: docker compose kill -s SIGKILL`;
    },
  };
}

/** Kubernetes: force-delete one pod of the app by label; its Deployment replaces it. */
export function kubernetesKiller(namespace: string): PodKiller {
  return {
    name: 'kubernetes',
    kill: async (app) => {
      const { stdout } = await exec('kubectl', ['get', 'pods', '-n', namespace, '-l', `app.kubernetes.io/name=${app}`, '-o', 'jsonpath={.items[*].metadata.name}']);
      const pods = stdout.split(' ').filter((p) => p !== '');
      const pod = pods[Math.floor(Math.random() * pods.length)];
      if (pod === undefined) return `${app}: no pod`;
      await exec('kubectl', ['delete', 'pod', pod, '-n', namespace, '--grace-period=0', '--force']);
      return `${app}: force-deleted ${pod}`;
    },
  };
}

/** Redis loses everything it holds (the suite must lose nothing: Postgres has it all). */
export async function flushRedis(url: string): Promise<string> {
  const redis = new Redis(url);
  try {
    await redis.flushall();
    return 'redis: FLUSHALL';
  } finally {
    redis.disconnect();
  }
}

/** Restarts the local Postgres cluster (fast shutdown: every connection is cut). */
export async function restartPostgres(): Promise<string> {
  const { stdout } = await exec('sh', ['-c', 'ls /etc/postgresql | sort -V | tail -n 1']);
  const version = stdout.trim();
  await exec('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart', '-m', 'fast']);
  return `postgres ${version}: restarted`;
}
