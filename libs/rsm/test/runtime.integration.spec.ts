import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineMachine, MachineNotFoundError, RequestRejectedError, type RsmRuntime } from '#rsm';
import { Caller, Counter, Receiver, Sender, recordActivity, senderProblems, senderSettled } from './fixtures/machines.js';
import { dropSchemas, startRuntime, testPool, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/** Calls `link` again from each of its outcomes, `left` times: a chain of activities. */
const Chain = defineMachine<{ left: number; done: number }, { type: 'Start'; n: number } | { type: 'ActivityCompleted'; activity: 'link'; callId: string; output: unknown }>()({
  type: 'Chain',
  initial: 'Running',
  initialData: () => ({ left: 0, done: 0 }),
  states: {
    Running: {
      on: {
        Start: (data, event, ctx) => {
          data.left = event.n - 1;
          ctx.call({ name: 'link' }, {});
        },
        ActivityCompleted: (data, _event, ctx) => {
          data.done += 1;
          if (data.left <= 0) return;
          data.left -= 1;
          ctx.call({ name: 'link' }, {});
        },
      },
    },
  },
});

describe('runtime on Postgres and Redis', () => {
  const schemaA = uniqueSchema('a');
  const schemaB = uniqueSchema('b');
  const prefix = uniquePrefix('int');
  const activityCalls: { key: string; attempt: number }[] = [];
  const linkKeys: string[] = [];
  let a: RsmRuntime;
  let b: RsmRuntime;

  before(async () => {
    a = await startRuntime({
      service: 'svc-a',
      schema: schemaA,
      prefix,
      machines: [Counter, Sender, Caller, Chain],
      routes: { Receiver: 'svc-b' },
      activities: [
        {
          name: 'record',
          run: async (input: { value?: string; i?: number }, ctx) => {
            activityCalls.push({ key: ctx.idempotencyKey, attempt: ctx.attempt });
            return input.value !== undefined ? { echoed: input.value } : recordActivity.run({ sender: '', i: input.i ?? 0 });
          },
        },
        {
          name: 'flaky',
          retry: { maxAttempts: 3, initialBackoffMs: 20, maxBackoffMs: 40 },
          run: async (_input: { value: string }, ctx) => {
            activityCalls.push({ key: ctx.idempotencyKey, attempt: ctx.attempt });
            if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
            return 'third time';
          },
        },
        {
          name: 'link',
          run: async (_input: unknown, ctx) => {
            linkKeys.push(ctx.idempotencyKey);
            return Promise.resolve(null);
          },
        },
        // An external system's answers: thrown values nothing can print, and outputs Postgres refuses.
        ...(
          [
            ['reject-unprintable', async () => Promise.reject(Object.create(null) as unknown)], // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
            ['throw-unprintable', () => { throw { toString: 1 }; }], // eslint-disable-line @typescript-eslint/only-throw-error
            ['nul-output', async () => ({ text: 'a\u0000b' })],
            ['lone-surrogate-key', async () => ({ ['\ud800']: 1 })],
            ['huge-output', async () => 'x'.repeat(1_048_577)],
          ] as const
        ).map(([name, run]) => ({ name, retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 }, run })),
      ],
    });
    b = await startRuntime({ service: 'svc-b', schema: schemaB, prefix, machines: [Receiver] });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await dropSchemas(schemaA, schemaB);
  });

  it('creates idempotently and answers requests with the handler reply', async () => {
    const ref = { type: 'Counter', id: 'c1' };
    assert.deepEqual(await a.create(ref, { type: 'Open' }), { created: true });
    assert.deepEqual(await a.create(ref, { type: 'Open' }), { created: false });
    assert.equal(await a.request(ref, { type: 'Add', n: 2 }), 2);
    assert.equal(await a.request(ref, { type: 'Add', n: 3 }), 5);
    const machine = await a.get(ref);
    assert.equal(machine?.state, 'Open');
    assert.deepEqual(machine?.data, { total: 5 });
    assert.equal(machine?.version, 3, 'three committed steps: Open, Add, Add');
  });

  it('answers a repeated request key with the first answer and changes nothing', async () => {
    const ref = { type: 'Counter', id: 'c2' };
    await a.create(ref, { type: 'Open' });
    const first = await a.request(ref, { type: 'Add', n: 10 }, { key: 'req-1' });
    const again = await a.request(ref, { type: 'Add', n: 10 }, { key: 'req-1' });
    assert.equal(first, 10);
    assert.equal(again, 10);
    const parallel = await Promise.all(Array.from({ length: 5 }, () => a.request(ref, { type: 'Add', n: 1 }, { key: 'req-2' })));
    assert.deepEqual(new Set(parallel), new Set([11]));
    assert.deepEqual((await a.get(ref))?.data, { total: 11 });
  });

  it('refuses a request the state does not accept, without a dead letter', async () => {
    const ref = { type: 'Counter', id: 'c3' };
    await a.create(ref, { type: 'Open' });
    assert.equal(await a.request(ref, { type: 'Close' }), 'closed');
    await assert.rejects(a.request(ref, { type: 'Add', n: 1 }), (error: unknown) => {
      assert.ok(error instanceof RequestRejectedError);
      assert.match(error.message, /state Closed of Counter does not accept Add/);
      return true;
    });
    const letters = await a.deadLetters({ type: 'Counter' });
    assert.equal(letters.filter((l) => l.machineId === 'c3').length, 0);
  });

  it('dead-letters a one-way event the state does not accept, and can redrive it', async () => {
    const ref = { type: 'Counter', id: 'c4' };
    await a.create(ref, { type: 'Open' });
    await a.request(ref, { type: 'Close' });
    await a.send(ref, { type: 'Add', n: 7 });
    const letter = await waitFor('a dead letter for c4', async () => (await a.deadLetters({ type: 'Counter' })).find((l) => l.machineId === 'c4'));
    assert.match(letter.reason, /does not accept Add/);
    assert.deepEqual(letter.event, { type: 'Add', n: 7 });
    assert.equal(await a.redrive(letter.id), true);
    assert.equal(await a.redrive(letter.id), false, 'a dead letter is redriven once');
    await waitFor('the redriven event to be dead-lettered again', async () => (await a.deadLetters({ type: 'Counter' })).filter((l) => l.machineId === 'c4').length === 1 && (await a.deadLetters({ type: 'Counter', includeRedriven: true })).filter((l) => l.machineId === 'c4').length === 2);
  });

  it('retries a throwing handler, dead-letters it after its attempts, and goes on with the next event', async () => {
    const ref = { type: 'Counter', id: 'c5' };
    await a.create(ref, { type: 'Open' });
    await a.send(ref, { type: 'Boom' });
    await a.send(ref, { type: 'Add', n: 1 });
    const letter = await waitFor('Boom to be dead-lettered', async () => (await a.deadLetters({ type: 'Counter' })).find((l) => l.machineId === 'c5'));
    assert.match(letter.reason, /handler failed 3 times, last: Error: boom/);
    assert.equal(letter.attempts, 3);
    await waitFor('the next event to be handled', async () => ((await a.get(ref))?.data as { total: number }).total === 1);
  });

  it('rejects events for machines that do not exist', async () => {
    await assert.rejects(a.send({ type: 'Counter', id: 'nobody' }, { type: 'Add', n: 1 }), MachineNotFoundError);
    await assert.rejects(a.request({ type: 'Counter', id: 'nobody' }, { type: 'Add', n: 1 }), MachineNotFoundError);
  });

  it('delivers across services exactly once, in order per pair, and fires and cancels timers', async () => {
    const receivers = ['r1', 'r2', 'r3'];
    for (const id of receivers) await b.create({ type: 'Receiver', id }, { type: 'Hello' });
    const senders = ['s1', 's2', 's3', 's4'];
    const count = 30;
    for (const id of senders) await a.create({ type: 'Sender', id }, { type: 'Start', receivers, count, receiverType: 'Receiver' });
    const total = senders.length * count;
    await waitFor(`${total} pings received`, async () => {
      let sum = 0;
      for (const id of receivers) sum += ((await b.get({ type: 'Receiver', id }))?.data as { count: number }).count;
      return sum === total;
    }, 20_000);
    for (const id of receivers) {
      const r = (await b.get({ type: 'Receiver', id })) as { data: { violations: string[]; steps: number }; version: number };
      assert.deepEqual(r.data.violations, []);
      assert.equal(r.data.steps, r.version, 'no lost update: one writer at a time');
    }
    await waitFor('every sender to settle', async () => {
      for (const id of senders) if (!senderSettled((await a.get({ type: 'Sender', id })) as { state: string; data: unknown })) return false;
      return true;
    });
    const problems = [];
    for (const id of senders) problems.push(...senderProblems(id, (await a.get({ type: 'Sender', id })) as { state: string; version: number; data: unknown }));
    assert.deepEqual(problems, []);
  });

  it('runs activities after commit with one idempotency key and delivers the outcome once', async () => {
    const ref = { type: 'Caller', id: 'k1' };
    await a.create(ref, { type: 'Go', value: 'x' });
    await waitFor('the activity outcome', async () => ((await a.get(ref))?.data as { completed: number }).completed === 1);
    await a.send(ref, { type: 'Go', value: 'y', activity: 'flaky' });
    await waitFor('the flaky activity to succeed on its third attempt', async () => ((await a.get(ref))?.data as { completed: number }).completed === 2);
    const data = (await a.get(ref))?.data as { completed: number; failed: number; outputs: unknown[] };
    assert.deepEqual(data.outputs, [{ echoed: 'x' }, 'third time']);
    const flaky = activityCalls.filter((c) => c.key.endsWith('flaky#1'));
    assert.deepEqual(flaky.map((c) => c.attempt), [1, 2, 3]);
    assert.equal(new Set(flaky.map((c) => c.key)).size, 1, 'one idempotency key for every attempt');
  });

  it('ends a call whose attempts throw what nothing can print, or return what cannot be stored, with ActivityFailed', async () => {
    const cases: [string, RegExp][] = [
      ['reject-unprintable', /\[object Object\]/],
      ['throw-unprintable', /\[object Object\]/],
      ['nul-output', /cannot be recorded: a string holds a NUL character/],
      ['lone-surrogate-key', /cannot be recorded: a string holds a NUL character or a lone UTF-16 surrogate/],
      ['huge-output', /the output is 1048579 characters of JSON, more than 1048576/],
    ];
    for (const [activity, error] of cases) {
      const ref = { type: 'Caller', id: `hostile-${activity}` };
      await a.create(ref, { type: 'Go', value: 'v', activity });
      const data = await waitFor(`${activity} to end in ActivityFailed`, async () => {
        const d = (await a.get(ref))?.data as { failed: number; completed: number; lastError?: string };
        return d.failed === 1 ? d : undefined;
      });
      assert.equal(data.completed, 0);
      assert.match(data.lastError ?? '', error, activity);
    }
    // The process lived through all of it, and its calls are gone.
    const pool = testPool();
    try {
      const left = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schemaA}".rsm_activities WHERE machine_id LIKE 'hostile-%'`);
      assert.equal(left.rows[0]?.n, 0);
    } finally {
      await pool.end();
    }
  });

  it('keeps the keys of a chain of activities, each called from the outcome of the one before, of one length', async () => {
    const ref = { type: 'Chain', id: 'chain-1' };
    await a.create(ref, { type: 'Start', n: 12 });
    await waitFor('the chain to end', async () => ((await a.get(ref))?.data as { done: number }).done === 12);
    assert.equal(new Set(linkKeys).size, 12, 'one key per call');
    // Each key once held the whole key before it: 23 characters more a link, 312 for the twelfth.
    const lengths = linkKeys.slice(1).map((key) => key.length);
    assert.equal(new Set(lengths).size, 1, `keys after the first all of one length: ${lengths.join(', ')}`);
    assert.ok((lengths[0] ?? 0) <= 80, `${lengths[0]} characters`);
  });

  it('exposes rsm_ metrics', async () => {
    const text = await a.metrics.registry.metrics();
    assert.match(text, /rsm_steps_total\{service="svc-a",type="Counter",event="Add",outcome="ok"\} \d+/);
    assert.match(text, /rsm_step_duration_seconds_bucket/);
    // c3 and c4 went Open -> Closed: one committed transition each.
    assert.match(text, /rsm_transitions_total\{service="svc-a",type="Counter",from="Open",to="Closed"\} 2/);
    assert.match(text, /rsm_transition_age_seconds_count\{service="svc-a",type="Counter",to="Closed"\} 2/);
    const health = await a.health();
    assert.deepEqual(health, { status: 'ok', checks: { postgres: true, redis: true, relay: true, running: true } });
  });
});

