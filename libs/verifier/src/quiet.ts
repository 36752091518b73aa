import { TERMINAL_SAGA_STATES } from '#contracts';
import { readSnapshot, type SuiteSnapshot, type SuiteUrls } from './suite-snapshot.js';

const terminal = new Set<string>(TERMINAL_SAGA_STATES);

/**
 * Quiet: every saga terminal, every drone Idle or Offline and every Idle one back in the Fleet's
 * idle list (a drone is Idle one step before the Fleet hears of it), and the package of every
 * completed delivery told so (a saga completes before its package has handled the saga's last message).
 */
export function isQuiet(s: SuiteSnapshot): boolean {
  const packages = new Map(s.packages.map((p) => [p.id, p.state]));
  const idle = s.fleet.idle === undefined ? undefined : new Set(s.fleet.idle);
  return (
    s.sagas.every((x) => terminal.has(x.state)) &&
    s.drones.every((d) => d.state === 'Idle' || d.state === 'Offline') &&
    (idle === undefined || s.drones.every((d) => d.state !== 'Idle' || idle.has(d.id))) &&
    s.requests.length === s.sagas.length &&
    s.sagas.every((x) => x.state !== 'Completed' || x.packageId === null || packages.get(x.packageId) === 'Delivered')
  );
}

/**
 * Waits until the suite is quiet (or the deadline passes) and returns the last snapshot. An app
 * that is restarting (killed by a chaos run) answers nothing for a moment: reads are retried.
 */
export async function waitUntilQuiet(urls: SuiteUrls, timeoutMs: number, options: { operatorKey?: string | undefined; onProgress?: (s: SuiteSnapshot) => void } = {}): Promise<{ snapshot: SuiteSnapshot; quiet: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const read = async (): Promise<SuiteSnapshot> => {
    for (;;) {
      try {
        return await readSnapshot(urls, options.operatorKey);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  let snapshot = await read();
  while (!isQuiet(snapshot) && Date.now() < deadline) {
    options.onProgress?.(snapshot);
    await new Promise((resolve) => setTimeout(resolve, 500));
    snapshot = await read();
  }
  return { snapshot, quiet: isQuiet(snapshot) };
}
