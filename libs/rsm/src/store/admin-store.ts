import type { Pool, PoolClient } from 'pg';
import { parseMachineKey, type MachineRef } from '../definition/types.js';
import type { DeadLetterRow, InboxRow, MachineRow, StepRow } from './entities/rsm-entities.js';
import type { TableNames } from './table-names.js';
import { inTransaction } from './transaction.js';

/** A machine as inspection shows it. */
export interface MachineView<D = unknown> {
  readonly type: string;
  readonly id: string;
  readonly state: string;
  /** Typed by the ref's data type (what the machine stores; older machines may lack newer fields). */
  readonly data: D;
  readonly status: MachineRow['status'];
  /** Steps committed (the row version). */
  readonly version: number;
  /** The definition version the shown state and data belong to. */
  readonly definitionVersion: number;
  /**
   * Set when the machine is stored at this older definition version: `get` and `inspect` show it
   * migrated to the running version, in memory; it is stored migrated with its next step.
   */
  readonly migratedFrom?: number;
  /** Why the machine is shown as stored although this process runs another version (stored by a newer one, no migration, a migration that fails). */
  readonly versionNote?: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A message a machine sent that its service has not yet seen acknowledged. */
export interface OutboxView {
  readonly id: string;
  readonly destination: string;
  readonly to: MachineRef | null;
  readonly kind: string;
  readonly seq: number | null;
  readonly eventType: string | null;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly createdAt: Date;
}

/** A timer a machine has set. */
export interface TimerView {
  readonly name: string;
  readonly fireAt: Date;
  readonly periodMs: number | null;
  readonly payload: unknown;
  readonly createdAt: Date;
}

/** An activity call of a machine that has not completed yet, with its attempts so far. */
export interface ActivityView {
  readonly id: string;
  readonly activity: string;
  readonly callId: string;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
  readonly createdAt: Date;
}

/** Everything that waits on a machine: its inbox, what it sent, its timers and activities, its recent steps. */
export interface MachineInspection<D = unknown> extends MachineView<D> {
  readonly inbox: readonly InboxRow[];
  readonly recentSteps: readonly StepRow[];
  readonly outbox: readonly OutboxView[];
  readonly timers: readonly TimerView[];
  readonly activities: readonly ActivityView[];
}

/** How many machines of a type are in a state (and status). */
export interface MachineCount {
  readonly type: string;
  readonly state: string;
  readonly status: MachineRow['status'];
  readonly count: number;
}

/** One page of a listing; `next` is the cursor of the following page, null after the last. */
export interface AdminPage<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

/** Which machines `machines()` lists: every filter optional, `after` a cursor from a previous page. */
export interface MachineFilter {
  readonly type?: string;
  readonly state?: string;
  readonly status?: MachineRow['status'];
  /** Ids that start with this text. */
  readonly idPrefix?: string;
  readonly limit?: number;
  readonly after?: string;
}

/** Which dead letters `deadLetterPage()` lists, newest first. */
export interface DeadLetterFilter {
  readonly type?: string;
  readonly machineId?: string;
  /** Letters whose reason contains this text. */
  readonly reason?: string;
  /** `open` (default): not redriven; `redriven`; `all`. */
  readonly status?: 'open' | 'redriven' | 'all';
  readonly limit?: number;
  readonly after?: string;
}

/** What became of one dead letter an operator acted on. */
export interface LetterResult {
  readonly id: string;
  readonly outcome: 'redriven' | 'discarded' | 'not_found' | 'already_redriven';
}

/** Who performs an admin action: the name they gave and a fingerprint of their token (never the token). */
export interface AdminActor {
  readonly actor: string;
  readonly tokenId: string;
}

/** One row of the operators' audit log. */
export interface AuditEntry {
  readonly id: string;
  readonly at: Date;
  readonly actor: string;
  readonly tokenId: string;
  readonly action: string;
  readonly targets: unknown;
  readonly outcome: unknown;
}

/** A sender/receiver pair waiting for a missing sequence number, as `gaps()` shows it. */
export interface GapView {
  readonly sender: MachineRef;
  readonly receiver: MachineRef;
  /** The pair's numbering (epoch) the missing and buffered numbers belong to. */
  readonly epoch: number;
  /** The first missing sequence number (last handled + 1). */
  readonly missingFrom: number;
  /** The first buffered one: `missingFrom` to `nextBuffered - 1` are missing. */
  readonly nextBuffered: number;
  /** Messages of the pair waiting in the reorder buffer. */
  readonly waiting: number;
  /** When the oldest of them arrived. */
  readonly waitingSince: Date;
}

/** A cursor that no page of this listing handed out (tampered, truncated, or of another listing). */
export class InvalidCursorError extends TypeError {
  constructor(readonly listing: string) {
    super(`not a cursor of the ${listing} listing`);
    this.name = 'InvalidCursorError';
  }
}

/** The largest page any admin listing returns, and the most letters one bulk action takes. */
export const ADMIN_MAX_LIMIT = 500;

const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** Whether `id` can name a row of a bigserial column (1-19 digits, within bigint). */
export function isRowId(id: string): boolean {
  return /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}

function pageLimit(limit: number | undefined, fallback = 100): number {
  return limit !== undefined && Number.isInteger(limit) && limit > 0 ? Math.min(limit, ADMIN_MAX_LIMIT) : fallback;
}

/**
 * The cursor after machine (type, id): its type and id joined by a NUL (neither can hold one: types
 * are `A-Za-z0-9_.-`, Postgres text has no NUL), UTF-8, base64url; at most ~950 characters.
 */
function machineCursor(type: string, id: string): string {
  return Buffer.from(`${type}\u0000${id}`, 'utf8').toString('base64url');
}

function readMachineCursor(cursor: string): { type: string; id: string } {
  const text = /^[A-Za-z0-9_-]{1,2000}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const parts = text.split('\u0000');
  // Only what machineCursor makes: one separator, both parts there, and the same bytes back (no lenient decoding).
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '' || machineCursor(parts[0] ?? '', parts[1] ?? '') !== cursor) throw new InvalidCursorError('machines');
  return { type: parts[0] ?? '', id: parts[1] ?? '' };
}