type VaultEvents = { type: 'Open' } | { type: 'Store'; text: string; nul?: boolean };
/** Stores what it is told; with `nul`, a text Postgres cannot keep in jsonb, so its step's write fails. */
const Vault = defineMachine<{ text: string | null }, VaultEvents>()({
  type: 'Vault',
  initial: 'Open',
  initialData: () => ({ text: null }),
  states: { Open: { on: { Open: () => undefined, Store: (data, event) => void (data.text = event.nul === true ? `${event.text}\u0000` : event.text) } } },
});
type ForwarderEvents = { type: 'Go'; stores: { id: string; text: string; nul?: boolean }[] };
const Forwarder = defineMachine<Record<string, never>, ForwarderEvents>()({
  type: 'Forwarder',
  initial: 'Ready',
  initialData: () => ({}),
  states: { Ready: { on: { Go: (_data, event, ctx) => event.stores.forEach((s) => ctx.send<VaultEvents>({ type: 'Vault', id: s.id }, { type: 'Store', text: s.text, nul: s.nul ?? false })) } } },
});

describe('a step the database refuses, for events from another service', () => {
  const schemaC = uniqueSchema('c');
  const schemaD = uniqueSchema('d');
  const prefix = uniquePrefix('poison');
  let c: RsmRuntime;
  let d: RsmRuntime;
  before(async () => {
    c = await startRuntime({ service: 'svc-c', schema: schemaC, prefix, machines: [Forwarder], routes: { Vault: 'svc-d' } });
    d = await startRuntime({ service: 'svc-d', schema: schemaD, prefix, machines: [Vault] });
  });
  after(async () => {
    await c?.stop();
    await d?.stop();
    await dropSchemas(schemaC, schemaD);
  });

  it('takes the events anyway, handles the others, and dead-letters only the refused one', async () => {
    for (const id of ['v-bad', 'v-good']) await d.create({ type: 'Vault', id }, { type: 'Open' });
    // One step sends both: one job carries both events, so receipt-with-step fails as a whole first.
    await c.create({ type: 'Forwarder', id: 'f1' }, { type: 'Go', stores: [{ id: 'v-bad', text: 'bad', nul: true }, { id: 'v-good', text: 'fine' }] });
    await waitFor('the good event handled and the bad one dead-lettered', async () =>
      ((await d.get({ type: 'Vault', id: 'v-good' }))?.data as { text: string | null }).text === 'fine' && (await d.deadLetters({ type: 'Vault' })).length === 1,
    20_000);
    const [letter] = await d.deadLetters({ type: 'Vault' });
    assert.equal(letter?.machineId, 'v-bad');
    assert.match(letter?.reason ?? '', /could not be committed/);
    const bad = await d.get({ type: 'Vault', id: 'v-bad' });
    assert.deepEqual({ data: bad?.data, version: bad?.version }, { data: { text: null }, version: 1 }, 'the refused step changed nothing');
  });
});

