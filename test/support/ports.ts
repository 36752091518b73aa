import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** Whether a listen on 127.0.0.1:`port` succeeds now (nothing there, on that address or all of them). */
function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A random port base `from + 10 * k` (k below `slots`) whose `count` consecutive ports are free now.
 * Other servers live on this machine (RabbitMQ's 25672, for one): a suite whose app lands on a taken
 * port never becomes ready.
 */
export async function freePortBase(from: number, slots: number, count = 6): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = from + Math.floor(Math.random() * slots) * 10;
    if (await portsFree(base, count)) return base;
  }
  throw new Error(`no ${count} free ports in a row from ${from} in 50 tries`);
}

/** Whether the `count` ports from `base` on are all free now. */
export async function portsFree(base: number, count: number): Promise<boolean> {
  const all = await Promise.all(Array.from({ length: count }, (_, i) => free(base + i)));
  return all.every(Boolean);
}

/** Run by {@link freePortBaseSync} in a child: this module's {@link portsFree}, answered by the exit code. */
const PROBE = 'import(process.argv[1]).then(async (m) => process.exit((await m.portsFree(Number(process.argv[2]), Number(process.argv[3]))) ? 0 : 1))';

/**
 * {@link freePortBase} for a caller that cannot wait (a constructor that hands out URLs): each
 * candidate block is probed by a short-lived child process.
 */
export function freePortBaseSync(from: number, slots: number, count = 6): number {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = from + Math.floor(Math.random() * slots) * 10;
    const probe = spawnSync(process.execPath, ['-e', PROBE, import.meta.url, String(base), String(count)], { timeout: 10_000, stdio: 'ignore' });
    if (probe.status === 0) return base;
  }
  throw new Error(`no ${count} free ports in a row from ${from} in 50 tries`);
}
