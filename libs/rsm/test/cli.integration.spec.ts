import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { defineMachine, RsmRuntime, type ActivityRef } from '#rsm';
import { RsmActivity, RsmModule, tokenFingerprint, type RsmActivityHandler } from '#rsm/nest';
import { runCli, type CliIo } from '../src/cli/program.js';
import { Counter } from './fixtures/machines.js';
import { inheritedEnv, TEST_SIGNING_KEYS, testConfig } from './support/config.js';
import { dropSchemas, quietLogger, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

const TOKEN = 'cli-operator-token-0123456789abcdef';
const OTHER_TOKEN = 'cli-second-operator-token-abcdef0123';
const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

const pickUp: ActivityRef<'pick-up', { parcel: string }, string> = { name: 'pick-up' };

/** Sets a timer, calls an activity that keeps failing, and sends to a service nobody runs: everything inspect shows. */
const Courier = defineMachine<{ parcel: string }, { type: 'Start'; parcel: string } | { type: 'Timeout'; name: string }>()({
  type: 'Courier',
  initial: 'Idle',
  initialData: () => ({ parcel: '' }),
  states: {
    Idle: {
      on: {
        Start: (data, event, ctx) => {
          data.parcel = event.parcel;
          ctx.startTimer('give-up', 3_600_000);
          ctx.call(pickUp, { parcel: event.parcel });
          ctx.send({ type: 'Depot', id: 'north' }, { type: 'Expect' });
          ctx.send({ type: 'Depot', id: 'south' }, { type: 'Expect' });
          ctx.goto('Waiting');
        },
      },
      targets: { Start: 'Waiting' },
    },
    Waiting: {},
  },
});

@RsmActivity(pickUp, { maxAttempts: 100, initialBackoffMs: 600_000, maxBackoffMs: 600_000 })
class PickUpActivity implements RsmActivityHandler<{ parcel: string }, string> {
  async run(): Promise<string> {
    return Promise.reject(new Error('the depot is closed'));
  }
}

/** What a CLI run printed and how it ended. */
interface Run {
  code: number;
  out: string;
  err: string;
}

describe('the rsm command line against a service', () => {
  const schema = uniqueSchema('cli');
  const pool = testPool();
  let app: INestApplication;
  let rsm: RsmRuntime;
  let url: string;

  before(async () => {
    @Module({
      imports: [
        RsmModule.forRoot({
          service: 'cli-test',
          postgres: { url: testConfig.DATABASE_URL, schema },
          redis: { url: testConfig.REDIS_URL, prefix: uniquePrefix('cli'), signingKeys: TEST_SIGNING_KEYS },
          routes: { Depot: 'elsewhere' },
          delivery: { gapAfterMs: 1_000 },
          activities: { pollIntervalMs: 50 },
          adminTokens: [TOKEN, OTHER_TOKEN],
          deps: { logger: quietLogger },
          exitOnFatalError: false,
        }),
        RsmModule.forFeature([Counter, Courier]),
      ],
      providers: [PickUpActivity],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    rsm = app.get(RsmRuntime);
  });

  after(async () => {
    await app?.close();
    await pool.end();
    await dropSchemas(schema);
  });

  /** Runs the CLI in this process, as `alice` with the operator token unless told otherwise. */
  const cli = async (args: string[], options: { token?: string | null; answer?: boolean; actor?: string } = {}): Promise<Run> => {
    let out = '';
    let err = '';
    const asked: string[] = [];
    const io: CliIo = {
      out: (text) => (out += text),
      err: (text) => (err += text),
      ...(options.answer === undefined
        ? {}
        : {
            confirm: async (question: string) => {
              asked.push(question);
              return Promise.resolve(options.answer ?? false);
            },
          }),
    };
    const token = options.token === null ? undefined : (options.token ?? TOKEN);
    const code = await runCli(args, { url, ...(token === undefined ? {} : { token }), actor: options.actor ?? 'alice' }, io);
    return { code, out, err: err + asked.map((q) => `asked: ${q}\n`).join('') };
  };
  const json = <T>(run: Run): T => {
    assert.equal(run.code, 0, `exit ${run.code}: ${run.err}`);
    return JSON.parse(run.out) as T;
  };

  /** Runs the built `rsm` binary as a child process without a terminal. */
  const bin = (args: string[], env: Record<string, string>): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [MAIN, ...args], { env: { ...inheritedEnv, RSM_URL: '', RSM_TOKEN: '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout, err: stderr });
      });
    });

  /** `n` closed counters, each with one Add dead-lettered ("not accepted in state Closed"): their letter ids, oldest first. */
  const deadLetters = async (prefix: string, n: number): Promise<string[]> => {
    for (let i = 0; i < n; i += 1) {
      const ref = Counter.ref(`${prefix}-${i}`);
      await rsm.create(ref, { type: 'Open' });
      await rsm.request(ref, { type: 'Close' });
      await rsm.send(ref, { type: 'Add', n: i });
    }
    const letters = await waitFor(`${n} dead letters of ${prefix}`, async () => {
      const page = await rsm.deadLetterPage({ type: 'Counter', limit: 500 });
      const mine = page.items.filter((l) => l.machineId.startsWith(`${prefix}-`));
      return mine.length === n ? mine : undefined;
    });
    return letters.map((l) => l.id).reverse();
  };

  it('lists and counts machines with filters and paging, as tables and as JSON', async () => {
    for (const id of ['m-a', 'm-b', 'm-c']) await rsm.create(Counter.ref(id), { type: 'Open' });
    await rsm.request(Counter.ref('m-c'), { type: 'Close' });

    const table = await cli(['machines', '--type', 'Counter', '--id-prefix', 'm-']);
    assert.equal(table.code, 0, table.err);
    const lines = table.out.trim().split('\n');
    assert.match(lines[0] ?? '', /^TYPE\s+ID\s+STATE\s+STATUS\s+VERSION\s+UPDATED$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4)),
      [
        ['Counter', 'm-a', 'Open', 'active'],
        ['Counter', 'm-b', 'Open', 'active'],
        ['Counter', 'm-c', 'Closed', 'active'],
      ],
    );

    const first = json<{ items: { id: string }[]; next: string | null }>(await cli(['--json', 'machines', '--type', 'Counter', '--id-prefix', 'm-', '--limit', '2']));
    assert.deepEqual(first.items.map((m) => m.id), ['m-a', 'm-b']);
    assert.ok(first.next !== null);
    const second = json<{ items: { id: string }[]; next: string | null }>(await cli(['--json', 'machines', '--type', 'Counter', '--id-prefix', 'm-', '--limit', '2', '--after', first.next]));
    assert.deepEqual(second.items.map((m) => m.id), ['m-c']);
    assert.equal(second.next, null);
    assert.deepEqual(json<{ items: { id: string }[] }>(await cli(['--json', 'machines', '--state', 'Closed', '--id-prefix', 'm-'])).items.map((m) => m.id), ['m-c']);

    // Hostile ids page too: a cursor after 400 control characters is still one the server takes back.
    const odd = '\u0001'.repeat(400);
    for (const tail of ['a', 'b']) await rsm.create(Counter.ref(`${odd}${tail}`), { type: 'Open' });
    const oddFirst = json<{ items: { id: string }[]; next: string }>(await cli(['--json', 'machines', '--id-prefix', odd, '--limit', '1']));
    assert.deepEqual(oddFirst.items.map((m) => m.id), [`${odd}a`]);
    const oddSecond = json<{ items: { id: string }[]; next: string | null }>(await cli(['--json', 'machines', '--id-prefix', odd, '--limit', '1', '--after', oddFirst.next]));
    assert.deepEqual(oddSecond.items.map((m) => m.id), [`${odd}b`]);
    const shown = await cli(['machines', '--id-prefix', odd]);
    assert.ok(!shown.out.includes('\u0001') && shown.out.includes('\\u0001'), 'control characters are shown escaped');

    const counts = json<{ type: string; state: string; status: string; count: number }[]>(await cli(['--json', 'machines', '--counts', '--type', 'Counter']));
    const closed = counts.find((c) => c.state === 'Closed')?.count ?? 0;
    const open = counts.find((c) => c.state === 'Open')?.count ?? 0;
    assert.ok(closed >= 1 && open >= 2, JSON.stringify(counts));
    const countTable = await cli(['machines', '--counts']);
    assert.match(countTable.out, /^TYPE\s+STATE\s+STATUS\s+COUNT$/m);
    assert.match(countTable.out, new RegExp(`^Counter\\s+Open\\s+active\\s+${open}$`, 'm'));
    assert.match(countTable.out, /^\d+ machines$/m);

    // Bad input is the server's 400 with the field, printed as one line; nothing on stdout.
    const bad = await cli(['machines', '--limit', '100000']);
    assert.equal(bad.code, 1);
    assert.equal(bad.out, '');
    assert.match(bad.err, /^rsm: GET \/rsm\/machines: 400 Bad Request: invalid query \(query\.limit: at most 500\)\n$/);
    const cursor = await cli(['machines', '--after', 'not+a+cursor']);
    assert.match(cursor.err, /400 Bad Request.*query\.after/);
    const forged = await cli(['machines', '--after', Buffer.from('{"x":1}').toString('base64url')]);
    assert.match(forged.err, /400 Bad Request: not a cursor of the machines listing/);
  });

  it('inspects a machine: data, inbox, outbox, timers, activity attempts and recent steps', async () => {
    await rsm.create(Courier.ref('k1'), { type: 'Start', parcel: 'p-9' });
    // The activity fails once and waits ten minutes for its next attempt.
    await waitFor('the first failed pick-up attempt', async () => (await rsm.inspect(Courier.ref('k1')))?.activities[0]?.attempts === 1);

    const inspection = json<{
      state: string;
      data: { parcel: string };
      timers: { name: string }[];
      activities: { activity: string; attempts: number; lastError: string }[];
      outbox: { to: { type: string; id: string }; eventType: string; destination: string }[];
      recentSteps: { eventType: string; fromState: string; toState: string; effects: number; sends: unknown[] }[];
      inbox: unknown[];
    }>(await cli(['--json', 'inspect', 'Courier', 'k1']));
    assert.equal(inspection.state, 'Waiting');
    assert.deepEqual(inspection.data, { parcel: 'p-9' });
    assert.deepEqual(inspection.timers.map((t) => t.name), ['give-up']);
    assert.equal(inspection.activities[0]?.activity, 'pick-up');
    assert.equal(inspection.activities[0]?.attempts, 1);
    assert.match(inspection.activities[0]?.lastError ?? '', /the depot is closed/);
    assert.deepEqual(inspection.outbox.map((x) => ({ to: x.to, eventType: x.eventType, destination: x.destination })), [
      { to: { type: 'Depot', id: 'north' }, eventType: 'Expect', destination: 'elsewhere' },
      { to: { type: 'Depot', id: 'south' }, eventType: 'Expect', destination: 'elsewhere' },
    ]);
    assert.deepEqual(inspection.recentSteps.map((s) => [s.eventType, s.fromState, s.toState, s.effects]), [['Start', 'Idle', 'Waiting', 4]]);
    // The step keeps where its events went (the outbox forgets them once acknowledged).
    assert.deepEqual(inspection.recentSteps[0]?.sends, [
      { kind: 'send', type: 'Depot', id: 'north', event: 'Expect' },
      { kind: 'send', type: 'Depot', id: 'south', event: 'Expect' },
    ]);
    assert.deepEqual(inspection.inbox, []);

    const human = await cli(['inspect', 'Courier', 'k1']);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /^machine: +Courier\/k1$/m);
    assert.match(human.out, /^state: +Waiting$/m);
    assert.match(human.out, /"parcel": "p-9"/);
    assert.match(human.out, /^inbox \(0\):\n\(none\)$/m);
    assert.match(human.out, /^outbox \(2\):\nID\s+KIND\s+TO\s+SEQ\s+EVENT\s+SERVICE\s+ATTEMPTS\s+NEXT ATTEMPT\n\d+\s+event\s+Depot\/north\s+1\s+Expect\s+elsewhere/m);
    assert.match(human.out, /^timers \(1\):\nNAME\s+FIRES AT\s+EVERY MS\ngive-up\s+\S+\s+-$/m);
    assert.match(human.out, /^activities \(1\):\n.*\n\d+\s+pick-up\s+\S+\s+1\s+/m);
    // One line per send: the step's, then one under it for each further send.
    assert.match(human.out, /^recent steps \(1\):\nID\s+EVENT\s+FROM\s+TO\s+EFFECTS\s+AT\s+SENDS\n\d+\s+Start\s+Idle\s+Waiting\s+4\s+\S+\s+Expect -> Depot\/north\n\s+Expect -> Depot\/south$/m);

    const missing = await cli(['inspect', 'Courier', 'nobody']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'rsm: GET /rsm/machines/Courier/nobody: 404 Not Found: no machine Courier/nobody\n');
  });

  it('prints the diagram and the types the service runs', async () => {
    const diagram = await cli(['diagram', 'Counter']);
    assert.equal(diagram.code, 0, diagram.err);
    assert.equal(diagram.out, `${Counter.toMermaid()}\n`);
    const asJson = json<{ type: string; transitions: { from: string; event: string; targets: string[] }[]; mermaid: string }>(await cli(['--json', 'diagram', 'Courier']));
    assert.deepEqual(asJson.transitions, [{ from: 'Idle', event: 'Start', targets: ['Waiting'] }]);
    assert.equal(asJson.mermaid, Courier.toMermaid());
    const unknown = await cli(['diagram', 'Depot']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /404 Not Found: this service runs no machine type Depot \(it runs: Counter, Courier\)/);
    const types = json<{ type: string; states: string[] }[]>(await cli(['--json', 'types']));
    assert.deepEqual(types.map((t) => [t.type, t.states]), [['Counter', ['Open', 'Closed']], ['Courier', ['Idle', 'Waiting']]]);
  });

  it('counts machines by type and stored definition version, with the version the service runs', async () => {
    await rsm.create(Counter.ref('ver-1'), { type: 'Open' });
    // What a rolling deploy leaves behind: a machine a newer process wrote, and a type another version of the service runs.
    await pool.query(`INSERT INTO "${schema}".rsm_machines (type, id, state, data, definition_version) VALUES ('Counter', 'ver-newer', 'Open', '{"total":0}', 2), ('Ghost', 'g1', 'Haunting', '{}', 3)`);
    try {
      const answer = json<{ type: string; running: number | null; migratesFrom: number | null; stored: { version: number; machines: number; halted: number; handling: string }[] }[]>(await cli(['--json', 'versions']));
      const counters = (await rsm.machineCounts('Counter')).reduce((n, c) => n + c.count, 0);
      assert.deepEqual(answer.find((t) => t.type === 'Counter'), {
        type: 'Counter',
        running: 1,
        migratesFrom: 1,
        stored: [
          { version: 1, machines: counters - 1, halted: 0, handling: 'current' },
          { version: 2, machines: 1, halted: 0, handling: 'newer' },
        ],
      });
      assert.deepEqual(answer.find((t) => t.type === 'Ghost'), { type: 'Ghost', running: null, migratesFrom: null, stored: [{ version: 3, machines: 1, halted: 0, handling: 'not-run-here' }] });
      assert.deepEqual(answer.map((t) => t.type), ['Counter', 'Courier', 'Ghost']);
      const text = await cli(['versions']);
      assert.equal(text.code, 0, text.err);
      const lines = text.out.trim().split('\n').map((line) => line.split(/\s{2,}/));
      assert.deepEqual(lines[0], ['TYPE', 'RUNNING', 'STORED', 'MACHINES', 'HALTED', 'HANDLING']);
      assert.deepEqual(lines.slice(1).map((l) => [l[0], l[1], l[2], l[5]]), [
        ['Counter', 'v1', 'v1', 'current'],
        ['Counter', 'v1', 'v2', 'newer: left to newer processes'],
        ['Courier', 'v1', 'v1', 'current'],
        ['Ghost', '-', 'v3', 'type not run by this service'],
      ]);
      const refused = await cli(['versions'], { token: 'not-the-operator-token-at-all' });
      assert.equal(refused.code, 1);
      assert.equal(refused.err, 'rsm: GET /rsm/versions: 401 Unauthorized: unknown operator token\n');
    } finally {
      await pool.query(`DELETE FROM "${schema}".rsm_machines WHERE id IN ('ver-newer', 'g1')`);
    }
  });

  it('lists and shows dead letters, redrives and discards one or many with confirmation, and audits each action', async () => {
    const [a, b, c] = await deadLetters('dl', 3);
    assert.ok(a !== undefined && b !== undefined && c !== undefined);

    const list = await cli(['dead-letters', 'list', '--type', 'Counter', '--machine-id', 'dl-1']);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^ID\s+MACHINE\s+EVENT\s+REASON\s+ATTEMPTS\s+CREATED\s+REDRIVEN$/m);
    assert.match(list.out, new RegExp(`^${b}\\s+Counter/dl-1\\s+Add\\s+.*Closed`, 'm'));
    assert.equal(list.out.trim().split('\n').length, 2);
    const paged = json<{ items: { id: string }[]; next: string | null }>(await cli(['--json', 'dead-letters', '--reason', 'Closed', '--limit', '2']));
    assert.deepEqual(paged.items.map((l) => l.id), [c, b]);
    assert.equal(paged.next, b);
    const rest = json<{ items: { id: string }[] }>(await cli(['--json', 'dead-letters', 'list', '--type', 'Counter', '--reason', 'Closed', '--after', b, '--limit', '500']));
    assert.ok(rest.items[0]?.id === a && rest.items.every((l) => BigInt(l.id) < BigInt(b)), 'the next page starts after the cursor');

    const show = await cli(['dead-letters', 'show', a]);
    assert.match(show.out, /^machine: +Counter\/dl-0$/m);
    assert.match(show.out, /"type": "Add"/);
    assert.equal(json<{ id: string; event: { n: number } }>(await cli(['--json', 'dead-letters', 'show', c])).event.n, 2);
    assert.match((await cli(['dead-letters', 'show', '999999999'])).err, /404 Not Found: no dead letter 999999999/);

    // Declined: nothing happens, exit 1.
    const declined = await cli(['dead-letters', 'redrive', a], { answer: false });
    assert.equal(declined.code, 1);
    assert.match(declined.err, new RegExp(`asked: redrive 1 dead letter \\(${a}\\) as alice\\?`));
    assert.equal((await rsm.deadLetter(a))?.redrivenAt, null);

    // Confirmed: redriven (the counter is still closed, so its Add comes back as a new letter).
    const one = await cli(['dead-letters', 'redrive', a], { answer: true });
    assert.equal(one.code, 0, one.err);
    assert.equal(one.out, 'redriven 1 of 1\n');
    assert.ok((await rsm.deadLetter(a))?.redrivenAt instanceof Date);
    const again = await cli(['--json', 'dead-letters', 'redrive', a, '999999999', '--yes']);
    assert.equal(again.code, 1);
    assert.deepEqual(JSON.parse(again.out), { results: [{ id: a, outcome: 'already_redriven' }, { id: '999999999', outcome: 'not_found' }] });

    // Discard one by id, then refuse to discard a redriven one.
    const discarded = await cli(['dead-letters', 'discard', b, '--yes'], { actor: 'bob', token: OTHER_TOKEN });
    assert.equal(discarded.out, 'discarded 1 of 1\n');
    assert.equal(await rsm.deadLetter(b), undefined);
    const history = await cli(['dead-letters', 'discard', a, '--yes']);
    assert.equal(history.code, 1);
    assert.match(history.out, new RegExp(`^${a}\\s+already redriven$`, 'm'));

    // Without a terminal and without --yes the binary refuses and changes nothing.
    const refused = await bin(['dead-letters', 'discard', c], { RSM_URL: url, RSM_TOKEN: TOKEN });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /refusing to discard without confirmation \(standard input is not a terminal\)/);
    assert.ok((await rsm.deadLetter(c)) !== undefined);

    // The audit log: who (name and token fingerprint), what, and the outcome, newest first.
    const audit = json<{ items: { actor: string; tokenId: string; action: string; targets: { ids: string[] }; outcome: Record<string, unknown> }[] }>(await cli(['--json', 'audit']));
    assert.deepEqual(
      audit.items.slice(0, 4).map((e) => [e.actor, e.tokenId, e.action, e.targets.ids, e.outcome.letters === undefined ? e.outcome : { ...e.outcome, letters: (e.outcome.letters as { id: string }[]).map((l) => l.id) }]),
      [
        ['alice', tokenFingerprint(TOKEN), 'dead-letters.discard', [a], { already_redriven: 1, letters: [] }],
        ['bob', tokenFingerprint(OTHER_TOKEN), 'dead-letters.discard', [b], { discarded: 1, letters: [b] }],
        ['alice', tokenFingerprint(TOKEN), 'dead-letters.redrive', [a, '999999999'], { already_redriven: 1, not_found: 1 }],
        ['alice', tokenFingerprint(TOKEN), 'dead-letters.redrive', [a], { redriven: 1 }],
      ],
    );
    const auditTable = await cli(['audit', '--action', 'dead-letters.discard', '--limit', '1']);
    assert.match(auditTable.out, /^ID\s+AT\s+ACTOR\s+TOKEN\s+ACTION\s+TARGETS\s+OUTCOME$/m);
    assert.match(auditTable.out, new RegExp(`^\\d+\\s+\\S+\\s+alice\\s+${tokenFingerprint(TOKEN)}\\s+dead-letters\\.discard\\s+\\{"ids":\\["${a}"\\]\\}\\s+\\{"already_redriven":1\\}$`, 'm'));
    assert.match(auditTable.out, /^more: rsm audit \.\.\. --after \d+$/m);
    assert.ok(!auditTable.out.includes(TOKEN) && !JSON.stringify(audit).includes(TOKEN), 'the token itself is never shown');
  });

  it('redrives and discards every letter matching filters, in bulk, past one page of the server', async () => {
    const ids = await deadLetters('bulk', 6);
    // The server takes 500 ids a call; six letters across pages of two prove the CLI pages and chunks.
    const redrive = await cli(['--json', 'dead-letters', 'redrive', '--all-matching', '--type', 'Counter', '--reason', 'Closed', '--machine-id', 'bulk-0'], { answer: true });
    assert.deepEqual(JSON.parse(redrive.out), { results: [{ id: ids[0], outcome: 'redriven' }] });
    assert.match(redrive.err, /asked: redrive 1 dead letter/);

    const tooMany = await cli(['dead-letters', 'discard', '--all-matching', '--reason', 'Closed', '--max', '2', '--yes']);
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.err, /more than 2 open dead letters match: narrow the filters or raise --max \(nothing was changed\)/);

    // bulk-1..5 plus the redriven bulk-0's new letter.
    const before = await waitFor('the redriven Add dead-lettered again', async () => {
      const open = (await rsm.deadLetterPage({ type: 'Counter', limit: 500 })).items.filter((l) => l.machineId.startsWith('bulk-'));
      return open.length === 6 ? open : undefined;
    });
    const discard = await cli(['dead-letters', 'discard', '--all-matching', '--type', 'Counter', '--reason', 'Closed', '--yes'], { actor: 'carol' });
    assert.equal(discard.code, 0, discard.err);
    assert.match(discard.out, /^discarded \d+ of \d+$/m);
    assert.equal((await rsm.deadLetterPage({ type: 'Counter', limit: 500 })).items.filter((l) => l.machineId.startsWith('bulk-')).length, 0);
    const [entry] = json<{ items: { actor: string; action: string; targets: { ids: string[] } }[] }>(await cli(['--json', 'audit', '--action', 'dead-letters.discard', '--limit', '1'])).items;
    assert.equal(entry?.actor, 'carol');
    assert.ok(before.every((l) => entry.targets.ids.includes(l.id)));

    const nothing = await cli(['dead-letters', 'redrive', '--all-matching', '--machine-id', 'bulk-3', '--yes']);
    assert.equal(nothing.out, 'no open dead letter matches: nothing to do\n');
    const usage = await cli(['dead-letters', 'redrive', '--type', 'Counter']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /only with --all-matching/);
  });

  it('lists gaps and skips one, recorded in the audit log', async () => {
    await rsm.create(Counter.ref('g1'), { type: 'Open' });
    const message = { outboxId: '77', kind: 'event', sender: { type: 'Remote', id: 'r 1' }, to: { type: 'Counter', id: 'g1' }, seq: 3, event: { type: 'Add', n: 5 } };
    await pool.query(`INSERT INTO "${schema}".rsm_reorder (sender, receiver, seq, message, from_service, created_at) VALUES ('Remote/r 1', 'Counter/g1', 3, $1, 'elsewhere', now() - interval '1 minute')`, [JSON.stringify(message)]);

    const gaps = await cli(['gaps']);
    assert.equal(gaps.code, 0, gaps.err);
    assert.match(gaps.out, /^SENDER\s+RECEIVER\s+EPOCH\s+MISSING\s+WAITING\s+SINCE\nRemote\/r 1\s+Counter\/g1\s+0\s+1-2\s+1\s+\S+$/m);
    assert.deepEqual(json<{ missingFrom: number; nextBuffered: number }[]>(await cli(['--json', 'gaps', 'list'])).map((g) => [g.missingFrom, g.nextBuffered]), [[1, 3]]);

    const skip = await cli(['gaps', 'skip', 'Remote', 'r 1', 'Counter', 'g1', '--reason', 'outbox restored from an old backup'], { answer: true, actor: 'dave' });
    assert.equal(skip.code, 0, skip.err);
    assert.equal(skip.out, 'skipped 1-2 (epoch 0); released 1 waiting message\n');
    await waitFor('the released Add handled', async () => ((await rsm.get(Counter.ref('g1')))?.data as { total: number }).total === 5);
    const again = await cli(['gaps', 'skip', 'Remote', 'r 1', 'Counter', 'g1', '--reason', 'again', '--yes'], { actor: 'dave' });
    assert.equal(again.code, 1);
    assert.match(again.err, /404 Not Found: no gap between Remote\/r 1 and Counter\/g1/);
    // The CLI asked for the pair's gap first and found none: nothing was posted.
    const entries = json<{ items: { actor: string; action: string; targets: unknown; outcome: unknown }[] }>(await cli(['--json', 'audit', '--action', 'gaps.skip'])).items;
    assert.deepEqual(
      entries.map((e) => [e.actor, e.targets, e.outcome]),
      [['dave', { sender: 'Remote/r 1', receiver: 'Counter/g1', reason: 'outbox restored from an old backup', gap: { epoch: 0, fromSeq: 1, toSeq: 2 } }, { outcome: 'skipped', epoch: 0, fromSeq: 1, toSeq: 2, released: 1 }]],
    );
  });

  it('refuses without a token, with a wrong one, and never prints the token', async () => {
    const none = await bin(['--json', 'machines'], { RSM_URL: url });
    assert.equal(none.code, 2);
    assert.equal(none.err, 'rsm: no operator token: set RSM_TOKEN (or pass --token)\n');
    const wrong = await bin(['machines'], { RSM_URL: url, RSM_TOKEN: 'not-the-operator-token-at-all' });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.err, 'rsm: GET /rsm/machines: 401 Unauthorized: unknown operator token\n');
    assert.ok(!wrong.err.includes('not-the-operator-token-at-all'));
    const flag = await bin(['dead-letters', 'list', '--token', 'wrong-token-given-as-a-flag'], { RSM_URL: url });
    assert.equal(flag.code, 1);
    assert.ok(!flag.err.includes('wrong-token-given-as-a-flag') && !flag.out.includes('wrong-token-given-as-a-flag'));
    const ok = await bin(['--json', 'machines', '--type', 'Courier'], { RSM_URL: url, RSM_TOKEN: TOKEN });
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual((JSON.parse(ok.out) as { items: { id: string }[] }).items.map((m) => m.id), ['k1']);
    // Configuration mistakes are usage errors (exit 2) named by their flag; an unreachable service is one line.
    const io = { out: () => undefined, err: (text: string) => errors.push(text) };
    const errors: string[] = [];
    assert.equal(await runCli(['machines'], { url: 'http://operator:secret@127.0.0.1:1', token: TOKEN }, io), 2);
    assert.equal(await runCli(['machines'], { url: 'ftp://127.0.0.1', token: TOKEN }, io), 2);
    assert.equal(await runCli(['--timeout', 'soon', 'machines'], { url, token: TOKEN }, io), 2);
    // A port that was just free: nothing listens there.
    const spare = createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const closed = new URL(url);
    closed.port = String((spare.address() as AddressInfo).port);
    await new Promise((resolve) => spare.close(resolve));
    assert.equal(await runCli(['machines'], { url: closed.toString(), token: TOKEN }, io), 1);
    assert.deepEqual(errors, [
      'rsm: --url / RSM_URL must not carry credentials: pass the token with RSM_TOKEN\n',
      'rsm: --url / RSM_URL must be an http:// or https:// URL\n',
      'rsm: --timeout must be 1-600000 ms\n',
      `rsm: cannot reach http://${closed.host}/: ECONNREFUSED\n`,
    ]);
    // Every admin route refuses a wrong token the same way.
    for (const args of [['audit'], ['gaps'], ['types'], ['versions'], ['diagram', 'Counter'], ['inspect', 'Counter', 'm-a'], ['dead-letters', 'show', '1'], ['dead-letters', 'redrive', '1', '--yes']]) {
      const run = await cli(args, { token: 'not-the-operator-token-at-all' });
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.err, /401 Unauthorized: unknown operator token\n$/, args.join(' '));
    }
  });

  it('documents the admin routes in OpenAPI, each with bearer auth', () => {
    const document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
    const admin = Object.entries(document.paths).filter(([route]) => route.startsWith('/rsm/'));
    assert.equal(admin.length, 17, admin.map(([route]) => route).join(', '));
    for (const [route, item] of admin) {
      for (const operation of [item.get, item.post].filter((o) => o !== undefined)) {
        assert.ok((operation.summary ?? '').length > 10, `${route} has a summary`);
        assert.deepEqual(operation.security, [{ bearer: [] }], `${route} needs the bearer token`);
      }
    }
    const list = document.paths['/rsm/dead-letters']?.get;
    assert.deepEqual((list?.parameters ?? []).map((p) => ('name' in p ? p.name : '')).sort(), ['after', 'limit', 'machineId', 'reason', 'status', 'type']);
  });

  it('refuses hostile input to the admin routes with 400s and changes nothing', async () => {
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const post = (path: string, body: unknown, headers: Record<string, string> = auth) => fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const get = (path: string) => fetch(`${url}${path}`, { headers: auth });
    const bodyOf = async (response: Response) => ({ status: response.status, body: (await response.json()) as { fields?: { path: string }[] } });

    const ids = await deadLetters('hostile', 1);
    const id = ids[0] ?? '';
    for (const body of [{}, { ids: [] }, { ids: ['abc'] }, { ids: ['-1'] }, { ids: [id], extra: 1 }, { ids: Array.from({ length: 501 }, (_, i) => String(i + 1)) }, { ids: '1' }]) {
      const answer = await bodyOf(await post('/rsm/dead-letters/redrive', body));
      assert.equal(answer.status, 400, JSON.stringify(body).slice(0, 100));
      assert.ok((answer.body.fields ?? []).some((f) => f.path.startsWith('body')), JSON.stringify(answer.body));
    }
    assert.equal((await post('/rsm/dead-letters/redrive', { ids: [id] }, { ...auth, 'x-rsm-actor': 'a'.repeat(101) })).status, 400);
    assert.equal((await rsm.deadLetter(id))?.redrivenAt, null, 'no refused call redrove');

    for (const query of ['limit=0', 'limit=501', 'limit=abc', 'limit=1&limit=2', 'status=closed', 'after=abc', 'after=99999999999999999999', 'bogus=1', 'type=%00']) {
      const answer = await bodyOf(await get(`/rsm/dead-letters?${query}`));
      assert.equal(answer.status, 400, query);
      assert.ok((answer.body.fields ?? []).length > 0, query);
    }
    for (const query of ['limit=0', 'status=sleeping', 'after=%2F%2F', 'idPrefix=', 'type=a&type=b']) assert.equal((await get(`/rsm/machines?${query}`)).status, 400, query);
    assert.equal((await get('/rsm/audit?action=drop-tables')).status, 400);
    assert.equal((await get('/rsm/gaps?limit=1001')).status, 400);
    assert.equal((await get('/rsm/machines/Counter/m-a?limit=9999')).status, 400);

    // Single-letter routes: 404 unknown, 409 already redriven.
    assert.equal((await post('/rsm/dead-letters/99999999999999999999/redrive', {})).status, 404);
    assert.equal((await post(`/rsm/dead-letters/${id}/redrive`, {})).status, 200);
    const conflict = await post(`/rsm/dead-letters/${id}/redrive`, {});
    assert.equal(conflict.status, 409);
    assert.equal((await post(`/rsm/dead-letters/${id}/discard`, {})).status, 409);
    assert.equal((await post('/rsm/dead-letters/123456789/discard', {})).status, 404);
  });
});

