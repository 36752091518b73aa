import type { Pool, PoolClient } from 'pg';
import { compositeKey, machineKey } from '../definition/types.js';
import { CombinedWrite } from './combined-write.js';
import { query } from './prepared.js';
import { recordset } from './recordset.js';
import { insertNewMachines } from './step-store.js';
import { Pipelined } from './pipelined.js';
import type { TableNames } from './table-names.js';
import type { GapNumbers, InboundJob, RemoteMessage } from '../core/messages.js';
import { newMachineRow, type MachineRegistry } from '../planning/machine-registry.js';
import { inTransaction, type Transaction } from './transaction.js';

export interface ReceiveResult {
  /**
   * Every outbox id of the jobs, by the service that sent them: accepted, buffered or duplicate,
   * all safe to acknowledge.
   */
  readonly acks: ReadonlyMap<string, string[]>;
  readonly wake: Set<string>;
  readonly accepted: number;
  readonly duplicates: number;
  readonly deadLettered: number;
  /** Counters marked retired by the sender's retire message. */
  readonly retired: number;
  /** Retire messages for numberings whose last messages never arrived here (lost from the sender's outbox). */
  readonly shortRetires: readonly { sender: string; receiver: string; epoch: number; last: number; retiredAt: number }[];
}

/**
 * What skipping a gap did: the skipped numbers and the receipt of the released messages;
 * `repeated` when the skip asked for was recorded before (nothing done); `changed` when the pair's
 * gap is not the one asked for (its current one, or null when none waits; nothing done).
 */
export type GapSkipResult = (ReceiveResult & GapNumbers & { repeated?: true; changed?: undefined }) | { changed: GapNumbers | null; repeated?: undefined };

/**
 * Accepts events from another service into this service's inbox, in one transaction with the
 * per-pair sequence check: a sequence already seen is a duplicate and is dropped; one beyond the
 * next expected waits in the reorder buffer until the gap is filled. So redeliveries are harmless
 * and each sender/receiver pair stays FIFO whatever order the jobs arrive in.
 */
export class InboundReceiver {
  constructor(
    private readonly pool: Pool,
    private readonly tables: TableNames,
    private readonly registry: MachineRegistry,
  ) {}

  /**
   * Takes jobs' events into the inbox, several jobs (from any senders) in one transaction. With
   * `step`, runs it in the same transaction once the events are in (the runtime steps the woken
   * machines there: one commit for receipt and step).
   */
  async receive<T = undefined>(jobs: readonly InboundJob[], step?: (client: PoolClient, wake: ReadonlySet<string>, tx?: Transaction) => Promise<T>): Promise<ReceiveResult & { stepped?: T }> {
    return inTransaction(this.pool, (client, tx) => this.receiveWithin(client, jobs, step, tx));
  }

