import { TERMINAL_SAGA_STATES } from '#contracts';
import { readSnapshot, type SuiteSnapshot, type SuiteUrls } from './suite-snapshot.js';

const terminal = new Set<string>(TERMINAL_SAGA_STATES);

/** Quiet: every saga terminal, every drone Idle or Offline, and nothing changed between two reads. */
export function isQuiet(s: SuiteSnapshot): boolean {
  return s.sagas.every((x) => terminal.has(x.state)) && s.drones.every((d) => d.state === 'Idle' || d.state === 'Offline') && s.requests.length === s.sagas.length;
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
