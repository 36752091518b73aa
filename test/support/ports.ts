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