describe('the rsm command line against a hostile service', () => {
  /** Runs the CLI against a fake service: `answer` gives each request's response. */
  const run = async (args: string[], answer: (url: URL) => Response, confirm?: boolean) => {
    let out = '';
    let err = '';
    const asked: string[] = [];
    const requests: string[] = [];
    const io: CliIo = {
      out: (text) => (out += text),
      err: (text) => (err += text),
      fetch: (input: string | URL | Request) => {
        const url = new URL(input instanceof Request ? input.url : input);
        requests.push(`${url.pathname}${url.search}`);
        return Promise.resolve(answer(url));
      },
      ...(confirm === undefined ? {} : { confirm: (question: string) => (asked.push(question), Promise.resolve(confirm)) }),
    };
    const code = await runCli(args, { url: 'http://127.0.0.1:1', token: 'a-token-of-the-operator', actor: 'alice' }, io);
    return { code, out, err, asked, requests };
  };
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
  it('shows no control character the service sends, in errors, tables or questions', async () => {
    const evil = 'id\u001b]0;pwned\u0007\u001b[2J\u009b31m';
    const failed = await run(['inspect', 'Counter', 'c1'], () => json({ statusCode: 404, message: evil, fields: [{ path: evil, message: evil }] }, 404));
    assert.equal(failed.code, 1);
    assert.doesNotMatch(failed.err, control);
    assert.match(failed.err, /id\\u001b\]0;pwned\\u0007/);
    const asked = await run(['dead-letters', 'discard', '--all-matching'], () => json({ items: [{ id: evil }], next: null }), false);
    assert.equal(asked.asked.length, 1);
    assert.doesNotMatch(asked.asked[0] ?? '', control);
  });

  it('stops paging through pages that do not advance, having changed nothing', async () => {
    const stuck = await run(['dead-letters', 'redrive', '--all-matching', '--yes'], () => json({ items: [], next: '5' }));
    assert.equal(stuck.code, 1);
    assert.match(stuck.err, /pages that do not advance \(nothing was changed\)/);
    assert.ok(stuck.requests.length <= 2, stuck.requests.join(' '));
    const looping = await run(['dead-letters', 'redrive', '--all-matching', '--yes'], () => json({ items: [{ id: '1' }], next: '5' }));
    assert.match(looping.err, /do not advance/);
    assert.ok(looping.requests.every((r) => r.startsWith('/rsm/dead-letters?')), 'nothing was posted');
  });

  it('reads at most 32 MiB of an answer', async () => {
    const chunk = new Uint8Array(1_048_576).fill(0x20);
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const huge = await run(['types'], () => new Response(endless, { status: 200 }));
    assert.equal(huge.code, 1);
    assert.match(huge.err, /longer than 32 MiB; nothing more was read/);
    assert.ok(sent < 40, `${sent} MiB were produced`);
  });
});
