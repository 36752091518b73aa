import { Command, CommanderError, Option } from 'commander';
import { AdminClient, CliError, connection } from './admin-client.js';
import type { CliEnvironment } from './config.js';
import { cell, escapeControls, fields, prettyJson, table } from './format.js';

/** Where the CLI writes and whom it asks; tests pass their own. */
export interface CliIo {
  /** Standard output: results (tables, or JSON with `--json`). */
  out(text: string): void;
  /** Standard error: errors and progress. */
  err(text: string): void;
  /** Asks a yes/no question; absent when nobody can answer (standard input is not a terminal). */
  readonly confirm?: (question: string) => Promise<boolean>;
  /** The HTTP client (the global fetch by default). */
  readonly fetch?: typeof fetch;
}

interface Globals {
  url?: string;
  token?: string;
  as?: string;
  json?: boolean;
  timeout: string;
}

/** Shapes of the admin API's answers the human output reads (the JSON output passes them through). */
interface Page<T> {
  items: T[];
  next: string | null;
}
interface Machine {
  type: string;
  id: string;
  state: string;
  status: string;
  version: number;
  data: unknown;
  createdAt: string;
  updatedAt: string;
}
interface Letter {
  id: string;
  machineType: string;
  machineId: string;
  event: { type: string };
  senderType: string | null;
  senderId: string | null;
  requestKey: string | null;
  reason: string;
  attempts: number;
  createdAt: string;
  redrivenAt: string | null;
}
interface LetterResult {
  id: string;
  outcome: 'redriven' | 'discarded' | 'not_found' | 'already_redriven';
}
interface Inspection extends Machine {
  inbox: { seq: string; event: { type: string }; senderType: string | null; senderId: string | null; attempts: number; notBefore: string | null; lastError: string | null; createdAt: string }[];
  outbox: { id: string; destination: string; to: { type: string; id: string } | null; kind: string; seq: number | null; eventType: string | null; attempts: number; nextAttemptAt: string }[];
  timers: { name: string; fireAt: string; periodMs: number | null }[];
  activities: { id: string; activity: string; callId: string; attempts: number; nextAttemptAt: string; lastError: string | null }[];
  recentSteps: { id: string; eventType: string; fromState: string; toState: string; effects: number; sends: { kind: 'send' | 'create'; type: string; id: string; event: string }[]; at: string }[];
}

/** Letters one bulk call takes (the server's limit). */
const CHUNK = 500;

const path = (...segments: string[]) => segments.map((s) => `/${encodeURIComponent(s)}`).join('');
const ref = (type: string | null, id: string | null) => (type === null ? '-' : `${type}/${id ?? ''}`);
/** A step, and one line under it for each further send: `Event -> Type/id`, `(new)` for a create. */
const stepRows = (s: Inspection['recentSteps'][number]): unknown[][] => {
  const sends = s.sends.map((x) => `${x.event} -> ${x.type}/${x.id}${x.kind === 'create' ? ' (new)' : ''}`);
  return [[s.id, s.eventType, s.fromState, s.toState, s.effects, s.at, sends[0] ?? '-'], ...sends.slice(1).map((send) => ['', '', '', '', '', '', send])];
};

/**
 * Runs `rsm <argv>` and resolves to its exit code: 0 done, 1 failed (the server refused, a letter
 * was not acted on, the operator declined), 2 bad usage or configuration. Never exits the process.
 *
 * @example
 * const code = await runCli(['dead-letters', 'list', '--json'], { url: 'http://127.0.0.1:3002', token }, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
 */
