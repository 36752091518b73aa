import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineMachine, MachineNotFoundError, parseRsmOptions, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmConfigError, RsmRuntime, type Json, type TimeoutEvent } from '#rsm';
import { TestRuntime } from '#rsm/testing';
import { Counter, Sender } from './fixtures/machines.js';

describe('machine definitions', () => {
  it('lists states and transitions for tools', () => {
    assert.deepEqual(Counter.states, ['Open', 'Closed']);
    assert.deepEqual(Counter.accepts('Open'), ['Open', 'Add', 'Close', 'Boom']);
    assert.deepEqual(Counter.accepts('Closed'), []);
    assert.deepEqual(Counter.transitions().find((t) => t.event === 'Close'), { from: 'Open', event: 'Close', targets: ['Closed'] });
    assert.match(Counter.toMermaid(), /Open --> Closed: Close/);
  });

  it('refuses a declaration whose initial state or targets are unknown', () => {
    assert.throws(
      () => defineMachine<object, { type: 'A' }>()({ type: 'Bad', initial: 'Nope' as 'S', initialData: () => ({}), states: { S: {} } }),
      /initial state Nope is not declared/,
    );
    assert.throws(
      () => defineMachine<object, { type: 'A' }>()({ type: 'Bad', initial: 'S', initialData: () => ({}), states: { S: { on: { A: () => undefined }, targets: { A: 'T' as 'S' } } } }),
      /names unknown target T/,
    );
    assert.throws(() => defineMachine<object, { type: 'A' }>()({ type: 'no spaces', initial: 'S', initialData: () => ({}), states: { S: {} } }), /must start with a letter/);
  });
});