describe('the janitor under a backlog of old step history', () => {
  const schema = uniqueSchema('jan');
  let runtime: RsmRuntime | undefined;
  const pool = testPool();
  after(async () => {
    await runtime?.stop();
    await pool.end();
    await dropSchemas(schema);
  });

  it('deletes batch after batch without waiting an interval between them', async () => {
    const intervalMs = 5_000;
    // Started with history kept for a minute, to put a backlog in place before the janitor's first run.
    runtime = await startRuntime({ service: 'janitor', schema, prefix: uniquePrefix('jan'), machines: [Counter], overrides: { stepHistoryMs: 60_000, cleanupIntervalMs: intervalMs } });
    const steps = `"${schema}".rsm_steps`;
    await pool.query(
      `INSERT INTO ${steps} (machine_type, machine_id, event_type, event_id, from_state, to_state, effects, at)
       SELECT 'Counter', 'c' || g, 'Add', 'e' || g, 'Open', 'Open', 0, now() - interval '2 hours' FROM generate_series(1, 25000) g`,
    );
    await runtime.create({ type: 'Counter', id: 'recent' }, { type: 'Open' });
    const count = async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${steps}`)).rows[0]?.n);
    // Three batches of 10,000: once the first is gone, the rest follow at once, not an interval
    // (at least 0.8 x 5 s) apart.
    await waitFor('the janitor to start on the backlog', async () => (await count()) < 25_001, intervalMs * 2);
    await waitFor('the whole backlog gone', async () => (await count()) === 1, intervalMs * 0.6);
  });
});
