import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineMachine, RsmOverloadedError, type AnyMachineDefinition, type RsmRuntime } from '#rsm';
import { dropSchemas, startRuntime, uniquePrefix, uniqueSchema, waitFor } from './support/helpers.js';

/** Forwards each `Go` as `n` pieces of work to one machine of the other service. */
const Forwarder = defineMachine<{ sent: number }, { type: 'Go'; n: number }>()({
  type: 'Forwarder',
  initial: 'Open',
  initialData: () => ({ sent: 0 }),
  states: {
    Open: {
      on: {
        Go: (data, event, ctx) => {
          for (let i = 0; i < event.n; i += 1) ctx.send({ type: 'Slow', id: 'one' }, { type: 'Work' });
          data.sent += event.n;
        },
      },
    },
  },
});

/** Takes 40 ms per piece of work: a queue of them makes later ones wait, which is lag. */
const Slow = defineMachine<{ done: number }, { type: 'Work' }>()({
  type: 'Slow',
  initial: 'Open',
  initialData: () => ({ done: 0 }),
  states: {
    Open: {
      on: {
        Work: async (data) => {
          await new Promise((resolve) => setTimeout(resolve, 40));
          data.done += 1;
        },
      },
    },
  },
});

/** Parks each piece of work in its data until told to drain: a queue out of sight of the inbox. */
const Queue = defineMachine<{ since: number[] }, { type: 'Park' } | { type: 'Drain' }>()({
  type: 'Queue',
  initial: 'Open',
  initialData: () => ({ since: [] }),
  states: {
    Open: {
      on: {
        Park: (data, _event, ctx) => {
          data.since.push(ctx.now.getTime());
          ctx.backlog(ctx.now.getTime() - (data.since[0] ?? ctx.now.getTime()));
        },
        Drain: (data, _event, ctx) => {
          data.since = [];
          ctx.backlog(0);
        },
      },
    },
  },
});

/** Forwards each `Go` as one `Park` (or a `Drain`) to the queue of the other service. */
const Parker = defineMachine<{ sent: number }, { type: 'Go'; drain?: boolean }>()({
  type: 'Parker',
  initial: 'Open',
  initialData: () => ({ sent: 0 }),
  states: {
    Open: {
      on: {
        Go: (data, event, ctx) => {
          ctx.send({ type: 'Queue', id: 'q' }, event.drain === true ? { type: 'Drain' } : { type: 'Park' });
          data.sent += 1;
        },
      },
    },
  },
});

// No probe within a test (load-monitor.unit.spec.ts covers it): on a slow machine one could slip
// through between two refusals asserted here.
const admission = { maxLagMs: 300, windowMs: 2_000, staleAfterMs: 3_000, probeAfterMs: 60_000 };

/**
 * Two services for a describe block, started before its tests and stopped after: `<name>-a` runs
 * `sender` and routes `receiver` to `<name>-b`, which runs it. Both admit with `admission`.
 */
function twoServices(name: string, sender: AnyMachineDefinition, receiver: AnyMachineDefinition, receiverBatch?: { maxEventsPerMachine: number }) {
  const schemaA = uniqueSchema(`${name}a`);
  const schemaB = uniqueSchema(`${name}b`);
  const prefix = uniquePrefix(name);
  const services = {} as { a: RsmRuntime; b: RsmRuntime };
  before(async () => {
    services.a = await startRuntime({ service: `${name}-a`, schema: schemaA, prefix, machines: [sender], routes: { [receiver.type]: `${name}-b` }, overrides: { admission } });
    services.b = await startRuntime({ service: `${name}-b`, schema: schemaB, prefix, machines: [receiver], overrides: { admission, ...(receiverBatch === undefined ? {} : { batch: receiverBatch }) } });
  });
  after(async () => {
    await services.a?.stop();
    await services.b?.stop();
    await dropSchemas(schemaA, schemaB);
  });
  return services;
}

