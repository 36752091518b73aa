import type { PoolClient } from 'pg';
import type { MachineSnapshot, MachineStatus } from '../definition/step-executor.js';
import { compositeKey, machineKey, type MachineRef, type RsmEvent } from '../definition/types.js';
import type { RsmOptions } from '../core/rsm-options.js';
import type { NewMachine } from '../planning/machine-registry.js';
import type { BatchResult, BatchWrites, InboxEvent } from '../planning/step-planner.js';
import { jsonText, parseJson } from '../definition/json-text.js';
import { CombinedWrite } from './combined-write.js';
import { Pipelined } from './pipelined.js';
import type { Transaction } from './transaction.js';
import { query } from './prepared.js';
import { recordset } from './recordset.js';
import type { TableNames } from './table-names.js';

/**
 * Inserts machines that do not exist yet, in one statement; returns the keys of those it created
 * (an existing machine is left as it is). Steps and receipts both create machines this way.
 *
 * Machines that already exist are filtered out by a plain read first: an INSERT that meets an
 * existing row which another transaction is updating waits for that transaction (to learn whether
 * the conflict holds), so creating a busy machine "if missing" would queue behind its steps.
 * ON CONFLICT still settles two transactions creating the same new machine at once.
 */
export async function insertNewMachines(client: PoolClient, tables: TableNames, rows: readonly NewMachine[]): Promise<Set<string>> {
  const inserted = await query<{ type: string; id: string }>(client, insertNewMachinesSql(tables, rows), [JSON.stringify(rows)]);
  return new Set(inserted.rows.map((row) => machineKey(row)));
}

/**
 * The statement of {@link insertNewMachines} ($1: the rows as JSON). The rows pass through
 * {@link recordset}: sized as 100 rows, the check for existing machines became a hash anti-join
 * over a full scan of the machines table, which the planner keeps choosing up to some 15,000
 * machines (measured at 10,000: 3.5 ms a statement instead of 0.1 ms), and every intake, receipt
 * and step that creates a machine runs it.
 */
export function insertNewMachinesSql(tables: TableNames, rows: readonly unknown[]): string {
  return `INSERT INTO ${tables.machines} (type, id, state, data, definition_version)
     SELECT type, id, state, data, definition_version
       FROM ${recordset('$1', 'type text, id text, state text, data jsonb, definition_version int', rows)} r
     WHERE NOT EXISTS (SELECT 1 FROM ${tables.machines} m WHERE m.type = r.type AND m.id = r.id)
     ON CONFLICT DO NOTHING RETURNING type, id`;
}

/** A machine locked by a step transaction, with its birth time and the definition version it is stored at. */
export interface LockedMachine {
  readonly snapshot: MachineSnapshot;
  readonly createdAt: number;
  readonly definitionVersion: number;
}

/** The inbox row at the head of a machine's queue, locked for a poison-step decision. */
export interface HeadRow {
  readonly seq: string;
  readonly event: RsmEvent;
  readonly attempts: number;
  readonly sender_type: string | null;
  readonly sender_id: string | null;
  readonly request_key: string | null;
}

/**
 * Every statement of a step transaction: locking machines, reading their inboxes, claiming
 * idempotency keys, and writing what the planner decided with one statement per table. Runs inside
 * a transaction its caller owns.
 */
export class StepStore {
  constructor(
    private readonly tables: TableNames,
    private readonly options: Pick<RsmOptions, 'stepHistoryMs' | 'activities' | 'delivery'>,
    /** This process's HolderLock id: it holds the calls its steps commit (null: none). */
    private readonly holder: number | null = null,
  ) {}

  /** Inserts machines that do not exist yet; returns the keys of those it created. */
  async insertMachines(client: PoolClient, rows: readonly NewMachine[]): Promise<Set<string>> {
    return insertNewMachines(client, this.tables, rows);
  }

