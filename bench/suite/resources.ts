/**
 * What a delivery costs, read from the machine rather than estimated: CPU time of every process of
 * the stack (the apps, every process of the Postgres cluster, Redis) from /proc, Postgres
 * transactions from pg_stat_database, and jobs and HTTP calls from the apps' own metrics.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 a second on every mainstream build). */
const TICKS_PER_SECOND = 100;

export interface Counters {
  readonly atMs: number;
  /** CPU ms of the app processes, of the Postgres cluster and of Redis, since each started. */
  readonly cpuMs: { apps: number; postgres: number; redis: number };
  /** Committed and rolled-back transactions of the database. */
  readonly transactions: number;
  /** Jobs put on BullMQ queues (inbound events and drain doorbells), summed over the apps. */
  readonly jobs: number;
  /** HTTP requests the apps served, probes and metrics scrapes left out. */
  readonly httpCalls: number;
  /** DeliverySaga transitions into each terminal state (only the workflow has sagas). */
  readonly sagasEnded: { Completed: number; Failed: number; Cancelled: number };
}

/**
 * CPU ticks of a process; with `reaped`, also those of its children that ended and were waited for
 * (cutime, cstime). Postgres ends idle backends and starts new ones: the postmaster's reaped time
 * plus its live children's is a total that does not lose the CPU of a backend that ended between
 * two readings.
 */
function cpuTicks(pid: number, reaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ": utime, stime, cutime, cstime are 14-17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
  } catch {
    return 0; // the process ended between listing and reading
  }
}

function processes(): { pid: number; ppid: number; cmdline: string }[] {
  const out: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').replaceAll('\0', ' ');
      const status = readFileSync(join('/proc', entry, 'status'), 'utf8');
      out.push({ pid: Number(entry), ppid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0), cmdline });
    } catch {
      // gone already
    }
  }
  return out;
}

/** Sums the counter `name` over the Prometheus text `body`, for samples whose labels pass `keep`. */
export function sumMetric(body: string, name: string, keep: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (match?.[1] !== name || !keep(match[2] ?? '')) continue;
    total += Number(match[3]);
  }
  return total;
}

export class ResourceProbe {
  private postmaster = 0;
  private redisPid = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly redis: Redis,
    /** `/metrics` of every app. */
    private readonly metricsUrls: readonly string[],
  ) {}

  static async open(databaseUrl: string, redisUrl: string, metricsUrls: readonly string[]): Promise<ResourceProbe> {
    const probe = new ResourceProbe(new pg.Pool({ connectionString: databaseUrl, max: 1 }), new Redis(redisUrl, { maxRetriesPerRequest: 1 }), metricsUrls);
    const dataDirectory = (await probe.pool.query<{ data_directory: string }>('SHOW data_directory')).rows[0]?.data_directory ?? '';
    try {
      probe.postmaster = Number(readFileSync(join(dataDirectory, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      probe.postmaster = 0; // another user's data directory: Postgres CPU is then not counted (reported as 0)
    }
    probe.redisPid = Number(/process_id:(\d+)/.exec(await probe.redis.info('server'))?.[1] ?? 0);
    return probe;
  }

  /** Whether Postgres's CPU can be read (the data directory is readable by this user). */
  get seesPostgres(): boolean {
    return this.postmaster > 0;
  }

  async read(): Promise<Counters> {
    const all = processes();
    const ms = (pids: number[]) => (pids.reduce((sum, pid) => sum + cpuTicks(pid), 0) * 1_000) / TICKS_PER_SECOND;
    const apps = all.filter((p) => /dist\/apps\/[a-z-]+\/(main\.mjs|src\/main\.js)/.test(p.cmdline)).map((p) => p.pid);
    const postgres = this.postmaster > 0 ? all.filter((p) => p.ppid === this.postmaster).map((p) => p.pid) : [];
    const transactions = Number(
      (await this.pool.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]?.n ?? 0,
    );
    const bodies = await Promise.all(this.metricsUrls.map(async (url) => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text()));
    const jobs = bodies.reduce((sum, body) => sum + sumMetric(body, 'rsm_transport_published_total', (l) => /channel="(inbound|drain)"/.test(l)), 0);
    const httpCalls = bodies.reduce((sum, body) => sum + sumMetric(body, 'http_request_duration_seconds_count', (l) => !/route="\/(metrics|health\/[a-z]+)"/.test(l)), 0);
    const ended = (to: string) => bodies.reduce((sum, body) => sum + sumMetric(body, 'rsm_transitions_total', (l) => l.includes('type="DeliverySaga"') && l.includes(`to="${to}"`)), 0);
    return {
      atMs: Date.now(),
      cpuMs: { apps: ms(apps), postgres: ms(postgres) + (this.postmaster > 0 ? (cpuTicks(this.postmaster, true) * 1_000) / TICKS_PER_SECOND : 0), redis: ms(this.redisPid > 0 ? [this.redisPid] : []) },
      transactions,
      jobs,
      httpCalls,
      sagasEnded: { Completed: ended('Completed'), Failed: ended('Failed'), Cancelled: ended('Cancelled') },
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
    this.redis.disconnect();
  }
}