describe('admission: work from outside waits while the deployment is behind', () => {
  const services = twoServices('adm', Forwarder, Slow, { maxEventsPerMachine: 4 });

  const done = async () => ((await services.b.get({ type: 'Slow', id: 'one' }))?.data as { done: number } | undefined)?.done ?? 0;

  it('admits while nothing waits, refuses with the downstream source while the receiver is behind, and admits again after', async () => {
    const { a, b } = services;
    assert.equal(a.loadView().lagMs, 0);
    await a.create(Forwarder.ref('f0'), { type: 'Go', n: 0 }, { admission: true });
    await b.create({ type: 'Slow', id: 'one' }, { type: 'Work' });
    // 60 pieces at 40 ms each to one machine: the last ones wait seconds.
    await a.create(Forwarder.ref('f1'), { type: 'Go', n: 60 }, { admission: true });
    // Lag travels back with acknowledgements: while a keeps sending, it keeps hearing how b is doing.
    let extra = 0;
    let lastSend = 0;
    const behind = await waitFor('a to hear that adm-b is behind', async () => {
      const view = a.loadView();
      if (view.lagMs > admission.maxLagMs && view.source === 'adm-b') return view;
      if (Date.now() - lastSend > 200) {
        lastSend = Date.now();
        extra += 1;
        await a.send(Forwarder.ref('f1'), { type: 'Go', n: 1 });
      }
      return undefined;
    }, 30_000);
    assert.ok(behind.services['adm-b'] !== undefined);
    await assert.rejects(a.create(Forwarder.ref('f2'), { type: 'Go', n: 1 }, { admission: true }), (error: unknown) => {
      assert.ok(error instanceof RsmOverloadedError, String(error));
      assert.equal(error.source, 'adm-b');
      assert.ok(error.retryAfterMs >= 1_000 && error.retryAfterMs <= 30_000);
      return true;
    });
    assert.equal(await a.get(Forwarder.ref('f2')), undefined, 'a refused create writes nothing');
    await assert.rejects(a.send(Forwarder.ref('f1'), { type: 'Go', n: 0 }, { admission: true }), RsmOverloadedError);
    // A request asks it too (the option was once taken and ignored), and nothing is handled.
    const sent = ((await a.get(Forwarder.ref('f1')))?.data as { sent: number }).sent;
    await assert.rejects(a.request(Forwarder.ref('f1'), { type: 'Go', n: 1 }, { admission: true }), RsmOverloadedError);
    assert.equal(((await a.get(Forwarder.ref('f1')))?.data as { sent: number }).sent, sent);
    // Asked on its own, before a caller reads anything.
    assert.throws(() => a.assertAdmitted(), RsmOverloadedError);
    // Without admission (a cancel, say) work is always taken.
    assert.deepEqual(await a.send(Forwarder.ref('f1'), { type: 'Go', n: 0 }), { duplicate: false });
    const refusedMetric = (await a.metrics.admissionRefused.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.equal(refusedMetric, 4);
    // Once adm-b has caught up and its report is stale or fresh and low, work is admitted again.
    await waitFor('adm-b to finish the queue', async () => (await done()) === 61 + extra, 60_000);
    await waitFor('a to admit again', () => a.loadView().lagMs <= admission.maxLagMs, 30_000);
    assert.deepEqual(await a.create(Forwarder.ref('f3'), { type: 'Go', n: 1 }, { admission: true }), { created: true });
    await waitFor('the admitted work to arrive', async () => (await done()) === 62 + extra, 30_000);
  });
});

describe('admission: work a machine parks in its data (ctx.backlog) counts as lag', () => {
  const services = twoServices('admq', Parker, Queue);

  it('refuses while the oldest parked piece is older than maxLagMs, though every event is handled at once, and admits once it drains', async () => {
    const { a, b } = services;
    await b.create({ type: 'Queue', id: 'q' }, { type: 'Drain' });
    await a.create(Parker.ref('p'), { type: 'Go' }, { admission: true });
    let lastSend = 0;
    await waitFor('a to hear that the queue of admq-b is old', async () => {
      const view = a.loadView();
      if (view.lagMs > admission.maxLagMs && view.source === 'admq-b') return view;
      if (Date.now() - lastSend > 100) {
        lastSend = Date.now();
        await a.send(Parker.ref('p'), { type: 'Go' });
      }
      return undefined;
    }, 30_000);
    assert.ok(b.loadView().lagMs > admission.maxLagMs, 'the receiver counts its own queue');
    await assert.rejects(a.create(Parker.ref('p2'), { type: 'Go' }, { admission: true }), RsmOverloadedError);
    await a.send(Parker.ref('p'), { type: 'Go', drain: true });
    await waitFor('b to report its queue empty', () => b.loadView().lagMs <= admission.maxLagMs, 30_000);
    await waitFor('a to admit again', async () => {
      if (a.loadView().lagMs <= admission.maxLagMs) return true;
      await a.send(Parker.ref('p'), { type: 'Go', drain: true });
      return undefined;
    }, 30_000);
    assert.deepEqual(await a.create(Parker.ref('p3'), { type: 'Go', drain: true }, { admission: true }), { created: true });
  });
});

/** Its creation takes `ms`: one slow first step holds every caller behind it in this process. */
const started = new Set<string>();
const finished = new Set<string>();
const Sleepy = defineMachine<object, { type: 'Open'; ms: number }>()({
  type: 'Sleepy',
  initial: 'Open',
  initialData: () => ({}),
  states: {
    Open: {
      on: {
        Open: async (_data, event, ctx) => {
          started.add(ctx.self.id);
          await new Promise((resolve) => setTimeout(resolve, event.ms));
          finished.add(ctx.self.id);
        },
      },
    },
  },
});

describe('admission: callers queued for this process\'s own transactions', () => {
  const schema = uniqueSchema('admi');
  let rsm: RsmRuntime;
  before(async () => {
    // One transaction at a time, of at most 4 machines: a fifth caller waits for more than one.
    rsm = await startRuntime({ service: 'admi', schema, prefix: uniquePrefix('admi'), machines: [Sleepy], overrides: { admission, batch: { concurrency: 1, maxMachines: 4 } } });
  });
  after(async () => {
    await rsm?.stop();
    await dropSchemas(schema);
  });

  it('refuses a burst before any of its events is handled, instead of letting its last callers pass their deadline', async () => {
    const slow = rsm.create(Sleepy.ref('slow'), { type: 'Open', ms: 4_000 });
    await waitFor('the slow step to run', () => started.has('slow') || undefined, 30_000);
    // A burst behind it: none of its events is handled while the slow step runs, so only its wait shows.
    const burst = Array.from({ length: 10 }, (_, i) => rsm.create(Sleepy.ref(`b${i}`), { type: 'Open', ms: 0 }));
    const view = await waitFor('the queued burst to count as lag', () => {
      const v = rsm.loadView();
      return v.lagMs > admission.maxLagMs ? v : undefined;
    }, 30_000);
    assert.equal(finished.has('slow'), false, `refused at ${view.lagMs} ms of lag while the slow step still ran: measured on handled events alone, the burst was admitted`);
    await assert.rejects(rsm.create(Sleepy.ref('late'), { type: 'Open', ms: 0 }, { admission: true }), RsmOverloadedError);
    await Promise.all([slow, ...burst]);
    await waitFor('admission again once the burst is handled', async () => {
      if (rsm.loadView().lagMs > admission.maxLagMs) return undefined;
      return (await rsm.create(Sleepy.ref('after'), { type: 'Open', ms: 0 }, { admission: true })).created;
    }, 30_000);
  });
});