  /**
   * Locks the machines no other transaction holds, in key order, and reads the first `limit` inbox
   * rows of each locked one, in one statement (one round trip per step transaction fewer than
   * locking, then reading).
   *
   * The statement's snapshot is taken before the machine locks: a step of the same machine may
   * have committed in between (released the lock we then took), and its consumed rows would still
   * be visible. The inbox rows are therefore locked too: a locked read sees the newest version of
   * each row, skips rows deleted since the snapshot and re-reads rows updated since (attempts,
   * backoff), so no consumed event is read again. Rows inserted after the snapshot are not read;
   * whoever wrote them wakes the machine again, as for rows committed after any read.
   */
  async lockWithInbox(client: PoolClient, refs: readonly MachineRef[], limit: number): Promise<{ locked: Map<string, LockedMachine>; inbox: InboxEvent[] }> {
    const result = await query<{
      type: string;
      id: string;
      state: string;
      /** As text: parsed here and remembered with the value, so a step can change it in place. */
      data: string;
      status: MachineStatus;
      created_at: Date;
      definition_version: number;
      // The machine's rows as JSON: its times in ms since the epoch.
      inbox: (Omit<InboxRow, 'machine_type' | 'machine_id' | 'not_before' | 'created_at'> & { not_before: number | null; created_at: number })[];
    }>(client,
      `WITH locked AS MATERIALIZED (
         SELECT m.type, m.id, m.state, m.data::text AS data, m.status, m.created_at, m.definition_version FROM ${this.tables.machines} m
         JOIN ${recordset('$1', 'type text, id text', refs)} k ON m.type = k.type AND m.id = k.id
         ORDER BY m.type, m.id FOR UPDATE OF m SKIP LOCKED
       )
       SELECT l.*, (
         SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'seq', i.seq::text, 'event', i.event, 'event_id', i.event_id, 'sender_type', i.sender_type,
                  'sender_id', i.sender_id, 'timer_name', i.timer_name, 'request_key', i.request_key, 'attempts', i.attempts,
                  'not_before', extract(epoch FROM i.not_before) * 1000, 'created_at', extract(epoch FROM i.created_at) * 1000
                ) ORDER BY i.seq), '[]'::jsonb)
         FROM (SELECT * FROM ${this.tables.inbox} WHERE machine_type = l.type AND machine_id = l.id ORDER BY seq LIMIT ${limit} FOR UPDATE) i
       ) AS inbox
       FROM locked l ORDER BY l.type, l.id`,
      [JSON.stringify(refs.map(({ type, id }) => ({ type, id })))],
    );
    const locked = new Map<string, LockedMachine>();
    const inbox: InboxEvent[] = [];
    for (const row of result.rows) {
      locked.set(machineKey(row), { snapshot: { type: row.type, id: row.id, state: row.state, data: parseJson(row.data), status: row.status }, createdAt: row.created_at.getTime(), definitionVersion: row.definition_version });
      for (const i of row.inbox) {
        inbox.push(inboxEvent({ ...i, machine_type: row.type, machine_id: row.id, not_before: i.not_before === null ? null : new Date(Number(i.not_before)), created_at: new Date(Number(i.created_at)) }));
      }
    }
    return { locked, inbox };
  }

  /** Which of `refs` exist (in this statement's snapshot). */
  async existing(client: PoolClient, refs: readonly MachineRef[]): Promise<Set<string>> {
    const found = await query<{ type: string; id: string }>(client,
      `SELECT m.type, m.id FROM ${this.tables.machines} m
       JOIN ${recordset('$1', 'type text, id text', refs)} k ON m.type = k.type AND m.id = k.id`,
      [JSON.stringify(refs.map(({ type, id }) => ({ type, id })))],
    );
    return new Set(found.rows.map((row) => machineKey(row)));
  }

  /** Claims callers' idempotency keys; returns those claimed now (the others were seen before). */
  async claimRequestKeys(client: PoolClient, keys: readonly { key: string; machine_type: string; machine_id: string }[]): Promise<Set<string>> {
    const inserted = await query<{ key: string }>(client,
      `INSERT INTO ${this.tables.requests} (key, machine_type, machine_id, status)
       SELECT key, machine_type, machine_id, 'pending' FROM jsonb_to_recordset($1::jsonb)
         AS r(key text, machine_type text, machine_id text)
       ON CONFLICT DO NOTHING RETURNING key`,
      [JSON.stringify(keys)],
    );
    return new Set(inserted.rows.map((row) => row.key));
  }