export async function runCli(argv: readonly string[], env: CliEnvironment, terminal: CliIo): Promise<number> {
  // Everything printed may carry the service's text: no control character reaches the terminal raw
  // (an escape sequence in an error message or an id could rewrite what a confirmation shows).
  const io: CliIo = {
    ...terminal,
    out: (text) => terminal.out(escapeControls(text, true)),
    err: (text) => terminal.err(escapeControls(text, true)),
    ...(terminal.confirm === undefined ? {} : { confirm: (question: string) => (terminal.confirm as (q: string) => Promise<boolean>)(escapeControls(question, true)) }),
  };
  const program = buildProgram(env, io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    // Help and version end with 0; every usage error commander finds ends with 2, as the CLI's own.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ExitCode) return error.code;
    const message = error instanceof CliError ? error.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
    io.err(`rsm: ${message}\n`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}

/** A command that printed its own outcome and ends with a non-zero code. */
class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function buildProgram(env: CliEnvironment, io: CliIo): Command {
  const print = (text: string) => io.out(`${text}\n`);
  const program = new Command('rsm')
    .description("operate a service's Reliable State Machines through its admin API (/rsm/*)")
    .addOption(new Option('--url <url>', 'the service, e.g. http://127.0.0.1:3002 (default: RSM_URL)'))
    .addOption(new Option('--token <token>', 'an operator token (default: RSM_TOKEN; prefer the variable: flags show in the process list)'))
    .addOption(new Option('--as <name>', 'your name in the audit log (default: RSM_ACTOR, else your login name)'))
    .addOption(new Option('--json', 'print JSON instead of tables'))
    .addOption(new Option('--timeout <ms>', 'how long to wait for each answer').default('30000'))
    .showHelpAfterError('(rsm --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) });

  /** The client and output mode of a command, from the global flags and the environment. */
  const context = (command: Command) => {
    const g = command.optsWithGlobals<Globals>();
    const timeoutMs = /^\d{1,6}$/.test(g.timeout) ? Number(g.timeout) : Number.NaN;
    const c = connection({ url: g.url ?? env.url, token: g.token ?? env.token, actor: g.as ?? env.actor, timeoutMs });
    return { client: new AdminClient(c, io.fetch), json: g.json === true, actor: c.actor };
  };
  const emit = (json: boolean, value: unknown, human: () => string) => print(json ? JSON.stringify(value, null, 2) : human());
  const more = (next: string | null, hint: string) => (next === null ? '' : `\nmore: ${hint} --after ${next}`);

  program
    .command('machines')
    .description('list machines (filters, paged), or count them by type, state and status with --counts')
    .option('--type <type>', 'of one machine type')
    .option('--state <state>', 'in one state')
    .addOption(new Option('--status <status>', 'active, halted or faulted').choices(['active', 'halted', 'faulted']))
    .option('--id-prefix <prefix>', 'whose id starts with this')
    .option('--limit <n>', 'at most this many (1-500, default 100)')
    .option('--after <cursor>', "the page after this one (a page's next cursor)")
    .option('--counts', 'counts by type, state and status instead of a list')
    .action(async (o: { type?: string; state?: string; status?: string; idPrefix?: string; limit?: string; after?: string; counts?: boolean }, command: Command) => {
      const { client, json } = context(command);
      if (o.counts === true) {
        if (o.state !== undefined || o.status !== undefined || o.idPrefix !== undefined || o.limit !== undefined || o.after !== undefined) throw new CliError('--counts takes only --type', 2);
        const counts = await client.get<{ type: string; state: string; status: string; count: number }[]>('/rsm/machines/counts', { type: o.type });
        emit(json, counts, () => {
          const total = counts.reduce((n, c) => n + c.count, 0);
          return `${table(['TYPE', 'STATE', 'STATUS', 'COUNT'], counts.map((c) => [c.type, c.state, c.status, c.count]))}\n${total} machine${total === 1 ? '' : 's'}`;
        });
        return;
      }
      const page = await client.get<Page<Machine>>('/rsm/machines', { type: o.type, state: o.state, status: o.status, idPrefix: o.idPrefix, limit: o.limit, after: o.after });
      emit(json, page, () => table(['TYPE', 'ID', 'STATE', 'STATUS', 'VERSION', 'UPDATED'], page.items.map((m) => [m.type, m.id, m.state, m.status, m.version, m.updatedAt])) + more(page.next, 'rsm machines ...'));
    });

  program
    .command('inspect')
    .description('a machine: state, data, pending inbox, unacknowledged outbox, timers, activity attempts, recent steps')
    .argument('<type>', 'machine type')
    .argument('<id>', 'machine id')
    .option('--limit <n>', 'rows of each list (1-500, default 20)')
    .action(async (type: string, id: string, o: { limit?: string }, command: Command) => {
      const { client, json } = context(command);
      const m = await client.get<Inspection>(`/rsm/machines${path(type, id)}`, { limit: o.limit });
      emit(json, m, () =>
        [
          fields([
            ['machine', `${m.type}/${m.id}`],
            ['state', m.state],
            ['status', m.status],
            ['version', m.version],
            ['created', m.createdAt],
            ['updated', m.updatedAt],
          ]),
          `data:\n${prettyJson(m.data)}`,
          `inbox (${m.inbox.length}):\n${table(['SEQ', 'EVENT', 'SENDER', 'ATTEMPTS', 'NOT BEFORE', 'LAST ERROR', 'CREATED'], m.inbox.map((i) => [i.seq, i.event.type, ref(i.senderType, i.senderId), i.attempts, i.notBefore, i.lastError, i.createdAt]))}`,
          `outbox (${m.outbox.length}):\n${table(['ID', 'KIND', 'TO', 'SEQ', 'EVENT', 'SERVICE', 'ATTEMPTS', 'NEXT ATTEMPT'], m.outbox.map((x) => [x.id, x.kind, x.to === null ? '-' : ref(x.to.type, x.to.id), x.seq, x.eventType, x.destination, x.attempts, x.nextAttemptAt]))}`,
          `timers (${m.timers.length}):\n${table(['NAME', 'FIRES AT', 'EVERY MS'], m.timers.map((t) => [t.name, t.fireAt, t.periodMs]))}`,
          `activities (${m.activities.length}):\n${table(['ID', 'ACTIVITY', 'CALL', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST ERROR'], m.activities.map((a) => [a.id, a.activity, a.callId, a.attempts, a.nextAttemptAt, a.lastError]))}`,
          `recent steps (${m.recentSteps.length}):\n${table(['ID', 'EVENT', 'FROM', 'TO', 'EFFECTS', 'AT', 'SENDS'], m.recentSteps.flatMap(stepRows))}`,
        ].join('\n\n'),
      );
    });

  program
    .command('types')
    .description('the machine types the service runs, with their states')
    .action(async (_o: unknown, command: Command) => {
      const { client, json } = context(command);
      const types = await client.get<{ type: string; version: number; initial: string; states: string[] }[]>('/rsm/types');
      emit(json, types, () => table(['TYPE', 'VERSION', 'INITIAL', 'STATES'], types.map((t) => [t.type, t.version, t.initial, t.states.join(', ')])));
    });

  program
    .command('versions')
    .description('machines by type and stored definition version, the version the service runs, and how it treats each (a rolling deploy: what is left to migrate)')
    .action(async (_o: unknown, command: Command) => {
      const { client, json } = context(command);
      const types = await client.get<{ type: string; running: number | null; migratesFrom: number | null; stored: { version: number; machines: number; halted: number; handling: string }[] }[]>('/rsm/versions');
      const handling: Record<string, string> = {
        current: 'current',
        migrates: 'migrates with its next step',
        newer: 'newer: left to newer processes',
        'no-migration': 'no migration to the running version',
        'not-run-here': 'type not run by this service',
      };
      const rows = types.flatMap((t) => {
        const running = t.running === null ? '-' : `v${t.running}${t.migratesFrom !== null && t.migratesFrom < t.running ? ` (from v${t.migratesFrom})` : ''}`;
        if (t.stored.length === 0) return [[t.type, running, '-', 0, 0, 'no machines']];
        return t.stored.map((s) => [t.type, running, `v${s.version}`, s.machines, s.halted, handling[s.handling] ?? s.handling]);
      });
      emit(json, types, () => table(['TYPE', 'RUNNING', 'STORED', 'MACHINES', 'HALTED', 'HANDLING'], rows));
    });

  program
    .command('diagram')
    .description("a machine type's state diagram in Mermaid (paste it into any Mermaid renderer); --json adds its transitions")
    .argument('<type>', 'machine type')
    .action(async (type: string, _o: unknown, command: Command) => {
      const { client, json } = context(command);
      const diagram = await client.get<{ mermaid: string }>(`/rsm/types${path(type)}/diagram`);
      emit(json, diagram, () => diagram.mermaid);
    });

  const letters = program.command('dead-letters').description('list, show, redrive or discard dead letters');
  const filterOptions = (command: Command) =>
    command
      .option('--type <type>', 'of one machine type')
      .option('--machine-id <id>', 'of one machine id')
      .option('--reason <text>', 'whose reason contains this text');
  type LetterFilter = { type?: string; machineId?: string; reason?: string };

  filterOptions(letters.command('list', { isDefault: true }).description('dead letters, newest first (open ones unless --status)'))
    .addOption(new Option('--status <status>', 'open, redriven or all (default open)').choices(['open', 'redriven', 'all']))
    .option('--limit <n>', 'at most this many (1-500, default 100)')
    .option('--after <id>', "the page after this one (a page's next cursor)")
    .action(async (o: LetterFilter & { status?: string; limit?: string; after?: string }, command: Command) => {
      const { client, json } = context(command);
      const page = await client.get<Page<Letter>>('/rsm/dead-letters', { type: o.type, machineId: o.machineId, reason: o.reason, status: o.status, limit: o.limit, after: o.after });
      emit(
        json,
        page,
        () =>
          table(['ID', 'MACHINE', 'EVENT', 'REASON', 'ATTEMPTS', 'CREATED', 'REDRIVEN'], page.items.map((l) => [l.id, `${l.machineType}/${l.machineId}`, l.event.type, l.reason, l.attempts, l.createdAt, l.redrivenAt])) +
          more(page.next, 'rsm dead-letters list ...'),
      );
    });

  letters
    .command('show')
    .description('one dead letter with its event')
    .argument('<id>', 'dead letter id')
    .action(async (id: string, _o: unknown, command: Command) => {
      const { client, json } = context(command);
      const l = await client.get<Letter>(`/rsm/dead-letters${path(id)}`);
      emit(json, l, () =>
        [
          fields([
            ['id', l.id],
            ['machine', `${l.machineType}/${l.machineId}`],
            ['event type', l.event.type],
            ['sender', ref(l.senderType, l.senderId)],
            ['request key', l.requestKey],
            ['reason', l.reason],
            ['attempts', l.attempts],
            ['created', l.createdAt],
            ['redriven', l.redrivenAt],
          ]),
          `event:\n${prettyJson(l.event)}`,
        ].join('\n\n'),
      );
    });

  const act = (verb: 'redrive' | 'discard', done: LetterResult['outcome'], description: string) =>
    filterOptions(letters.command(verb).description(description))
      .argument('[ids...]', 'dead letter ids')
      .option('--all-matching', 'every open dead letter the filters match, instead of ids')
      .option('--max <n>', 'with --all-matching: refuse when more than this many match (default 10000)', '10000')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (ids: string[], o: LetterFilter & { allMatching?: boolean; max: string; yes?: boolean }, command: Command) => {
        const { client, json, actor } = context(command);
        const filtered = o.type !== undefined || o.machineId !== undefined || o.reason !== undefined;
        if (o.allMatching === true && ids.length > 0) throw new CliError('give ids or --all-matching, not both', 2);
        if (o.allMatching !== true && filtered) throw new CliError('--type, --machine-id and --reason select letters only with --all-matching', 2);
        if (o.allMatching !== true && ids.length === 0) throw new CliError(`which dead letters? give their ids, or --all-matching with filters (rsm dead-letters ${verb} --help)`, 2);
        const max = /^\d{1,6}$/.test(o.max) ? Number(o.max) : 0;
        if (max < 1) throw new CliError('--max must be 1-999999', 2);
        let selected = [...new Set(ids)];
        if (o.allMatching === true) {
          selected = [];
          const seen = new Set<string>();
          let after: string | null = null;
          do {
            const page: Page<Letter> = await client.get<Page<Letter>>('/rsm/dead-letters', { type: o.type, machineId: o.machineId, reason: o.reason, status: 'open', limit: CHUNK, ...(after === null ? {} : { after }) });
            if (!Array.isArray(page.items) || (page.next !== null && typeof page.next !== 'string')) throw new CliError('the service answered a page that is not one (nothing was changed)');
            for (const l of page.items) selected.push(l.id);
            if (selected.length > max) throw new CliError(`more than ${max} open dead letters match: narrow the filters or raise --max (nothing was changed)`);
            // A page that points at itself or at an earlier one, or an empty page with more to come,
            // would page for ever.
            if (page.next !== null && (seen.has(page.next) || page.items.length === 0)) throw new CliError('the service answered pages that do not advance (nothing was changed)');
            if (page.next !== null) seen.add(page.next);
            after = page.next;
          } while (after !== null);
          if (selected.length === 0) {
            emit(json, { results: [] }, () => 'no open dead letter matches: nothing to do');
            return;
          }
        }
        if (o.yes !== true) {
          const sample = selected.slice(0, 10).join(', ') + (selected.length > 10 ? `, … (${selected.length - 10} more)` : '');
          const question = `${verb} ${selected.length} dead letter${selected.length === 1 ? '' : 's'} (${sample}) as ${actor}?`;
          if (io.confirm === undefined) throw new CliError(`refusing to ${verb} without confirmation (standard input is not a terminal): check the ids and pass --yes`);
          if (!(await io.confirm(question))) {
            io.err('rsm: nothing done\n');
            throw new ExitCode(1);
          }
        }
        const results: LetterResult[] = [];
        for (let i = 0; i < selected.length; i += CHUNK) {
          let answer: unknown;
          try {
            answer = await client.post<unknown>(`/rsm/dead-letters/${verb}`, { ids: selected.slice(i, i + CHUNK) });
          } catch (error) {
            // Earlier chunks were acted on: say which, and which ids were not asked, before the error.
            if (i > 0) io.err(`rsm: ${done} before this failed: ${results.filter((r) => r.outcome === done).map((r) => r.id).join(', ') || 'none'}; not asked: ${selected.slice(i).join(', ')}\n`);
            throw error;
          }
          const chunk = (answer as { results?: unknown } | null)?.results;
          if (!Array.isArray(chunk) || !chunk.every((r: unknown) => typeof (r as LetterResult | null)?.id === 'string' && typeof (r as LetterResult).outcome === 'string')) {
            throw new CliError(`the service answered ${verb} with no list of results (${i === 0 ? 'the first' : `after ${i}, the next`} ${Math.min(CHUNK, selected.length - i)} ids were asked; \`rsm dead-letters\` shows what changed)`);
          }
          for (const r of chunk as LetterResult[]) results.push(r);
        }
        const failed = results.filter((r) => r.outcome !== done);
        emit(json, { results }, () => {
          const summary = `${done} ${results.length - failed.length} of ${results.length}`;
          return failed.length === 0 ? summary : `${table(['ID', 'OUTCOME'], failed.map((r) => [r.id, r.outcome.replace('_', ' ')]))}\n${summary}`;
        });
        if (failed.length > 0) throw new ExitCode(1);
      });
  act('redrive', 'redriven', "put dead letters' events back into their machines' inboxes (a faulted machine resumes)");
  act('discard', 'discarded', 'delete open dead letters whose events are given up (the audit log keeps their machine, event type and reason)');

  const gaps = program.command('gaps').description('sender/receiver pairs waiting on a missing sequence number');
  gaps
    .command('list', { isDefault: true })
    .description('pairs whose next message has been missing longer than the service allows (oldest first)')
    .option('--limit <n>', 'at most this many (1-1000, default 100)')
    .option('--older-than-ms <ms>', 'waiting at least this long (default: the service’s delivery.gapAfterMs)')
    .action(async (o: { limit?: string; olderThanMs?: string }, command: Command) => {
      const { client, json } = context(command);
      const list = await client.get<{ sender: { type: string; id: string }; receiver: { type: string; id: string }; epoch: number; missingFrom: number; nextBuffered: number; waiting: number; waitingSince: string }[]>('/rsm/gaps', {
        limit: o.limit,
        olderThanMs: o.olderThanMs,
      });
      emit(json, list, () =>
        table(
          ['SENDER', 'RECEIVER', 'EPOCH', 'MISSING', 'WAITING', 'SINCE'],
          list.map((g) => [ref(g.sender.type, g.sender.id), ref(g.receiver.type, g.receiver.id), g.epoch, g.nextBuffered - 1 > g.missingFrom ? `${g.missingFrom}-${g.nextBuffered - 1}` : String(g.missingFrom), g.waiting, g.waitingSince]),
        ),
      );
    });
  gaps
    .command('skip')
    .description("give up a gap's missing messages (they are gone from the sender's outbox) and release what waits behind them")
    .argument('<senderType>')
    .argument('<senderId>')
    .argument('<receiverType>')
    .argument('<receiverId>')
    .requiredOption('--reason <text>', 'why the messages are gone (recorded)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (senderType: string, senderId: string, receiverType: string, receiverId: string, o: { reason: string; yes?: boolean }, command: Command) => {
      const { client, json, actor } = context(command);
      // The skip names the gap shown here: if it filled or moved meanwhile, the service skips
      // nothing (409), and a repeat of a skip that went through does nothing either.
      const pair = path(senderType, senderId, receiverType, receiverId);
      const gap = await client.get<{ epoch: number; missingFrom: number; nextBuffered: number; waiting: number }>(`/rsm/gaps${pair}`);
      const numbers = { epoch: gap.epoch, fromSeq: gap.missingFrom, toSeq: gap.nextBuffered - 1 };
      if (![numbers.epoch, numbers.fromSeq, numbers.toSeq].every((n) => Number.isSafeInteger(n) && n >= 0) || numbers.toSeq < numbers.fromSeq) throw new CliError('the service answered a gap without valid numbers');
      const missing = numbers.toSeq > numbers.fromSeq ? `${numbers.fromSeq}-${numbers.toSeq}` : String(numbers.fromSeq);
      if (o.yes !== true) {
        if (io.confirm === undefined) throw new CliError('refusing to skip a gap without confirmation (standard input is not a terminal): pass --yes');
        if (!(await io.confirm(`skip missing message${missing.includes('-') ? 's' : ''} ${missing} (epoch ${numbers.epoch}) from ${senderType}/${senderId} to ${receiverType}/${receiverId} as ${actor}?`))) {
          io.err('rsm: nothing done\n');
          throw new ExitCode(1);
        }
      }
      const skipped = await client.post<{ epoch: number; fromSeq: number; toSeq: number; released: number; repeated?: boolean }>(`/rsm/gaps${pair}/skip`, { by: actor, reason: o.reason, ...numbers });
      emit(json, skipped, () =>
        skipped.repeated === true
          ? `skipped ${skipped.fromSeq}-${skipped.toSeq} (epoch ${skipped.epoch}) already; nothing done now`
          : `skipped ${skipped.fromSeq}-${skipped.toSeq} (epoch ${skipped.epoch}); released ${skipped.released} waiting message${skipped.released === 1 ? '' : 's'}`,
      );
    });

  program
    .command('audit')
    .description("the operators' audit log, newest first: who redrove, discarded or skipped what, and when")
    .addOption(new Option('--action <action>', 'of one action').choices(['dead-letters.redrive', 'dead-letters.discard', 'gaps.skip']))
    .option('--limit <n>', 'at most this many (1-500, default 100)')
    .option('--after <id>', "the page after this one (a page's next cursor)")
    .action(async (o: { action?: string; limit?: string; after?: string }, command: Command) => {
      const { client, json } = context(command);
      const page = await client.get<Page<{ id: string; at: string; actor: string; tokenId: string; action: string; targets: unknown; outcome: unknown }>>('/rsm/audit', { action: o.action, limit: o.limit, after: o.after });
      // A discard's outcome also lists the letters it deleted: the table shows the counts (--json has all).
      const counts = (outcome: unknown) => {
        if (typeof outcome !== 'object' || outcome === null || !('letters' in outcome)) return outcome;
        const { letters: _letters, ...rest } = outcome as Record<string, unknown>;
        return rest;
      };
      emit(json, page, () => table(['ID', 'AT', 'ACTOR', 'TOKEN', 'ACTION', 'TARGETS', 'OUTCOME'], page.items.map((e) => [e.id, e.at, e.actor, e.tokenId, e.action, cell(e.targets, 50), cell(counts(e.outcome), 50)])) + more(page.next, 'rsm audit ...'));
    });

  return program;
}