describe('in-memory test runtime', () => {
  it('keeps the events of a faulted machine until a redrive, as production does', async () => {
    const Fragile = defineMachine<{ seen: number[]; broken: boolean }, { type: 'Put'; n: number } | { type: 'Fix' }>()({
      type: 'Fragile',
      initial: 'Open',
      initialData: () => ({ seen: [], broken: true }),
      failure: { maxAttempts: 2, onExhausted: 'fault' },
      states: {
        Open: {
          on: {
            Put: (data, event) => {
              if (data.broken && event.n === 1) throw new Error('broken');
              data.seen.push(event.n);
            },
            Fix: (data) => void (data.broken = false),
          },
        },
      },
    });
    const rt = new TestRuntime([Fragile]);
    const ref = Fragile.ref('f1');
    await rt.create(ref, { type: 'Fix' });
    await rt.send(ref, { type: 'Put', n: 0 });
    const machine = rt.machines.get('Fragile/f1');
    assert.ok(machine);
    machine.data = { ...(machine.data as object), broken: true };
    await rt.send(ref, { type: 'Put', n: 1 });
    assert.equal(rt.deadLetters.length, 1, 'the failing event is dead-lettered after its attempts');
    await rt.send(ref, { type: 'Put', n: 2 });
    // Production's caller waits for a redrive until its deadline: the same error, at once.
    await assert.rejects(rt.request(ref, { type: 'Put', n: 3 }), (e) => e instanceof RequestTimeoutError && /Fragile\/f1 within 10000 ms/.test(e.message) && e.cause instanceof Error && /faulted/.test(e.cause.message));
    assert.deepEqual((rt.get(ref)?.data as { seen: number[] }).seen, [0], 'nothing handled while faulted');
    machine.data = { ...(machine.data as object), broken: false };
    assert.equal(rt.redrive(0), true);
    await rt.runUntilIdle();
    assert.deepEqual((rt.get(ref)?.data as { seen: number[] }).seen, [0, 2, 3, 1], 'kept events first, in order, then the redriven one');
    assert.deepEqual(rt.deadLetters, []);
    assert.equal(rt.redrive(0), false);
  });

  it('keeps one Timeout of a periodic timer waiting for a faulted machine, not one a period', async () => {
    const Ticker = defineMachine<{ ticks: number; broken: boolean }, { type: 'Start' } | { type: 'Break' } | TimeoutEvent<'tick'>>()({
      type: 'Ticker',
      initial: 'On',
      initialData: () => ({ ticks: 0, broken: false }),
      failure: { maxAttempts: 1, onExhausted: 'fault' },
      states: {
        On: {
          on: {
            Start: (_data, _event, ctx) => ctx.startTimer('tick', 1_000, { periodMs: 1_000 }),
            Break: (data) => void (data.broken = true),
            Timeout: (data) => {
              if (data.broken) throw new Error('broken');
              data.ticks += 1;
            },
          },
        },
      },
    });
    const rt = new TestRuntime([Ticker]);
    const ref = Ticker.ref('t1');
    await rt.create(ref, { type: 'Start' });
    await rt.advance(3_000);
    assert.equal((rt.get(ref)?.data as { ticks: number }).ticks, 3);
    await rt.send(ref, { type: 'Break' });
    await rt.advance(1_000); // this tick fails and faults the machine
    assert.equal(rt.get(ref)?.status, 'faulted');
    await rt.advance(60_000);
    const machine = rt.machines.get('Ticker/t1');
    assert.ok(machine);
    machine.data = { ...(machine.data as object), broken: false };
    assert.equal(rt.redrive(0), true);
    await rt.runUntilIdle();
    // The failed tick, redriven, and the one that waited for the minute the machine was faulted.
    assert.equal((rt.get(ref)?.data as { ticks: number }).ticks, 5);
  });

  it('handles events, replies, and dead-letters what a state does not accept', async () => {
    const rt = new TestRuntime([Counter]);
    const c = Counter.ref('c1');
    await rt.create(c, { type: 'Open' });
    assert.equal(await rt.request(c, { type: 'Add', n: 4 }), 4);
    assert.equal(await rt.request(c, { type: 'Close' }), 'closed');
    await rt.send(c, { type: 'Add', n: 1 });
    assert.equal(rt.stateOf(c), 'Closed');
    assert.equal(rt.deadLetters.length, 1);
    assert.match(rt.deadLetters[0]?.reason ?? '', /state Closed of Counter does not accept Add/);
    // The error production's request throws, with the machine and the reason.
    await assert.rejects(rt.request(c, { type: 'Add', n: 1 }), (e) => e instanceof RequestRejectedError && e.ref.id === 'c1' && /state Closed of Counter does not accept Add/.test(e.reason));
  });

  it('retries a throwing handler up to its attempts, then dead-letters it', async () => {
    const rt = new TestRuntime([Counter]);
    await rt.create(Counter.ref('c'), { type: 'Open' });
    await rt.send(Counter.ref('c'), { type: 'Boom' });
    assert.equal(rt.trace.filter((t) => t.outcome === 'failed').length, 3);
    assert.match(rt.deadLetters[0]?.reason ?? '', /handler failed 3 times, last: Error: boom/);
    // Asked as a request, the caller gets production's RequestFailedError.
    await rt.create(Counter.ref('c2'), { type: 'Open' });
    await assert.rejects(rt.request(Counter.ref('c2'), { type: 'Boom' }), (e) => e instanceof RequestFailedError && e.ref.id === 'c2' && /boom/.test(e.reason));
  });

  it('fails a step whose handler goes to a target its event does not declare, even if the handler catches it', async () => {
    type Events = { type: 'Go'; to: 'B' | 'C'; swallow?: boolean };
    const M = defineMachine<{ n: number }, Events>()({
      type: 'Strict',
      initial: 'A',
      initialData: () => ({ n: 0 }),
      states: {
        A: {
          on: {
            Go: (data, event, ctx) => {
              data.n += 1;
              try {
                ctx.goto(event.to);
              } catch (error) {
                if (event.swallow !== true) throw error;
              }
            },
          },
          targets: { Go: 'B' },
        },
        B: {},
        C: {},
      },
      failure: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 1 },
    });
    assert.deepEqual(M.transitions(), [{ from: 'A', event: 'Go', targets: ['B'] }]);
    assert.equal(M.toMermaid(), 'stateDiagram-v2\n  [*] --> A\n  A --> B: Go');
    for (const swallow of [false, true]) {
      const rt = new TestRuntime([M]);
      await rt.create(M.ref(`m-${swallow}`), { type: 'Go', to: 'C', swallow });
      assert.equal(rt.stateOf(M.ref(`m-${swallow}`)), 'A', 'the undeclared goto changed nothing');
      assert.equal(rt.get(M.ref(`m-${swallow}`))?.data.n, 0);
      assert.match(rt.deadLetters[0]?.reason ?? '', /declares no transition A --Go--> C \(declared targets: B\)/);
    }
    const rt = new TestRuntime([M]);
    await rt.create(M.ref('ok'), { type: 'Go', to: 'B' });
    assert.equal(rt.stateOf(M.ref('ok')), 'B');
  });

  it('fails a step that sends what a receiving service would refuse, so it never reaches an outbox', async () => {
    type Events = { type: 'Go'; to: string; event: string };
    const M = defineMachine<{ n: number }, Events>()({
      type: 'Mailer',
      initial: 'A',
      initialData: () => ({ n: 0 }),
      states: {
        A: {
          on: {
            Go: (data, event, ctx) => {
              data.n += 1;
              ctx.send({ type: event.to, id: 'r1' }, { type: event.event });
            },
          },
        },
      },
      failure: { maxAttempts: 1 },
    });
    const cases = [
      { to: 'Remote', event: '', reason: /not an event \(its type must be a string of 1 to 200 characters\)/ },
      { to: 'Remote', event: 'E'.repeat(201), reason: /not an event/ },
      { to: 'bad type!', event: 'E', reason: /not a machine reference \(no machine type can be "bad type!"\)/ },
      { to: 'R'.repeat(201), event: 'E', reason: /not a machine reference \(no machine type can be/ },
    ];
    for (const [i, c] of cases.entries()) {
      const rt = new TestRuntime([M]);
      await rt.create(M.ref(`m${i}`), { type: 'Go', to: c.to, event: c.event });
      assert.equal(rt.get(M.ref(`m${i}`))?.data.n, 0, 'the step did not commit');
      assert.match(rt.deadLetters[0]?.reason ?? '', c.reason);
    }
    assert.throws(() => defineMachine()({ type: 'T'.repeat(201), initial: 'A', initialData: () => ({}), states: { A: {} } }), /at most 200 characters/);
    assert.throws(() => parseRsmOptions({ service: 'svc', postgres: { url: 'postgres://x' }, redis: { url: 'redis://x', signingKeys: ['k'.repeat(32)] }, delivery: { messagesPerJob: 10_001 } }), /rsm\.delivery\.messagesPerJob/);
  });

  it('fails a step whose timer would fire past what Postgres can store, and takes a fractional period', async () => {
    type Events = { type: 'Start'; delayMs: number; periodMs?: number };
    const M = defineMachine<Record<string, never>, Events>()({
      type: 'Ticker',
      initial: 'A',
      initialData: () => ({}),
      states: { A: { on: { Start: (_data, event, ctx) => ctx.startTimer('tick', event.delayMs, event.periodMs === undefined ? undefined : { periodMs: event.periodMs }) } } },
      failure: { maxAttempts: 1 },
    });
    const cases = [
      { delayMs: 0, periodMs: 9e15, reason: /period must be > 0 and at most 3155760000000 ms/ },
      { delayMs: 0, periodMs: Number.MAX_SAFE_INTEGER, reason: /period must be/ },
      { delayMs: 1e15, reason: /delay must be 0 to 3155760000000 ms/ },
      { delayMs: -1, reason: /delay must be/ },
    ];
    for (const [i, c] of cases.entries()) {
      const rt = new TestRuntime([M]);
      await rt.create(M.ref(`t${i}`), { type: 'Start', delayMs: c.delayMs, ...(c.periodMs === undefined ? {} : { periodMs: c.periodMs }) });
      assert.match(rt.deadLetters[0]?.reason ?? '', c.reason);
      assert.deepEqual(rt.timersOf(M.ref(`t${i}`)), []);
    }
    const rt = new TestRuntime([M]);
    await rt.create(M.ref('third'), { type: 'Start', delayMs: 10, periodMs: 1000 / 3 });
    assert.equal(rt.deadLetters.length, 0);
    assert.deepEqual(rt.timersOf(M.ref('third')).map((t) => t.name), ['tick'], 'a fractional period is taken (rounded up to whole milliseconds for the timer table)');
  });

  it('refuses calls as production does: a missing machine, a type it does not own, an id no route reaches', async () => {
    const rt = new TestRuntime([Counter]);
    await assert.rejects(rt.request(Counter.ref('nobody'), { type: 'Add', n: 1 } as never), MachineNotFoundError);
    await assert.rejects(rt.send(Counter.ref('nobody'), { type: 'Add', n: 1 } as never), MachineNotFoundError);
    await assert.rejects(rt.create(Counter.ref('..'), { type: 'Open' } as never), /cannot be '\.' or '\.\.'/);
    await assert.rejects(rt.send({ type: 'Elsewhere', id: 'x' }, { type: 'Go' }), /owns no machine type Elsewhere/);
    assert.equal(rt.deadLetters.length, 0, 'refused, not dead-lettered');
    // From a machine, it is the receiver that dead-letters it.
    await rt.send(Counter.ref('nobody'), { type: 'Add', n: 1 } as never, { type: 'Sender', id: 's' });
    assert.match(rt.deadLetters[0]?.reason ?? '', /no machine Counter\/nobody/);
  });

  it('delivers events as the database gives them back: a Date is a string, an undefined field is gone', async () => {
    type Events = { type: 'Go' } | { type: 'At'; at: unknown; gone?: unknown } | { type: 'Timeout'; name: string; payload?: unknown };
    const Clock = defineMachine<{ seen: string[] }, Events>()({
      type: 'Clock',
      initial: 'A',
      initialData: () => ({ seen: [] }),
      states: {
        A: {
          on: {
            Go: (_d, _e, ctx) => {
              ctx.send({ type: 'Clock', id: 'b' }, { type: 'At', at: new Date(0), gone: undefined });
              ctx.startTimer('t', 10, { payload: { when: new Date(0) } as unknown as Json });
            },
            At: (d, e) => void d.seen.push(`${typeof e.at} ${'gone' in e}`),
            Timeout: (d, e) => void d.seen.push(`timeout ${typeof (e.payload as { when: unknown }).when}`),
          },
        },
      },
    });
    const rt = new TestRuntime([Clock]);
    await rt.create(Clock.ref('b'), { type: 'Go' });
    await rt.create(Clock.ref('a'), { type: 'Go' });
    await rt.advance(100);
    assert.deepEqual(rt.get(Clock.ref('b'))?.data.seen.slice(0, 2), ['string false', 'string false']);
    assert.ok(rt.get(Clock.ref('a'))?.data.seen.includes('timeout string'), JSON.stringify(rt.get(Clock.ref('a'))?.data));
  });

  it('drops the timers of a machine that halts, as production does', async () => {
    type Events = { type: 'Start' } | { type: 'Stop' } | { type: 'Timeout'; name: string };
    const M = defineMachine<{ ticks: number }, Events>()({
      type: 'Metronome',
      initial: 'On',
      initialData: () => ({ ticks: 0 }),
      states: { On: { on: { Start: (_d, _e, ctx) => ctx.startTimer('tick', 1_000, { periodMs: 1_000 }), Stop: (_d, _e, ctx) => ctx.halt(), Timeout: (d) => void (d.ticks += 1) } } },
    });
    const rt = new TestRuntime([M]);
    await rt.create(M.ref('m'), { type: 'Start' });
    await rt.advance(2_500);
    assert.equal(rt.get(M.ref('m'))?.data.ticks, 2);
    await rt.send(M.ref('m'), { type: 'Stop' });
    assert.deepEqual(rt.timersOf(M.ref('m')), []);
    await rt.advance(10_000);
    assert.equal(rt.deadLetters.length, 0, 'no Timeout fired into the halted machine');
  });

  it('refuses targets for an event the state does not accept', () => {
    assert.throws(
      () => defineMachine<object, { type: 'A' } | { type: 'B' }>()({ type: 'Bad', initial: 'S', initialData: () => ({}), states: { S: { on: { A: () => undefined }, targets: { B: 'S' } }, T: {} } }),
      /state S declares targets for B, which it does not accept/,
    );
  });

  it('fires timers in virtual time and never a cancelled one', async () => {
    const rt = new TestRuntime([Sender]);
    await rt.create(Sender.ref('s'), { type: 'Start', receivers: ['r'], count: 5, receiverType: 'Remote' });
    assert.equal(rt.stateOf(Sender.ref('s')), 'Done');
    assert.deepEqual(rt.timersOf(Sender.ref('s')).map((t) => t.name), ['once-0']);
    await rt.advance(1_000);
    const data = rt.get(Sender.ref('s'))?.data as { fired: Record<string, number>; violations: string[] };
    assert.deepEqual(data.fired, { 'once-0': 1 });
    assert.deepEqual(data.violations, []);
    // Pings to a type this runtime does not own are recorded for assertions, numbered in order.
    assert.deepEqual(rt.outbound.map((o) => (o.event as unknown as { n: number }).n), [1, 2, 3, 4, 5]);
    assert.equal(rt.pendingCalls.length, 1);
    await rt.completeActivity('call-0', { ok: 0 });
    assert.deepEqual((rt.get(Sender.ref('s'))?.data as { activityOutcomes: object }).activityOutcomes, { 'call-0': 1 });
  });

  it('validates payloads against a Standard Schema and dead-letters invalid ones with the field', async () => {
    const Typed = defineMachine<{ n: number }, { type: 'Set'; n: number }>()({
      type: 'Typed',
      initial: 'S',
      initialData: () => ({ n: 0 }),
      schemas: { Set: z.object({ type: z.literal('Set'), n: z.number().int().min(0) }) },
      states: { S: { on: { Set: (data, event) => void (data.n = event.n) } } },
    });
    const rt = new TestRuntime([Typed]);
    await rt.create(Typed.ref('t'), { type: 'Set', n: 1 });
    await rt.send(Typed.ref('t'), { type: 'Set', n: -5 });
    assert.equal((rt.get(Typed.ref('t'))?.data as { n: number }).n, 1);
    assert.match(rt.deadLetters[0]?.reason ?? '', /invalid Set: n: .*>=0/);
  });
});

