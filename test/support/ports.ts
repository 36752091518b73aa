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
    const all = await Promise.all(Array.from({ length: count }, (_, i) => free(base + i)));
    if (all.every(Boolean)) return base;
  }
  throw new Error(`no ${count} free ports in a row from ${from} in 50 tries`);
}

/** Listens on each port given (127.0.0.1) and exits 0 only if every one was free; run by {@link freePortBaseSync}. */
const PROBE = `const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
Promise.all(ports.map((port) => new Promise((resolve) => {
  const server = net.createServer();
  server.once('error', () => resolve(false));
  server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
}))).then((free) => process.exit(free.every(Boolean) ? 0 : 1));`;

/**
 * {@link freePortBase} for a caller that cannot wait (a constructor that hands out URLs): each
 * candidate block is probed by a short-lived child process.
 */
export function freePortBaseSync(from: number, slots: number, count = 6): number {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = from + Math.floor(Math.random() * slots) * 10;
    const probe = spawnSync(process.execPath, ['-e', PROBE, ...Array.from({ length: count }, (_, i) => String(base + i))], { timeout: 10_000, stdio: 'ignore' });
    if (probe.status === 0) return base;
  }
  throw new Error(`no ${count} free ports in a row from ${from} in 50 tries`);
}
