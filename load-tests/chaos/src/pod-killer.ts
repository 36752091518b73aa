import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
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

/**
 * The processes `npm start` supervises: SIGKILL one of the app's processes; PM2 starts it again.
 * The pids come from the files PM2 keeps for each process (`$PM2_HOME/pids/<name>-<id>.pid`):
 * asking the PM2 daemon (`pm2 jlist`) starts a Node process that takes a second or more of CPU
 * under load, taken from the suite being measured, and delays the kill by as much.
 */
export function localKiller(runDir: string, pm2Bin: string): PodKiller {
  const state = JSON.parse(readFileSync(join(runDir, 'suite.json'), 'utf8')) as { apps: { service: string; name: string }[] };
  const pidsDir = join(runDir, 'pm2', 'pids');
  const fromFiles = (name: string): number[] => {
    const files = existsSync(pidsDir) ? readdirSync(pidsDir).filter((f) => f.startsWith(`${name}-`) && /^\d+\.pid$/.test(f.slice(name.length + 1))) : [];
    // A file PM2 removes between the listing and the read is no pid, not a failed kill.
    const read = (f: string) => {
      try {
        return Number(readFileSync(join(pidsDir, f), 'utf8').trim());
      } catch {
        return Number.NaN;
      }
    };
    return files.map(read).filter((pid) => Number.isInteger(pid) && pid > 0 && startedBy(pid, name));
  };
  const fromDaemon = async (name: string): Promise<number[]> => {
    const { stdout } = await exec(process.execPath, [pm2Bin, 'jlist'], { env: { ...inheritedEnv, PM2_HOME: join(runDir, 'pm2') } });
    const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { name: string; pid: number }[];
    return list.filter((p) => p.name === name && p.pid > 0).map((p) => p.pid);
  };
  return {
    name: 'local',
    kill: async (app) => {
      const name = state.apps.find((a) => a.service === app)?.name;
      if (name === undefined) throw new Error(`no app ${app} in ${runDir}/suite.json`);
      let running = fromFiles(name);
      if (running.length === 0) running = await fromDaemon(name);
      const pid = running[Math.floor(Math.random() * running.length)];
      if (pid === undefined) return `${app}: not running`;
      process.kill(pid, 'SIGKILL');
      return `${app}: SIGKILL pid ${pid}`;
    },
  };
}

/**
 * Whether `pid` is alive and is the PM2 process `name` (PM2 puts `name` in its environment): a pid
 * file outlives its process, and its number may have gone to another one. Without /proc, no.
 */
function startedBy(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`name=${name}`);
  } catch {
    return false;
  }
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