function rowIdCursor(cursor: string | undefined, listing: string): string | null {
  if (cursor === undefined) return null;
  if (!isRowId(cursor)) throw new InvalidCursorError(listing);
  return cursor;
}

type MachineSqlRow = { type: string; id: string; state: string; data: unknown; status: MachineRow['status']; version: string; definition_version: number; created_at: Date; updated_at: Date };

const MACHINE_COLUMNS = 'type, id, state, data, status, version, definition_version, created_at, updated_at';

function toView(row: MachineSqlRow): MachineView {
  return {
    type: row.type,
    id: row.id,
    state: row.state,
    data: row.data,
    status: row.status,
    version: Number(row.version),
    definitionVersion: row.definition_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toLetter(row: Record<string, unknown>): DeadLetterRow {
  return {
    id: String(row.id),
    machineType: row.machine_type as string,
    machineId: row.machine_id as string,
    event: row.event as { type: string },
    senderType: row.sender_type as string | null,
    senderId: row.sender_id as string | null,
    requestKey: row.request_key as string | null,
    reason: row.reason as string,
    attempts: row.attempts as number,
    createdAt: row.created_at as Date,
    redrivenAt: row.redriven_at as Date | null,
  };
}

const LETTER_COLUMNS = 'id, machine_type, machine_id, event, sender_type, sender_id, request_key, reason, attempts, created_at, redriven_at';

/**
 * The SQL of the runtime's admin surface: inspection, listings with filters and keyset paging,
 * dead-letter redrive and discard (one or many, each recorded in the audit log in the same
 * transaction), gaps and the audit log itself. Callers bound and validate input; this class
 * still refuses what would reach SQL malformed (cursors, row ids).
 */
export class AdminStore {
  constructor(
    private readonly pool: Pool,
    private readonly t: TableNames,
  ) {}

  async machine(ref: MachineRef): Promise<MachineView | undefined> {
    const result = await this.pool.query<MachineSqlRow>(`SELECT ${MACHINE_COLUMNS} FROM ${this.t.machines} WHERE type = $1 AND id = $2`, [ref.type, ref.id]);
    const row = result.rows[0];
    return row === undefined ? undefined : toView(row);
  }

  /**
   * A machine and what waits on it, each list at most `limit` rows: inbox (oldest first), outbox
   * rows it sent (oldest first; the outbox is short-lived and has no index by sender, so this reads
   * it whole), timers, unfinished activity calls and recent steps (newest first, each with the
   * sends and creates it made: where its events went, after the outbox has forgotten them).
   */
  async inspect(ref: MachineRef, limit: number): Promise<MachineInspection | undefined> {
    const machine = await this.machine(ref);
    if (machine === undefined) return undefined;
    const t = this.t;
    const n = Number.isFinite(limit) ? Math.max(1, Math.min(Math.trunc(limit), ADMIN_MAX_LIMIT)) : 20;
    const args = [ref.type, ref.id, n];
    const [inbox, steps, outbox, timers, activities] = await Promise.all([
      this.pool.query<InboxRow>(
        `SELECT seq::text AS "seq", machine_type AS "machineType", machine_id AS "machineId", event, event_id AS "eventId", sender_type AS "senderType", sender_id AS "senderId",
                attempts, not_before AS "notBefore", last_error AS "lastError", created_at AS "createdAt"
         FROM ${t.inbox} WHERE machine_type = $1 AND machine_id = $2 ORDER BY seq LIMIT $3`,
        args,
      ),
      this.pool.query<StepRow>(
        `SELECT id::text AS "id", machine_type AS "machineType", machine_id AS "machineId", event_type AS "eventType", event_id AS "eventId", from_state AS "fromState", to_state AS "toState", effects, sends, definition_version AS "definitionVersion", at
         FROM ${t.steps} WHERE machine_type = $1 AND machine_id = $2 ORDER BY id DESC LIMIT $3`,
        args,
      ),
      this.pool.query<{ id: string; destination: string; message: { kind?: string; to?: MachineRef; seq?: number; event?: { type?: string } }; attempts: number; next_attempt_at: Date; created_at: Date }>(
        `SELECT id::text AS id, destination, message, attempts, next_attempt_at, created_at FROM ${t.outbox}
         WHERE message#>>'{sender,type}' = $1 AND message#>>'{sender,id}' = $2 ORDER BY id LIMIT $3`,
        args,
      ),
      this.pool.query<{ name: string; fire_at: Date; period_ms: string | null; payload: unknown; created_at: Date }>(
        `SELECT name, fire_at, period_ms, payload, created_at FROM ${t.timers} WHERE machine_type = $1 AND machine_id = $2 ORDER BY fire_at LIMIT $3`,
        args,
      ),
      this.pool.query<{ id: string; activity: string; call_id: string; attempts: number; next_attempt_at: Date; last_error: string | null; created_at: Date }>(
        `SELECT id::text AS id, activity, call_id, attempts, next_attempt_at, last_error, created_at FROM ${t.activities} WHERE machine_type = $1 AND machine_id = $2 ORDER BY id LIMIT $3`,
        args,
      ),
    ]);
    return {
      ...machine,
      inbox: inbox.rows,
      recentSteps: steps.rows,
      outbox: outbox.rows.map((row) => ({
        id: row.id,
        destination: row.destination,
        to: row.message.to ?? null,
        kind: row.message.kind ?? 'event',
        seq: typeof row.message.seq === 'number' ? row.message.seq : null,
        eventType: row.message.event?.type ?? null,
        attempts: row.attempts,
        nextAttemptAt: row.next_attempt_at,
        createdAt: row.created_at,
      })),
      timers: timers.rows.map((row) => ({ name: row.name, fireAt: row.fire_at, periodMs: row.period_ms === null ? null : Number(row.period_ms), payload: row.payload, createdAt: row.created_at })),
      activities: activities.rows.map((row) => ({
        id: row.id,
        activity: row.activity,
        callId: row.call_id,
        attempts: row.attempts,
        nextAttemptAt: row.next_attempt_at,
        lastError: row.last_error,
        createdAt: row.created_at,
      })),
    };
  }

  /** Machines of one type, optionally in one state, in id order, `limit` at a time after `afterId`. */
  async listOfType(type: string, options: { state?: string | readonly string[]; limit?: number; afterId?: string }): Promise<MachineView[]> {
    const states = options.state === undefined ? null : typeof options.state === 'string' ? [options.state] : [...options.state];
    const result = await this.pool.query<MachineSqlRow>(
      `SELECT ${MACHINE_COLUMNS} FROM ${this.t.machines}
       WHERE type = $1 AND ($2::text[] IS NULL OR state = ANY($2::text[])) AND ($3::text IS NULL OR id > $3)
       ORDER BY id LIMIT $4`,
      [type, states, options.afterId ?? null, options.limit ?? 100],
    );
    return result.rows.map(toView);
  }

  /** Machines of every type matching the filter, in (type, id) order, one page at a time. */
  async machines(filter: MachineFilter): Promise<AdminPage<MachineView>> {
    const limit = pageLimit(filter.limit);
    const after = filter.after === undefined ? undefined : readMachineCursor(filter.after);
    const result = await this.pool.query<MachineSqlRow>(
      `SELECT ${MACHINE_COLUMNS} FROM ${this.t.machines}
       WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR left(id, length($4)) = $4)
         AND ($5::text IS NULL OR (type, id) > ($5, $6::text))
       ORDER BY type, id LIMIT $7`,
      [filter.type ?? null, filter.state ?? null, filter.status ?? null, filter.idPrefix ?? null, after?.type ?? null, after?.id ?? null, limit + 1],
    );
    const rows = result.rows.slice(0, limit);
    const last = rows.at(-1);
    return { items: rows.map(toView), next: result.rows.length > limit && last !== undefined ? machineCursor(last.type, last.id) : null };
  }

  /** How many machines there are by type, state and status (optionally of one type). */
  async machineCounts(type?: string): Promise<MachineCount[]> {
    const result = await this.pool.query<{ type: string; state: string; status: MachineRow['status']; count: string }>(
      `SELECT type, state, status, count(*) AS count FROM ${this.t.machines} WHERE ($1::text IS NULL OR type = $1) GROUP BY type, state, status ORDER BY type, state, status`,
      [type ?? null],
    );
    return result.rows.map((row) => ({ type: row.type, state: row.state, status: row.status, count: Number(row.count) }));
  }

  /** Dead letters, newest first; by default only those not redriven. */
  async deadLetters(options: { type?: string; limit?: number; includeRedriven?: boolean }): Promise<DeadLetterRow[]> {
    const result = await this.pool.query<Record<string, unknown>>(
      `SELECT ${LETTER_COLUMNS} FROM ${this.t.deadLetters}
       WHERE ($1::text IS NULL OR machine_type = $1) AND ($2::boolean OR redriven_at IS NULL)
       ORDER BY id DESC LIMIT $3`,
      [options.type ?? null, options.includeRedriven ?? false, options.limit ?? 100],
    );
    return result.rows.map(toLetter);
  }

  /** Dead letters matching the filter, newest first, one page at a time. */
  async deadLetterPage(filter: DeadLetterFilter): Promise<AdminPage<DeadLetterRow>> {
    const limit = pageLimit(filter.limit);
    const after = rowIdCursor(filter.after, 'dead-letters');
    const status = filter.status ?? 'open';
    const result = await this.pool.query<Record<string, unknown>>(
      `SELECT ${LETTER_COLUMNS} FROM ${this.t.deadLetters}
       WHERE ($1::text IS NULL OR machine_type = $1) AND ($2::text IS NULL OR machine_id = $2) AND ($3::text IS NULL OR strpos(reason, $3) > 0)
         AND ($4 = 'all' OR ($4 = 'open') = (redriven_at IS NULL))
         AND ($5::bigint IS NULL OR id < $5)
       ORDER BY id DESC LIMIT $6`,
      [filter.type ?? null, filter.machineId ?? null, filter.reason ?? null, status, after, limit + 1],
    );
    const rows = result.rows.slice(0, limit).map(toLetter);
    return { items: rows, next: result.rows.length > limit ? (rows.at(-1)?.id ?? null) : null };
  }

  async deadLetter(id: string): Promise<DeadLetterRow | undefined> {
    if (!isRowId(id)) return undefined;
    const result = await this.pool.query<Record<string, unknown>>(`SELECT ${LETTER_COLUMNS} FROM ${this.t.deadLetters} WHERE id = $1`, [id]);
    const row = result.rows[0];
    return row === undefined ? undefined : toLetter(row);
  }

  /**
   * Puts the events of open dead letters back into their machines' inboxes (faulted machines
   * resume), in one transaction with its audit row. Returns each id's outcome in the order given and
   * the machines to wake. Ids are de-duplicated; at most ADMIN_MAX_LIMIT.
   */
  async redrive(ids: readonly string[], by: AdminActor | undefined): Promise<{ results: LetterResult[]; wake: string[] }> {
    const wanted = this.checkIds(ids);
    const t = this.t;
    return inTransaction(this.pool, async (client) => {
      const done = await client.query<{ id: string; machine_type: string; machine_id: string }>(
        `WITH picked AS (
           UPDATE ${t.deadLetters} SET redriven_at = now() WHERE id = ANY($1::bigint[]) AND redriven_at IS NULL
           RETURNING id, machine_type, machine_id, event, sender_type, sender_id, request_key
         ), queued AS (
           INSERT INTO ${t.inbox} (machine_type, machine_id, event, sender_type, sender_id, request_key)
           SELECT machine_type, machine_id, event, sender_type, sender_id, request_key FROM picked ORDER BY id
         ), resumed AS (
           UPDATE ${t.machines} m SET status = 'active' FROM (SELECT DISTINCT machine_type, machine_id FROM picked) p
           WHERE m.type = p.machine_type AND m.id = p.machine_id AND m.status = 'faulted'
         )
         SELECT id::text AS id, machine_type, machine_id FROM picked`,
        [wanted.valid],
      );
      const results = await this.outcomes(client, wanted, new Set(done.rows.map((row) => row.id)), 'redriven');
      if (by !== undefined) await this.record(client, by, 'dead-letters.redrive', { ids: wanted.all }, summarize(results));
      return { results, wake: [...new Set(done.rows.map((row) => `${row.machine_type}/${row.machine_id}`))] };
    });
  }

  /**
   * Deletes open dead letters whose events an operator gives up, in one transaction with its audit
   * row (which keeps each letter's machine, event type and reason). A redriven letter is history and
   * is not discarded (`already_redriven`).
   */
  async discard(ids: readonly string[], by: AdminActor | undefined): Promise<LetterResult[]> {
    const wanted = this.checkIds(ids);
    const t = this.t;
    return inTransaction(this.pool, async (client) => {
      const gone = await client.query<{ id: string; machine_type: string; machine_id: string; event_type: string | null; reason: string }>(
        `DELETE FROM ${t.deadLetters} WHERE id = ANY($1::bigint[]) AND redriven_at IS NULL
         RETURNING id::text AS id, machine_type, machine_id, event->>'type' AS event_type, reason`,
        [wanted.valid],
      );
      const results = await this.outcomes(client, wanted, new Set(gone.rows.map((row) => row.id)), 'discarded');
      if (by !== undefined) {
        const letters = gone.rows.map((row) => ({ id: row.id, machine: `${row.machine_type}/${row.machine_id}`, eventType: row.event_type, reason: row.reason.slice(0, 500) }));
        await this.record(client, by, 'dead-letters.discard', { ids: wanted.all }, { ...summarize(results), letters });
      }
      return results;
    });
  }

  /**
   * Pairs whose next sequence number has been missing for at least `olderThanMs`, oldest first.
   * Pairs come from the oldest buffered rows (an index range, bounded), then each pair is read by its key.
   * With `pair`, only that pair, whatever its age.
   */
  async gaps(olderThanMs: number, limit: number, pair?: { sender: string; receiver: string }): Promise<GapView[]> {
    const t = this.t;
    if (pair !== undefined) return this.gapRows('SELECT $1::text AS sender, $2::text AS receiver', [pair.sender, pair.receiver], '');
    return this.gapRows(
      `SELECT DISTINCT sender, receiver FROM (
         SELECT sender, receiver FROM ${t.reorder}
         WHERE created_at <= now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY created_at LIMIT 10000) oldest`,
      [olderThanMs, limit],
      'LIMIT $2',
    );
  }

  /** The gaps of the pairs `pairs` selects (sender, receiver), oldest first. */
  private async gapRows(pairs: string, params: unknown[], limit: string): Promise<GapView[]> {
    const t = this.t;
    const result = await this.pool.query<{ sender: string; receiver: string; epoch: string | null; last_seq: string | null; next_epoch: string; next_seq: string; waiting: string; since: Date }>(
      `WITH pairs AS (${pairs})
       SELECT p.sender, p.receiver, c.epoch, c.last_seq, f.epoch AS next_epoch, f.seq AS next_seq, b.waiting, b.since
       FROM pairs p
       CROSS JOIN LATERAL (SELECT count(*) AS waiting, min(created_at) AS since FROM ${t.reorder} r WHERE r.sender = p.sender AND r.receiver = p.receiver) b
       CROSS JOIN LATERAL (SELECT epoch, seq FROM ${t.reorder} r WHERE r.sender = p.sender AND r.receiver = p.receiver ORDER BY epoch, seq LIMIT 1) f
       LEFT JOIN ${t.recvSeq} c ON c.sender = p.sender AND c.receiver = p.receiver
       ORDER BY b.since ${limit}`,
      params,
    );
    return result.rows.map((row) => ({
      sender: parseMachineKey(row.sender),
      receiver: parseMachineKey(row.receiver),
      epoch: Number(row.next_epoch),
      // Normally the counter's numbering; the first of a later one would be missing from 1.
      missingFrom: Number(row.epoch ?? 0) === Number(row.next_epoch) ? Number(row.last_seq ?? 0) + 1 : 1,
      nextBuffered: Number(row.next_seq),
      waiting: Number(row.waiting),
      waitingSince: row.since,
    }));
  }
  /** The audit log, newest first, optionally of one action, one page at a time. */
  async audit(filter: { action?: string; limit?: number; after?: string }): Promise<AdminPage<AuditEntry>> {
    const limit = pageLimit(filter.limit);
    const after = rowIdCursor(filter.after, 'audit');
    const result = await this.pool.query<{ id: string; at: Date; actor: string; token_id: string; action: string; targets: unknown; outcome: unknown }>(
      `SELECT id::text AS id, at, actor, token_id, action, targets, outcome FROM ${this.t.adminAudit}
       WHERE ($1::text IS NULL OR action = $1) AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [filter.action ?? null, after, limit + 1],
    );
    const items = result.rows.slice(0, limit).map((row) => ({ id: row.id, at: row.at, actor: row.actor, tokenId: row.token_id, action: row.action, targets: row.targets, outcome: row.outcome }));
    return { items, next: result.rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** Writes one audit row, within the caller's transaction when given a client. */
  async record(client: PoolClient | Pool, by: AdminActor, action: string, targets: unknown, outcome: unknown): Promise<void> {
    await client.query(`INSERT INTO ${this.t.adminAudit} (actor, token_id, action, targets, outcome) VALUES ($1, $2, $3, $4, $5)`, [
      by.actor,
      by.tokenId,
      action,
      JSON.stringify(targets),
      JSON.stringify(outcome),
    ]);
  }

  private checkIds(ids: readonly string[]): { all: string[]; valid: string[] } {
    // One spelling per row id ('007' is row 7), so outcomes match what Postgres returns.
    const all = [...new Set(ids.map((id) => (isRowId(id) ? BigInt(id).toString() : id)))];
    if (all.length === 0 || all.length > ADMIN_MAX_LIMIT) throw new RangeError(`between 1 and ${ADMIN_MAX_LIMIT} dead letter ids at a time (got ${all.length})`);
    return { all, valid: all.filter(isRowId) };
  }

  /** Each wanted id's outcome: done, or why not (the row is there but redriven, or not there). */
  private async outcomes(client: PoolClient, wanted: { all: string[]; valid: string[] }, done: ReadonlySet<string>, verb: 'redriven' | 'discarded'): Promise<LetterResult[]> {
    const rest = wanted.valid.filter((id) => !done.has(id));
    const present = rest.length === 0 ? new Set<string>() : new Set((await client.query<{ id: string }>(`SELECT id::text AS id FROM ${this.t.deadLetters} WHERE id = ANY($1::bigint[])`, [rest])).rows.map((row) => row.id));
    return wanted.all.map((id) => ({ id, outcome: done.has(id) ? verb : present.has(id) ? 'already_redriven' : 'not_found' }));
  }
}

function summarize(results: readonly LetterResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { outcome } of results) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}