  /** Locks a machine's head inbox row. */
  async lockHead(client: PoolClient, ref: MachineRef): Promise<HeadRow | undefined> {
    const head = await query<HeadRow>(client,
      `SELECT seq, event, attempts, sender_type, sender_id, request_key FROM ${this.tables.inbox}
       WHERE machine_type = $1 AND machine_id = $2 ORDER BY seq LIMIT 1 FOR UPDATE`,
      [ref.type, ref.id],
    );
    return head.rows[0];
  }

  /** Counts a failed attempt on an inbox row and holds it back for `delayMs`. */
  async postpone(client: PoolClient, seq: string, attempts: number, error: string, delayMs: number): Promise<void> {
    await query(client,
      `UPDATE ${this.tables.inbox} SET attempts = $2, last_error = $3, not_before = now() + make_interval(secs => $4::double precision / 1000) WHERE seq = $1`,
      [seq, attempts, error, delayMs],
    );
  }

  /**
   * Moves an inbox row to the dead letters. A request's caller (or its retry, by key) is told it
   * failed: left pending, it would wait for ever, and retention never deletes a pending request.
   */
  async deadLetterRow(client: PoolClient, ref: MachineRef, row: HeadRow, reason: string, attempts: number): Promise<void> {
    await query(client, `DELETE FROM ${this.tables.inbox} WHERE seq = $1`, [row.seq]);
    if (row.request_key !== null) {
      await query(client, `UPDATE ${this.tables.requests} SET status = 'failed', error = $2, completed_at = now() WHERE key = $1 AND status = 'pending'`, [row.request_key, `failed: ${reason}`]);
    }
    await query(client,
      `INSERT INTO ${this.tables.deadLetters} (machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [ref.type, ref.id, JSON.stringify(row.event), row.sender_type, row.sender_id, row.request_key, reason, attempts],
    );
  }

  /**
   * The oldest inbox rows of each machine; with `orphansOnly`, only of machines that do not exist,
   * locked (others' locked rows skipped): no machine row serializes two batches dead-lettering the
   * same orphans, so the rows themselves do, or both would write a dead letter for each.
   */
  async loadInbox(client: PoolClient, refs: readonly MachineRef[], limit: number, orphansOnly = false): Promise<InboxEvent[]> {
    const rows = await query<InboxRow>(client,
      `SELECT i.* FROM ${recordset('$1', 'type text, id text', refs)} k
       CROSS JOIN LATERAL (
         SELECT seq, machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name,
                request_key, attempts, not_before, created_at
         FROM ${this.tables.inbox} WHERE machine_type = k.type AND machine_id = k.id
           ${orphansOnly ? `AND NOT EXISTS (SELECT 1 FROM ${this.tables.machines} m WHERE m.type = k.type AND m.id = k.id)` : ''}
         ORDER BY seq LIMIT ${limit}${orphansOnly ? ' FOR UPDATE SKIP LOCKED' : ''}
       ) i ORDER BY i.seq`,
      [JSON.stringify(refs.map((ref) => ({ type: ref.type, id: ref.id })))],
    );
    return rows.rows.map(inboxEvent);
  }

  /**
   * Writes everything the batch decided, in as few statements as its order allows: one statement
   * for the independent writes, then the ones that need a fresh snapshot or another's result. The
   * statements go out together (see {@link Pipelined}): the connection runs them in order, each
   * on a fresh snapshot, and only a statement that needs another's answer first (an inbox row for a
   * machine this batch may create) waits for it.
   */
  async write(client: PoolClient, w: BatchWrites, result: BatchResult, tx?: Transaction): Promise<void> {
    const t = this.tables;
    const json = (value: unknown) => JSON.stringify(value);
    const sent = new Pipelined(client);

    // Timers cancelled or restarted are written in the first statement: that waits for a poller
    // that is firing one of them right now, so the next statement (a fresh snapshot) sees its
    // Timeout event and deletes it. A cancelled timer never delivers, even if it was firing concurrently.
    const first = new CombinedWrite();
    if (w.machineUpdates.size > 0) {
      const updates = [...w.machineUpdates.values()];
      first.add(
        `UPDATE ${t.machines} m SET state = u.state, data = u.data, status = u.status, definition_version = u.definition_version,
           version = m.version + u.steps, updated_at = now(), halted_at = CASE WHEN u.status = 'halted' THEN coalesce(m.halted_at, now()) END
         FROM ${recordset(first.param(updatesJson(updates)), 'type text, id text, state text, data jsonb, status text, steps int, definition_version int', updates)} u
         WHERE m.type = u.type AND m.id = u.id`,
      );
    }
    if (w.consumed.length > 0) first.add(`DELETE FROM ${t.inbox} WHERE seq = ANY(${first.param(w.consumed)}::bigint[])`);
    const timers = [...w.timers.values()];
    const cancels = timers.filter((timer) => timer.start === null).map(({ machine_type, machine_id, name }) => ({ machine_type, machine_id, name }));
    if (cancels.length > 0) {
      first.add(
        `DELETE FROM ${t.timers} x USING ${recordset(first.param(json(cancels)), 'machine_type text, machine_id text, name text', cancels)} k
         WHERE x.machine_type = k.machine_type AND x.machine_id = k.machine_id AND x.name = k.name`,
      );
    }
    const starts = timers.flatMap((timer) => (timer.start === null ? [] : [{ machine_type: timer.machine_type, machine_id: timer.machine_id, name: timer.name, ...timer.start }]));
    if (starts.length > 0) {
      first.add(
        `INSERT INTO ${t.timers} (machine_type, machine_id, name, fire_at, period_ms, payload)
         SELECT machine_type, machine_id, name, fire_at, period_ms, payload FROM jsonb_to_recordset(${first.param(json(starts))}::jsonb)
           AS r(machine_type text, machine_id text, name text, fire_at timestamptz, period_ms bigint, payload jsonb)
         ON CONFLICT (machine_type, machine_id, name) DO UPDATE
           SET fire_at = EXCLUDED.fire_at, period_ms = EXCLUDED.period_ms, payload = EXCLUDED.payload, created_at = now()`,
      );
    }
    if (w.requestUpdates.length > 0) {
      first.add(
        `UPDATE ${t.requests} r SET status = u.status, reply = u.reply, error = u.error, completed_at = now()
         FROM ${recordset(first.param(json(w.requestUpdates)), 'key text, status text, reply jsonb, error text', w.requestUpdates)} u
         WHERE r.key = u.key`,
      );
    }
    if (w.deadLetters.length > 0) {
      first.add(
        `INSERT INTO ${t.deadLetters} (machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts)
         SELECT machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts
         FROM jsonb_to_recordset(${first.param(json(w.deadLetters))}::jsonb) AS r(machine_type text, machine_id text, event jsonb, sender_type text,
           sender_id text, request_key text, reason text, attempts int)`,
      );
    }
    if (w.steps.length > 0 && this.options.stepHistoryMs > 0) {
      first.add(
        `INSERT INTO ${t.steps} (machine_type, machine_id, event_type, event_id, from_state, to_state, effects, sends, definition_version)
         SELECT * FROM jsonb_to_recordset(${first.param(json(w.steps))}::jsonb) AS r(machine_type text, machine_id text, event_type text,
           event_id text, from_state text, to_state text, effects int, sends jsonb, definition_version int)`,
      );
    }
    sent.add(() => first.run(client));
    // A machine halted in this batch keeps no timer: a Timeout could never be handled (a periodic
    // one would be dead-lettered every period, for ever), and a timer left behind keeps retention
    // from deleting the machine. Deleted after the first statement, so a timer started in the
    // halting step goes too; a poller firing one right now is waited for, and the next statement
    // (a fresh snapshot) deletes the Timeout it wrote.
    const halted = [...w.machineUpdates.values()].filter((update) => update.status === 'halted').map(({ type, id }) => ({ type, id }));
    if (halted.length > 0) {
      sent.add(() => query(client,
        `DELETE FROM ${t.timers} x USING ${recordset('$1', 'type text, id text', halted)} k WHERE x.machine_type = k.type AND x.machine_id = k.id`,
        [json(halted)],
      ));
      sent.add(() => query(client,
        `DELETE FROM ${t.inbox} i USING ${recordset('$1', 'type text, id text', halted)} k
         WHERE i.machine_type = k.type AND i.machine_id = k.id AND i.timer_name IS NOT NULL`,
        [json(halted)],
      ));
    }
    if (timers.length > 0) {
      sent.add(() => query(client,
        `DELETE FROM ${t.inbox} i USING ${recordset('$1', 'machine_type text, machine_id text, name text', timers)} k
         WHERE i.machine_type = k.machine_type AND i.machine_id = k.machine_id AND i.timer_name = k.name`,
        [json(timers.map(({ machine_type, machine_id, name }) => ({ machine_type, machine_id, name })))],
      ));
    }
    if (w.retries.length > 0) {
      sent.add(() => query(client,
        `UPDATE ${t.inbox} i SET attempts = u.attempts, not_before = u.not_before, last_error = u.last_error
         FROM ${recordset('$1', 'seq bigint, attempts int, not_before timestamptz, last_error text', w.retries)} u
         WHERE i.seq = u.seq`,
        [json(w.retries)],
      ));
    }
    // Which creations took (a machine that exists is left alone) decides which inbox rows follow them.
    const created = w.creates.size > 0 ? await sent.answer(() => this.insertMachines(client, [...w.creates.values()])) : new Set<string>();
    const inboxRows = w.inbox.filter((row) => row.createOf === undefined || created.has(row.createOf));
    if (inboxRows.length > 0) {
      sent.add(() => query(client,
        `INSERT INTO ${t.inbox} (machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name,
                                  request_key, attempts, not_before, last_error)
         SELECT machine_type, machine_id, event, event_id, sender_type, sender_id, timer_name, request_key,
                attempts, not_before, last_error
         FROM jsonb_to_recordset($1::jsonb) AS r(machine_type text, machine_id text, event jsonb, event_id text,
           sender_type text, sender_id text, timer_name text, request_key text, attempts int,
           not_before timestamptz, last_error text)`,
        [json(inboxRows.map(({ createOf: _createOf, ...row }) => row))],
      ));
      for (const row of inboxRows) result.wake.add(`${row.machine_type}/${row.machine_id}`);
    }
    if (w.remote.length > 0) sent.add(() => this.writeOutbox(client, w, result));
    if (w.activities.length > 0) sent.add(() => this.writeActivities(client, w, result));
    if (w.requestInserts.length > 0) {
      sent.add(() => query(client,
        `INSERT INTO ${t.requests} (key, machine_type, machine_id, status)
         SELECT key, machine_type, machine_id, 'pending' FROM jsonb_to_recordset($1::jsonb)
           AS r(key text, machine_type text, machine_id text)
         ON CONFLICT DO NOTHING`,
        [json(w.requestInserts)],
      ));
    }
    // The batch's last statements: COMMIT goes out with them (see Transaction.commitWith). The outbox
    // insert checks itself in the statement, so its answer need not be awaited first.
    tx?.commitWith(sent);
    await sent.settled();
  }

  /** Records the activity calls the batch made; those new to the table go to `result` to run. */
  private async writeActivities(client: PoolClient, w: BatchWrites, result: BatchResult): Promise<void> {
    const inserted = await query<{ id: string; idempotency_key: string }>(client,
      `INSERT INTO ${this.tables.activities} (machine_type, machine_id, activity, call_id, idempotency_key, input, attempts, next_attempt_at, holder)
       SELECT machine_type, machine_id, activity, call_id, idempotency_key, input, 1, now() + make_interval(secs => $2::double precision / 1000), $3::int4
       FROM jsonb_to_recordset($1::jsonb) AS r(machine_type text, machine_id text, activity text, call_id text,
         idempotency_key text, input jsonb)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`,
      [
        JSON.stringify(w.activities.map((a) => ({ machine_type: a.machineType, machine_id: a.machineId, activity: a.activity, call_id: a.callId, idempotency_key: a.idempotencyKey, input: a.input }))),
        this.options.activities.leaseMs,
        this.holder,
      ],
    );
    const ids = new Map(inserted.rows.map((row) => [row.idempotency_key, row.id]));
    for (const activity of w.activities) {
      const id = ids.get(activity.idempotencyKey);
      if (id !== undefined) result.activities.push({ ...activity, id, attempts: 1 });
    }
  }

  /**
   * Numbers each sender/receiver pair's messages and writes them to the outbox, in one statement
   * (see {@link outboxInsertSql}): the pair counters move by the pair's count and each message takes
   * its place in that range. The statement itself fails unless it stored one row per message, so
   * COMMIT may follow it without waiting for its answer. The answer then only tells this process what
   * to publish once the batch committed.
   */
  private async writeOutbox(client: PoolClient, w: BatchWrites, result: BatchResult): Promise<void> {
    const counts = new Map<string, { sender: string; receiver: string; destination: string; n: number }>();
    const rows = w.remote.map((message, ord) => {
      const sender = machineKey(message.sender);
      const receiver = machineKey(message.to);
      const pair = compositeKey(sender, receiver);
      const entry = counts.get(pair) ?? { sender, receiver, destination: message.destination, n: 0 };
      entry.n += 1;
      counts.set(pair, entry);
      return { ord, destination: message.destination, sender, receiver, idx: entry.n, pair: entry, message: { kind: message.kind, sender: message.sender, to: message.to, event: message.event } };
    });
    // Each message's distance below its pair's new last sequence (0 for the pair's last message).
    const placed = rows.map(({ idx, pair, ...row }) => ({ ...row, back: pair.n - idx }));
    const inserted = await query<{ id: string | null; seq: string; epoch: string; sender: string; receiver: string }>(client, outboxInsertSql(this.tables), [
      JSON.stringify([...counts.values()]),
      JSON.stringify(placed),
      this.options.delivery.ackTimeoutMs,
      rows.length,
    ]);
    // Each pair's messages hold consecutive sequence numbers from the pair's lowest, in order: the
    // statement checked that it stored one row per message, each at a place of its own. Should its
    // answer say otherwise, COMMIT may already be on its way, so nothing is thrown: this batch's
    // messages are left to the outbox sweeper, which publishes what the table holds (counted in
    // rsm_redeliveries_total).
    const stored = inserted.rows.filter((row) => row.id !== null);
    const byPairSeq = new Map(stored.map((row) => [compositeKey(row.sender, row.receiver, row.seq), row]));
    const base = new Map<string, number>();
    for (const row of stored) {
      const pair = compositeKey(row.sender, row.receiver);
      base.set(pair, Math.min(base.get(pair) ?? Infinity, Number(row.seq)));
    }
    const publish: BatchResult['outbox'] = [];
    for (const row of rows) {
      const seq = (base.get(compositeKey(row.sender, row.receiver)) ?? NaN) + row.idx - 1;
      const found = byPairSeq.get(compositeKey(row.sender, row.receiver, String(seq)));
      if (found === undefined || found.id === null) return;
      publish.push({ id: found.id, destination: row.destination, message: { ...row.message, seq, epoch: Number(found.epoch), outboxId: found.id } });
    }
    // No spread: a step may send more messages than a call takes arguments, and this runs after COMMIT went out.
    for (const entry of publish) result.outbox.push(entry);
  }
}

/**
 * The outbox insert of a batch. $1: the pairs and their message counts; $2: the messages, each with
 * its pair and its distance below the pair's new last sequence; $3: ms before an unacknowledged
 * message is published again; $4: how many messages. A pair's counter row is created with a fresh
 * epoch from the schema's sequence (the column default) and marked used; the janitor retires rows
 * left unused (see RsmRuntime.cleanUp). Unless one row was stored per message, each at a place of its
 * own (sender, receiver, sequence number: with one row per message, the pair's consecutive range),
 * the statement fails (a cast error that names the counts), and with it the transaction: no
 * message is lost, nor numbered twice, by a step that commits.
 */
export function outboxInsertSql(t: TableNames): string {
  return `WITH s AS (
       INSERT INTO ${t.sendSeq} (sender, receiver, last_seq, destination)
       SELECT sender, receiver, n, destination FROM jsonb_to_recordset($1::jsonb) AS r(sender text, receiver text, destination text, n bigint)
       ON CONFLICT (sender, receiver) DO UPDATE
         SET last_seq = ${t.sendSeq}.last_seq + EXCLUDED.last_seq, used_at = now(), destination = EXCLUDED.destination
       RETURNING sender, receiver, last_seq, epoch
     ), m AS (
       SELECT m.ord, m.destination, m.message || jsonb_build_object('seq', s.last_seq - m.back, 'epoch', s.epoch) AS message
       FROM jsonb_to_recordset($2::jsonb) AS m(ord int, destination text, sender text, receiver text, back int, message jsonb)
       JOIN s ON s.sender = m.sender AND s.receiver = m.receiver
     ), ins AS (
       INSERT INTO ${t.outbox} (destination, message, next_attempt_at)
       SELECT destination, message, now() + make_interval(secs => $3::double precision / 1000) FROM m ORDER BY ord
       RETURNING id, message->>'seq' AS seq, message->>'epoch' AS epoch,
         (message#>>'{sender,type}') || '/' || (message#>>'{sender,id}') AS sender,
         (message#>>'{to,type}') || '/' || (message#>>'{to,id}') AS receiver
     ), stored AS (SELECT count(*) AS n, count(DISTINCT (sender, receiver, seq)) AS places FROM ins)
     SELECT ins.id, ins.seq, ins.epoch, ins.sender, ins.receiver
     FROM stored LEFT JOIN ins ON true
     WHERE CASE WHEN stored.n = $4::bigint AND stored.places = $4::bigint THEN true
                ELSE ('rsm: the outbox insert stored ' || stored.n || ' rows at ' || stored.places || ' places for '
                      || coalesce($4::bigint::text, 'an unknown number of') || ' messages')::int = 0 END`;
}

/** An inbox row as the store reads it. */
interface InboxRow {
  readonly seq: string;
  readonly machine_type: string;
  readonly machine_id: string;
  readonly event: RsmEvent;
  readonly event_id: string | null;
  readonly sender_type: string | null;
  readonly sender_id: string | null;
  readonly timer_name: string | null;
  readonly request_key: string | null;
  readonly attempts: number;
  readonly not_before: Date | null;
  readonly created_at: Date;
}

/** An inbox row as the planner takes it. */
function inboxEvent(row: InboxRow): InboxEvent {
  return {
    seq: row.seq,
    type: row.machine_type,
    id: row.machine_id,
    event: row.event,
    eventId: row.event_id ?? `e${row.seq}`,
    senderType: row.sender_type,
    senderId: row.sender_id,
    timerName: row.timer_name,
    requestKey: row.request_key,
    attempts: row.attempts,
    notBefore: row.not_before,
    createdAt: row.created_at,
  };
}

/** The machine updates as JSON, each machine's data as the text its step already serialized. */
function updatesJson(updates: readonly { type: string; id: string; state: string; data: unknown; status: MachineStatus; steps: number; definition_version: number }[]): string {
  const rows = updates.map(({ data, ...rest }) => `${JSON.stringify(rest).slice(0, -1)},"data":${jsonText(data)}}`);
  return `[${rows.join(',')}]`;
}