describe('runtime options', () => {
  it('stops start-up with a message naming each bad setting', () => {
    assert.throws(
      () => parseRsmOptions({ service: 'Bad Name', postgres: { url: 'mysql://x' }, redis: { url: 'redis://x', signingKeys: ['short'] }, batch: { concurrency: 0 } }),
      (error: unknown) => {
        assert.ok(error instanceof RsmConfigError);
        assert.match(error.message, /rsm\.service: lower-case letters/);
        assert.match(error.message, /rsm\.postgres\.url: a postgres:\/\/ URL/);
        assert.match(error.message, /rsm\.batch\.concurrency/);
        assert.match(error.message, /rsm\.redis\.signingKeys\.0: at least 32 characters/);
        return true;
      },
    );
  });

  it('derives the schema from the service name', () => {
    const options = parseRsmOptions({ service: 'drone-scheduler', postgres: { url: 'postgres://x/y' }, redis: { url: 'redis://x', signingKeys: ['k'.repeat(32)] } });
    assert.equal(options.postgres.schema, 'drone_scheduler');
    assert.equal(options.batch.maxMachines, 64);
  });

  it('gives every connection deadlines, and refuses a client answer deadline not above the statement timeout', () => {
    const base = { service: 'svc', redis: { url: 'redis://x', signingKeys: ['k'.repeat(32)] } };
    const options = parseRsmOptions({ ...base, postgres: { url: 'postgres://x/y' } });
    assert.deepEqual(
      [options.postgres.connectTimeoutMs, options.postgres.statementTimeoutMs, options.postgres.queryTimeoutMs, options.postgres.idleInTransactionTimeoutMs, options.postgres.keepAliveInitialDelayMs, options.redis.startupTimeoutMs],
      [10_000, 30_000, 40_000, 60_000, 10_000, 60_000],
    );
    assert.throws(
      () => parseRsmOptions({ ...base, postgres: { url: 'postgres://x/y', statementTimeoutMs: 5_000, queryTimeoutMs: 5_000 } }),
      (error: unknown) => error instanceof RsmConfigError && /rsm\.postgres\.queryTimeoutMs: must be longer than postgres\.statementTimeoutMs/.test(error.message),
    );
  });

  it('takes Redis TLS settings only as PEM text, with a rediss:// URL, and a certificate only with its key', () => {
    const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
    const base = { service: 'svc', postgres: { url: 'postgres://x/y' } };
    const redis = { url: 'rediss://x', signingKeys: ['k'.repeat(32)] };
    const options = parseRsmOptions({ ...base, redis: { ...redis, tls: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('EC PRIVATE KEY') } } });
    assert.match(options.redis.tls?.key ?? '', /EC PRIVATE KEY/);
    const refused = (tls: object, url: string, pattern: RegExp) =>
      assert.throws(() => parseRsmOptions({ ...base, redis: { ...redis, url, tls } }), (error: unknown) => error instanceof RsmConfigError && pattern.test(error.message));
    refused({ ca: pem('CERTIFICATE') }, 'redis://x', /rsm\.redis\.tls: TLS settings need a rediss:\/\/ URL/);
    refused({ ca: '/etc/ssl/ca.crt' }, 'rediss://x', /rsm\.redis\.tls\.ca: PEM text with a CERTIFICATE block/);
    refused({ cert: pem('CERTIFICATE') }, 'rediss://x', /rsm\.redis\.tls\.cert: cert and key go together/);
  });

  it('refuses to start when Postgres would end a step transaction before its handler may return', async () => {
    const rsm = new RsmRuntime(
      { service: 'svc', postgres: { url: 'postgres://127.0.0.1:1/none', idleInTransactionTimeoutMs: 20_000 }, redis: { url: 'redis://127.0.0.1:1', signingKeys: ['k'.repeat(32)] } },
      { machines: [Counter] },
    );
    await assert.rejects(rsm.start(), (error: unknown) => error instanceof RsmConfigError && /idleInTransactionTimeoutMs: 20000 ms must exceed the handler timeout of machine type Counter \(30000 ms\)/.test(error.message));
  });

  it('refuses an activity whose retry policy a timer cannot keep, naming the field', () => {
    const options = { service: 'svc', postgres: { url: 'postgres://127.0.0.1:1/none' }, redis: { url: 'redis://127.0.0.1:1', signingKeys: ['k'.repeat(32)] }, activities: { leaseMs: 30_000 } };
    const run = async () => Promise.resolve(null);
    const refused = (retry: object, pattern: RegExp) =>
      assert.throws(() => new RsmRuntime(options, { activities: [{ name: 'pay', retry, run }] }), (error: unknown) => error instanceof RsmConfigError && pattern.test(error.message));
    // Past Node's longest timer an attempt's timeout fired at once: every attempt failed.
    refused({ timeoutMs: Infinity }, /activity pay: retry\.timeoutMs must be a whole number of ms from 1 to 2147483647 \(got Infinity\)/);
    refused({ timeoutMs: 2 ** 31 }, /retry\.timeoutMs .* \(got 2147483648\)/);
    refused({ maxAttempts: 0 }, /retry\.maxAttempts must be a whole number of at least 1/);
    refused({ maxAttempts: 2.5 }, /retry\.maxAttempts/);
    refused({ initialBackoffMs: -1 }, /retry\.initialBackoffMs/);
    refused({ initialBackoffMs: 500, maxBackoffMs: 100 }, /retry\.maxBackoffMs must be a whole number of ms from initialBackoffMs/);
    refused({ maxBackoffMs: 2 ** 31 }, /retry\.maxBackoffMs/);
    // Longer than the lease is taken: an attempt is cut where its lease ends (another process would take the call).
    assert.ok(new RsmRuntime(options, { activities: [{ name: 'pay', retry: { timeoutMs: 60_000, maxAttempts: 80 }, run }] }));
  });
});