  /**
   * An operator's answer to a gap whose messages are gone for good (their outbox rows deleted):
   * advances the pair's counter to just before its first buffered message, records who skipped
   * which sequence numbers and why, and releases the buffered messages that now follow in order,
   * all in one transaction. Returns undefined when the pair has no gap (nothing buffered).
   */
  async skipGap(
    sender: string,
    receiver: string,
    by: string,
    reason: string,
    // Runs in the skip's transaction with its outcome (undefined: no gap), e.g. to write an audit row.
    record?: (client: PoolClient, outcome: GapSkipResult | undefined) => Promise<void>,
    // The gap the operator saw: the skip happens only if it is still the pair's gap.
    expected?: GapNumbers,
  ): Promise<GapSkipResult | undefined> {
    const t = this.tables;
    return inTransaction(this.pool, async (client) => {
      const done = async (outcome: GapSkipResult | undefined) => {
        await record?.(client, outcome);
        return outcome;
      };
      const counter = await client.query<{ last_seq: string; epoch: string }>(`SELECT last_seq, epoch FROM ${t.recvSeq} WHERE sender = $1 AND receiver = $2 FOR UPDATE`, [sender, receiver]);
      const last = Number(counter.rows[0]?.last_seq ?? 0);
      const epoch = Number(counter.rows[0]?.epoch ?? 0);
      const buffered = await client.query<{ epoch: string; seq: string; message: RemoteMessage; from_service: string | null }>(
        `SELECT epoch, seq, message, from_service FROM ${t.reorder} WHERE sender = $1 AND receiver = $2 ORDER BY epoch, seq`,
        [sender, receiver],
      );
      const first = buffered.rows[0];
      const firstEpoch = Number(first?.epoch ?? 0);
      // Rows of an older numbering cannot wait (a newer one starts only when nothing older waits).
      const gap: GapNumbers | null =
        first === undefined || firstEpoch < epoch || (firstEpoch === epoch && Number(first.seq) <= last + 1)
          ? null
          : // Normally the first waiting row is of the counter's numbering; were it of a later one, the
            // skipped numbers would be that numbering's first ones.
            { epoch: firstEpoch, fromSeq: firstEpoch === epoch ? last + 1 : 1, toSeq: Number(first.seq) - 1 };
      if (expected !== undefined && !(gap !== null && gap.epoch === expected.epoch && gap.fromSeq === expected.fromSeq && gap.toSeq === expected.toSeq)) {
        // Not the gap the operator saw: a repeat of a skip that committed (its answer lost), or a
        // gap that filled, moved or opened since. Skipping now would drop messages still on their way.
        const earlier = await client.query(
          `SELECT 1 FROM ${t.gapSkips} WHERE sender = $1 AND receiver = $2 AND epoch = $3 AND from_seq = $4 AND to_seq = $5 LIMIT 1`,
          [sender, receiver, expected.epoch, expected.fromSeq, expected.toSeq],
        );
        if (earlier.rows.length > 0) return done({ acks: new Map(), wake: new Set(), accepted: 0, duplicates: 0, deadLettered: 0, retired: 0, shortRetires: [], ...expected, repeated: true });
        return gap === null ? done(undefined) : done({ changed: gap });
      }
      if (gap === null || first === undefined) return done(undefined);
      const { fromSeq, toSeq } = gap;
      await client.query(
        `INSERT INTO ${t.recvSeq} (sender, receiver, epoch, last_seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sender, receiver) DO UPDATE SET epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq, retired_at = NULL`,
        [sender, receiver, firstEpoch, toSeq],
      );
      await client.query(
        `INSERT INTO ${t.gapSkips} (sender, receiver, epoch, from_seq, to_seq, skipped_by, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [sender, receiver, firstEpoch, fromSeq, toSeq, by, reason],
      );
      // The buffered messages go through the ordinary receipt, as if they had just arrived: the
      // counter now lets the first run of them in, in order; any later gap keeps its rows waiting.
      const from = first.from_service ?? this.registry.serviceOf(first.message.sender.type) ?? 'unknown';
      const result = await this.receiveWithin(client, [{ from, messages: buffered.rows.map((row) => row.message) }]);
      return done({ ...result, duplicates: 0, epoch: firstEpoch, fromSeq, toSeq });
    });
  }

  private async receiveWithin<T = undefined>(client: PoolClient, jobs: readonly InboundJob[], step?: (client: PoolClient, wake: ReadonlySet<string>, tx?: Transaction) => Promise<T>, tx?: Transaction): Promise<ReceiveResult & { stepped?: T }> {
    const t = this.tables;
    // Pairs are kept as objects under an unambiguous key: ids may hold any character. Each pair
    // remembers the service its messages came in from (a pair has one sending machine, so one service).
    const byPair = new Map<string, { sender: string; receiver: string; from: string; messages: RemoteMessage[]; retires: RemoteMessage[] }>();
    const acks = new Map<string, string[]>();
    for (const job of jobs) {
      const ids = acks.get(job.from) ?? [];
      acks.set(job.from, ids);
      for (const message of job.messages) {
        ids.push(message.outboxId);
        const sender = machineKey(message.sender);
        const receiver = machineKey(message.to);
        const pair = compositeKey(sender, receiver);
        const entry = byPair.get(pair) ?? { sender, receiver, from: job.from, messages: [], retires: [] };
        (message.kind === 'retire' ? entry.retires : entry.messages).push(message);
        byPair.set(pair, entry);
      }
    }
    const pairs = [...byPair.values()]
      .map(({ sender, receiver }) => ({ sender, receiver }))
      .sort((a, b) => (a.sender === b.sender ? compareText(a.receiver, b.receiver) : compareText(a.sender, b.sender)));
    const pairsJson = JSON.stringify(pairs);
    // Creates each pair's counter or locks the existing one (in key order, so two receivers never
    // deadlock) and returns its latest value: the upsert sees the newest committed row.
    const sent = new Pipelined(client);
    const locking = sent.send(() => query<{ sender: string; receiver: string; last_seq: string; epoch: string; created: boolean }>(
      client,
      `INSERT INTO ${t.recvSeq} AS c (sender, receiver, last_seq)
       SELECT sender, receiver, 0 FROM jsonb_to_recordset($1::jsonb) AS p(sender text, receiver text) ORDER BY sender, receiver
       ON CONFLICT (sender, receiver) DO UPDATE SET last_seq = c.last_seq
       RETURNING c.sender, c.receiver, c.last_seq, c.epoch, (c.xmax = 0) AS created`,
      [pairsJson],
    ));
    // A statement of its own, after the lock: its fresh snapshot sees what a receiver that held
    // the lock before us buffered. It goes out with the upsert (the server runs it once the upsert
    // has its locks), not a round trip after it.
    const buffered = await sent.answer(() => query<{ sender: string; receiver: string; epoch: string; seq: string; message: RemoteMessage }>(
      client,
      `SELECT r.sender, r.receiver, r.epoch, r.seq, r.message FROM ${t.reorder} r
       JOIN ${recordset('$1', 'sender text, receiver text', pairs)} p ON r.sender = p.sender AND r.receiver = p.receiver
       ORDER BY r.epoch, r.seq`,
      [pairsJson],
    ));
    const counters = await locking;
    const bufferedByPair = new Map<string, Waiting>();
    for (const row of buffered.rows) {
      const pair = compositeKey(row.sender, row.receiver);
      const waiting = bufferedByPair.get(pair) ?? new Waiting();
      waiting.put(Number(row.epoch), Number(row.seq), row.message, true);
      bufferedByPair.set(pair, waiting);
    }

    const accepted: { message: RemoteMessage; from: string }[] = [];
    const toBuffer: { sender: string; receiver: string; epoch: number; seq: number; message: RemoteMessage; from_service: string }[] = [];
    const unbuffer: { sender: string; receiver: string; epoch: number; seq: number }[] = [];
    const newLast: { sender: string; receiver: string; epoch: number; last_seq: number; retire: boolean }[] = [];
    const forget: { sender: string; receiver: string }[] = [];
    let duplicates = 0;
    let retired = 0;
    const shortRetires: { sender: string; receiver: string; epoch: number; last: number; retiredAt: number }[] = [];
    for (const row of counters.rows) {
      const pair = compositeKey(row.sender, row.receiver);
      const entry = byPair.get(pair);
      const from = entry?.from ?? jobs[0]?.from ?? 'unknown';
      let epoch = Number(row.epoch);
      let last = Number(row.last_seq);
      const waiting = bufferedByPair.get(pair) ?? new Waiting();
      for (const message of entry?.messages ?? []) {
        const e = message.epoch ?? 0;
        // An older numbering is over: all of its messages were taken before the sender retired it.
        if (e < epoch || (e === epoch && message.seq <= last) || waiting.has(e, message.seq)) {
          duplicates += 1;
        } else {
          waiting.put(e, message.seq, message, false);
        }
      }
      const start = { epoch, last };
      for (;;) {
        const next = waiting.take(epoch, last + 1);
        if (next !== undefined) {
          last += 1;
          accepted.push({ message: next.message, from });
          if (next.buffered) unbuffer.push({ sender: row.sender, receiver: row.receiver, epoch, seq: last });
          continue;
        }
        // A later numbering starts only when nothing of this one waits: its messages stay behind a gap.
        if (waiting.any(epoch)) break;
        const later = waiting.firstEpochAfter(epoch);
        if (later === undefined) break;
        epoch = later;
        last = 0;
      }
      for (const item of waiting.all()) {
        if (!item.buffered) toBuffer.push({ sender: row.sender, receiver: row.receiver, epoch: item.epoch, seq: item.seq, message: item.message, from_service: from });
      }
      // The sender retired a numbering: once this counter has taken all of it and nothing waits,
      // the row is marked, and the janitor deletes it after the signature window (see cleanUp).
      const retire = (entry?.retires ?? []).some((m) => (m.epoch ?? 0) === epoch && m.seq === last) && waiting.size === 0;
      if (retire) retired += 1;
      // A retired numbering that ends beyond what this side took: its last messages were lost.
      for (const m of entry?.retires ?? []) if ((m.epoch ?? 0) === epoch && m.seq > last) shortRetires.push({ sender: row.sender, receiver: row.receiver, epoch, last, retiredAt: m.seq });
      if (row.created && entry?.messages.length === 0) forget.push({ sender: row.sender, receiver: row.receiver });
      else if (retire || last !== start.last || epoch !== start.epoch) newLast.push({ sender: row.sender, receiver: row.receiver, epoch, last_seq: last, retire });
    }
    // Creations first (idempotent on type and id); an init event only for a machine really created.
    const wake = new Set<string>();
    const deadLetters: { machine_type: string; machine_id: string; event: unknown; sender_type: string; sender_id: string; reason: string }[] = [];
    const creates = accepted.map(({ message }) => message).filter((m) => m.kind === 'create' && this.registry.get(m.to.type) !== undefined);
    let created = new Set<string>();
    if (creates.length > 0) {
      const rows = creates.map((m) => newMachineRow(this.registry.require(m.to.type), m.to));
      created = await insertNewMachines(client, t, rows);
    }
    const inbox = [];
    const createdOnce = new Set<string>();
    for (const { message, from } of accepted) {
      const key = machineKey(message.to);
      if (this.registry.get(message.to.type) === undefined) {
        deadLetters.push({ machine_type: message.to.type, machine_id: message.to.id, event: message.event, sender_type: message.sender.type, sender_id: message.sender.id, reason: `service does not own machine type ${message.to.type}` });
        continue;
      }
      if (message.kind === 'create') {
        if (!created.has(key) || createdOnce.has(key)) continue;
        createdOnce.add(key);
      }
      inbox.push({
        machine_type: message.to.type,
        machine_id: message.to.id,
        event: message.event,
        event_id: `${from}:${message.outboxId}`,
        sender_type: message.sender.type,
        sender_id: message.sender.id,
      });
      wake.add(key);
    }
    const write = new CombinedWrite();
    if (inbox.length > 0) {
      write.add(
        `INSERT INTO ${t.inbox} (machine_type, machine_id, event, event_id, sender_type, sender_id)
         SELECT machine_type, machine_id, event, event_id, sender_type, sender_id FROM jsonb_to_recordset(${write.param(JSON.stringify(inbox))}::jsonb)
           AS r(machine_type text, machine_id text, event jsonb, event_id text, sender_type text, sender_id text)`,
      );
    }
    if (deadLetters.length > 0) {
      write.add(
        `INSERT INTO ${t.deadLetters} (machine_type, machine_id, event, sender_type, sender_id, reason)
         SELECT machine_type, machine_id, event, sender_type, sender_id, reason FROM jsonb_to_recordset(${write.param(JSON.stringify(deadLetters))}::jsonb)
           AS r(machine_type text, machine_id text, event jsonb, sender_type text, sender_id text, reason text)`,
      );
    }
    if (newLast.length > 0) {
      write.add(
        `UPDATE ${t.recvSeq} c SET last_seq = u.last_seq, epoch = u.epoch, retired_at = CASE WHEN u.retire THEN now() END
         FROM ${recordset(write.param(JSON.stringify(newLast)), 'sender text, receiver text, epoch bigint, last_seq bigint, retire boolean', newLast)} u
         WHERE c.sender = u.sender AND c.receiver = u.receiver`,
      );
    }
    // A retire for a pair this side does not know: acknowledged, and no row is left behind.
    if (forget.length > 0) {
      write.add(
        `DELETE FROM ${t.recvSeq} c USING ${recordset(write.param(JSON.stringify(forget)), 'sender text, receiver text', forget)} u
         WHERE c.sender = u.sender AND c.receiver = u.receiver AND c.last_seq = 0`,
      );
    }
    // Buffered and unbuffered rows are never the same rows: one statement may do both.
    if (toBuffer.length > 0) {
      write.add(
        `INSERT INTO ${t.reorder} (sender, receiver, epoch, seq, message, from_service)
         SELECT sender, receiver, epoch, seq, message, from_service FROM jsonb_to_recordset(${write.param(JSON.stringify(toBuffer))}::jsonb)
           AS r(sender text, receiver text, epoch bigint, seq bigint, message jsonb, from_service text)
         ON CONFLICT DO NOTHING`,
      );
    }
    if (unbuffer.length > 0) {
      write.add(
        `DELETE FROM ${t.reorder} r USING ${recordset(write.param(JSON.stringify(unbuffer)), 'sender text, receiver text, epoch bigint, seq bigint', unbuffer)} u
         WHERE r.sender = u.sender AND r.receiver = u.receiver AND r.epoch = u.epoch AND r.seq = u.seq`,
      );
    }
    sent.add(() => write.run(client));
    const result = {
      acks,
      wake,
      accepted: inbox.length,
      duplicates,
      deadLettered: deadLetters.length,
      retired,
      shortRetires,
    };
    if (step === undefined || wake.size === 0) {
      // Nothing to step: the receipt's writes are the transaction's last statements.
      tx?.commitWith(sent);
      await sent.settled();
      return result;
    }
    // The step's first statement goes out behind the receipt's writes, not a round trip after
    // them: the server runs it once they are done, so it reads the events just taken. Had the
    // writes failed, the step's statements are refused for it, and the writes' error is the one
    // reported.
    if (!sent.pipelined) await sent.settled();
    let stepped: T;
    try {
      stepped = await step(client, wake, tx);
    } catch (error) {
      await sent.settled();
      throw error;
    }
    await sent.settled();
    return { ...result, stepped };
  }
}

/** Code-point order, the same for every process (unlike `localeCompare`): lock order must agree. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Messages of one pair waiting for their turn, by numbering (epoch) and sequence number. */
class Waiting {
  private readonly byEpoch = new Map<number, Map<number, { message: RemoteMessage; buffered: boolean }>>();

  get size(): number {
    let n = 0;
    for (const seqs of this.byEpoch.values()) n += seqs.size;
    return n;
  }

  put(epoch: number, seq: number, message: RemoteMessage, buffered: boolean): void {
    const seqs = this.byEpoch.get(epoch) ?? new Map<number, { message: RemoteMessage; buffered: boolean }>();
    seqs.set(seq, { message, buffered });
    this.byEpoch.set(epoch, seqs);
  }

  has(epoch: number, seq: number): boolean {
    return this.byEpoch.get(epoch)?.has(seq) === true;
  }

  take(epoch: number, seq: number): { message: RemoteMessage; buffered: boolean } | undefined {
    const seqs = this.byEpoch.get(epoch);
    const found = seqs?.get(seq);
    if (seqs === undefined || found === undefined) return undefined;
    seqs.delete(seq);
    if (seqs.size === 0) this.byEpoch.delete(epoch);
    return found;
  }

  any(epoch: number): boolean {
    return (this.byEpoch.get(epoch)?.size ?? 0) > 0;
  }

  firstEpochAfter(epoch: number): number | undefined {
    let first: number | undefined;
    for (const e of this.byEpoch.keys()) if (e > epoch && (first === undefined || e < first)) first = e;
    return first;
  }

  *all(): Generator<{ epoch: number; seq: number; message: RemoteMessage; buffered: boolean }> {
    for (const [epoch, seqs] of this.byEpoch) for (const [seq, item] of seqs) yield { epoch, seq, ...item };
  }
}
