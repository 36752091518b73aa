import type { RsmRuntime } from '#rsm';
import { Receiver, Sender, senderProblems, senderSettled, type SenderData } from '../fixtures/machines.js';
import { testPool } from './helpers.js';

/**
 * The counting of the crash tests, shared by every test that runs Senders in one service against
 * Receivers in another while something goes wrong: how many pings arrived, whether every sender
 * is done, and every broken guarantee (loss, duplicate, FIFO, two writers, dead letters).
 */

/** Pings counted by the receivers so far. */
export async function receivedTotal(runtime: RsmRuntime, receivers: readonly string[]): Promise<number> {
  let total = 0;
  for (const id of receivers) total += ((await runtime.get(Receiver.ref(id)))?.data as { count: number } | undefined)?.count ?? 0;
  return total;
}

/** Whether `expected` pings arrived and every sender has received everything it waits for. */
export async function pingsSettled(senderApi: RsmRuntime, receiverApi: RsmRuntime, senders: readonly string[], receivers: readonly string[], expected: number): Promise<boolean> {
  if ((await receivedTotal(receiverApi, receivers)) !== expected) return false;
  for (const id of senders) if (!senderSettled((await senderApi.get(Sender.ref(id))) as { state: string; data: unknown })) return false;
  return true;
}

/** Everything wrong with a finished run, empty when every guarantee holds. */
export async function pingProblems(
  senderApi: RsmRuntime,
  receiverApi: RsmRuntime,
  senders: readonly string[],
  receivers: readonly string[],
  expected: number,
  schemas: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const id of senders) problems.push(...senderProblems(id, (await senderApi.get(Sender.ref(id))) as { state: string; version: number; data: unknown }));
  let total = 0;
  for (const id of receivers) {
    const r = (await receiverApi.get(Receiver.ref(id))) as { version: number; data: { count: number; steps: number; violations: string[]; last: Record<string, number> } };
    total += r.data.count;
    problems.push(...r.data.violations.map((v) => `${id}: FIFO violation ${v}`));
    if (r.data.steps !== r.version) problems.push(`${id}: ${r.data.steps} steps in data, version ${r.version}: two writers`);
  }
  if (total !== expected) problems.push(`received ${total} pings, expected exactly ${expected}`);
  const sent = await Promise.all(senders.map(async (id) => ((await senderApi.get(Sender.ref(id)))?.data as SenderData).sent));
  const sentTotal = sent.reduce((x, y) => x + y, 0);
  if (sentTotal !== expected) problems.push(`senders sent ${sentTotal} pings, expected ${expected}`);
  const pool = testPool();
  try {
    for (const schema of schemas) {
      const letters = await pool.query<{ reason: string }>(`SELECT reason FROM "${schema}".rsm_dead_letters`);
      problems.push(...letters.rows.map((l) => `dead letter in ${schema}: ${l.reason}`));
    }
  } finally {
    await pool.end();
  }
  return problems;
}
