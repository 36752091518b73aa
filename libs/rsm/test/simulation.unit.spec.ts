import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineMachine } from '#rsm';
import { assertExplore, envActor, envRequest, explore, formatCoverage, formatTrace, pairCount, simulate, type EnvActorSpec, type SimulationSetup } from '#rsm/testing';
import { Receiver, Sender, recordActivity, type SenderData } from './fixtures/machines.js';

/** Two senders pinging three receivers, with the crash tests' own checks as monitors. */
const pings: SimulationSetup = {
  machines: [Sender, Receiver],
  activities: { record: (input) => recordActivity.run(input as { sender: string; i: number }) as never },
  init: (env) => {
    for (const id of ['r1', 'r2', 'r3']) env.create(Receiver.ref(id), { type: 'Hello' });
    for (const id of ['s1', 's2']) env.create(Sender.ref(id), { type: 'Start', receivers: ['r1', 'r2', 'r3'], count: 12, receiverType: 'Receiver' });
  },
  monitors: [
    {
      name: 'FIFO and exactly once per pair',
      safety: (w) => {
        for (const r of w.ofType('Receiver')) {
          const data = r.data as { violations: string[] };
          if (data.violations.length > 0) return `${r.id}: ${data.violations[0]}`;
        }
        return undefined;
      },
      liveness: (w) => {
        const received = w.ofType('Receiver').reduce((n, r) => n + (r.data as { count: number }).count, 0);
        if (received !== 24) return `received ${received} pings, expected 24`;
        for (const s of w.ofType('Sender')) {
          const data = s.data as SenderData;
          if (data.violations.length > 0) return `${s.id}: ${data.violations[0]}`;
          for (let i = 0; i < data.count; i += 5) if (data.fired[`once-${i}`] !== 1) return `${s.id}: once-${i} fired ${data.fired[`once-${i}`] ?? 0} times`;
        }
        return undefined;
      },
    },
  ],
};

/** A machine that waits for an answer nobody sends: the explorer must report it stuck. */
const Waiter = defineMachine<object, { type: 'Ask' } | { type: 'Answer' }>()({
  type: 'Waiter',
  initial: 'Idle',
  initialData: () => ({}),
  states: { Idle: { on: { Ask: (_d, _e, ctx) => ctx.goto('Waiting') }, targets: { Ask: 'Waiting' } }, Waiting: { on: { Answer: (_d, _e, ctx) => ctx.goto('Done') }, targets: { Answer: 'Done' } }, Done: {} },
});

/** Halts on its second beat, leaving its periodic timer behind: production deletes it with the halt. */
const Beat = defineMachine<{ beats: number }, { type: 'Start' } | { type: 'Timeout'; name: string }>()({
  type: 'Beat',
  initial: 'On',
  initialData: () => ({ beats: 0 }),
  states: {
    On: {
      on: {
        Start: (_d, _e, ctx) => ctx.startTimer('tick', 1_000, { periodMs: 1_000 }),
        Timeout: (d, _e, ctx) => {
          d.beats += 1;
          if (d.beats === 2) ctx.halt();
        },
      },
    },
  },
});

describe('systematic testing simulator', () => {
  it('drops the timers of a machine that halts, as production does: no Timeout into a halted machine', async () => {
    const setup: SimulationSetup = {
      machines: [Beat],
      init: (env) => env.create(Beat.ref('b'), { type: 'Start' }),
      monitors: [{ name: 'no dead letters', safety: (w) => (w.deadLetters.length > 0 ? `dead letter: ${w.deadLetters[0]?.reason ?? ''}` : undefined) }],
    };
    const report = await assertExplore(setup, { runs: 20, seed: 3 });
    assert.equal(report.runs, 20);
  });

  it('keeps exactly-once FIFO delivery, timers and activities through crashes and duplicates', async () => {
    const report = await assertExplore(pings, { runs: 300, seed: 7, crashProbability: 0.2, duplicateProbability: 0.3 });
    assert.equal(report.runs, 300);
  });

  it('replays the same run from the same seed, and a different one from another seed', async () => {
    const a = await simulate(pings, 99, { runs: 1 });
    const b = await simulate(pings, 99, { runs: 1 });
    const c = await simulate(pings, 100, { runs: 1 });
    assert.deepEqual(b.trace, a.trace);
    assert.notDeepEqual(c.trace, a.trace);
    assert.ok(a.trace.some((t) => t.outcome === 'crashed') || c.trace.some((t) => t.outcome === 'crashed'));
  });

  it('drops injected duplicates by their pair sequence', async () => {
    const run = await simulate(pings, 3, { runs: 1, duplicateProbability: 0.5 });
    assert.equal(run.failure, undefined);
    assert.ok(run.trace.some((t) => t.outcome === 'duplicate-dropped'), 'duplicates were injected and dropped');
  });

  it('reports a run that ends with work stuck, with a trace and its seed', async () => {
    const stuck: SimulationSetup = {
      machines: [Waiter],
      init: (env) => env.create(Waiter.ref('w'), { type: 'Ask' }),
      monitors: [{ name: 'every waiter gets its answer', liveness: (w) => (w.get('Waiter', 'w')?.state === 'Done' ? undefined : `w is ${w.get('Waiter', 'w')?.state}`) }],
    };
    const report = await explore(stuck, { runs: 5, seed: 1 });
    assert.equal(report.runsToFirstFailure, 1);
    assert.match(report.failures[0]?.failure ?? '', /every waiter gets its answer": w is Waiting \(nothing left to do: work is stuck\)/);
    await assert.rejects(assertExplore(stuck, { runs: 1, seed: 5 }), /replay with seed 5[\s\S]*Waiter\/w \{"type":"Ask"\} \[Idle -> Waiting\]/);
  });
});

type JobEvents = { type: 'Start' } | { type: 'Next' } | { type: 'Cancel' } | { type: 'Reopen' };

/** A three-step workflow driven by its own `Next` events: each step is a point where the outside world may act. */
const Job = defineMachine<object, JobEvents>()({
  type: 'Job',
  initial: 'Idle',
  initialData: () => ({}),
  states: {
    Idle: { on: { Start: (_d, _e, ctx) => (ctx.goto('Step1'), ctx.send(ctx.self, { type: 'Next' })) }, targets: { Start: 'Step1' } },
    Step1: { on: { Next: (_d, _e, ctx) => (ctx.goto('Step2'), ctx.send(ctx.self, { type: 'Next' })), Cancel: (_d, _e, ctx) => ctx.goto('Cancelled') }, targets: { Next: 'Step2', Cancel: 'Cancelled' } },
    Step2: { on: { Next: (_d, _e, ctx) => (ctx.goto('Step3'), ctx.send(ctx.self, { type: 'Next' })), Cancel: (_d, _e, ctx) => ctx.goto('Cancelled') }, targets: { Next: 'Step3', Cancel: 'Cancelled' } },
    Step3: { on: { Next: (_d, _e, ctx) => ctx.goto('Done'), Cancel: (_d, _e, ctx) => ctx.goto('Cancelled') }, targets: { Next: 'Done', Cancel: 'Cancelled' } },
    Done: { on: { Reopen: (_d, _e, ctx) => ctx.goto('Step1') }, targets: { Reopen: 'Step1' } },
    Cancelled: { on: { Next: () => undefined, Cancel: () => undefined } },
  },
});

const job = Job.ref('j');
const cancelJob = envRequest(job, { type: 'Cancel' });
/** One job, and the given actors. */
const withActors = (...actors: EnvActorSpec[]): SimulationSetup => ({
  machines: [Job],
  init: (env) => {
    env.create(job, { type: 'Start' });
    for (const actor of actors) env.actor(actor);
  },
});

/** A client who may cancel the job at any moment (once), or walk away. */
const client = envActor({
  name: 'client',
  kind: 'client',
  initial: 'Deciding',
  states: { Deciding: [{ name: 'cancel', request: cancelJob, next: 'Gone' }, { name: 'leave', next: 'Gone' }], Gone: [] },
});

describe('environment actors', () => {
  it('act at any point of a workflow: early and late cancels both happen, and the choices are traced', async () => {
    const report = await explore(withActors(client), { runs: 200, seed: 1 });
    assert.equal(report.failures.length, 0);
    for (const state of ['Step1', 'Step2', 'Step3']) assert.ok(pairCount(report.coverage, 'Job', state, 'Cancel') > 0, `a cancel in ${state}`);
    // After Done the cancel is refused (the state does not accept it): the client is answered 409.
    const refused = report.coverage.machines.find((m) => m.type === 'Job')?.refused.map((r) => `${r.state}/${r.event}`) ?? [];
    assert.ok(refused.includes('Done/Cancel'), `a cancel after the job finished is refused: ${refused.join(', ')}`);
    assert.ok(pairCount(report.coverage, 'client', 'Deciding', 'leave') > 0, 'some clients never cancel');
    let late: number | undefined;
    for (let seed = 1; seed <= 200 && late === undefined; seed += 1) {
      const run = await simulate(withActors(client), seed, { runs: 1 });
      if (run.trace.some((t) => t.machine === 'Job/j' && t.event === '{"type":"Cancel"}' && t.from === 'Step3' && t.outcome === 'ok')) late = seed;
    }
    assert.ok(late !== undefined, 'a cancel in the last step within 200 runs');
    const run = await simulate(withActors(client), late, { runs: 1 });
    assert.match(formatTrace(run.trace), /env\s+client cancel \[Deciding -> Gone\] {2}=> send \{"type":"Cancel"\} to Job\/j/);
  });

  it('wait for their guard: an actor that acts only once the job reached its last step never cancels earlier', async () => {
    const late = envActor({
      name: 'late-client',
      kind: 'late-client',
      initial: 'Waiting',
      states: { Waiting: [{ name: 'cancel late', when: (w) => w.get('Job', 'j')?.state === 'Step3', request: cancelJob, next: 'Gone' }], Gone: [] },
    });
    const report = await explore(withActors(late), { runs: 100, seed: 1 });
    assert.equal(pairCount(report.coverage, 'Job', 'Step1', 'Cancel') + pairCount(report.coverage, 'Job', 'Step2', 'Cancel'), 0);
    assert.ok(pairCount(report.coverage, 'Job', 'Step3', 'Cancel') > 0);
    // The guard closes once the job moves on: some runs end with the actor never having acted.
    assert.ok(pairCount(report.coverage, 'late-client', 'Waiting', 'cancel late') < 100);
  });

  it('choose from the seed: a seed replays the same choices, other seeds make others', async () => {
    const fickle = envActor({
      name: 'fickle',
      kind: 'fickle',
      initial: 'On',
      maxActions: 4,
      states: { On: [{ name: 'cancel', request: cancelJob }, { name: 'reopen', request: envRequest(job, { type: 'Reopen' }) }, { name: 'think' }] },
    });
    const moves = (trace: readonly { outcome: string; event: string }[]) => trace.filter((t) => t.outcome === 'env').map((t) => t.event).join(',');
    const a = await simulate(withActors(fickle), 5, { runs: 1 });
    const b = await simulate(withActors(fickle), 5, { runs: 1 });
    assert.deepEqual(b.trace, a.trace);
    const seen = new Set<string>();
    for (let seed = 1; seed <= 20; seed += 1) seen.add(moves((await simulate(withActors(fickle), seed, { runs: 1 })).trace));
    assert.ok(seen.size >= 5, `20 seeds gave ${seen.size} different sequences of moves`);
    // Each enabled move gets chosen, not just the first one listed.
    const made = new Set([...seen].flatMap((sequence) => sequence.split(',')));
    assert.deepEqual([...made].sort(), ['cancel', 'reopen', 'think']);
  });

  it('stop after maxActions, counting refused requests, which are answered, not dead-lettered', async () => {
    const nagger = envActor({ name: 'nagger', initial: 'On', maxActions: 3, states: { On: [{ name: 'reopen', request: envRequest(job, { type: 'Reopen' }) }] } });
    for (let seed = 1; seed <= 20; seed += 1) {
      const run = await simulate(withActors(nagger), seed, { runs: 1, crashProbability: 0 });
      assert.equal(run.trace.filter((t) => t.outcome === 'env').length, 3, formatTrace(run.trace));
      assert.equal(run.world.deadLetters.length, 0);
    }
    const report = await explore(withActors(nagger), { runs: 20, seed: 1 });
    assert.ok(report.coverage.machines[0]?.refused.some((r) => r.event === 'Reopen' && r.count > 0));
    // Without a kind, an actor is left out of the coverage report.
    assert.deepEqual(report.coverage.actors, []);
  });

  it('include scripts: each step retried until its machine accepts it', async () => {
    const setup: SimulationSetup = { machines: [Job], init: (env) => (env.create(job, { type: 'Start' }), env.script('reopener', [{ to: job, event: { type: 'Reopen' } }])) };
    const run = await simulate(setup, 3, { runs: 1, crashProbability: 0 });
    const reopens = run.trace.filter((t) => t.event === '{"type":"Reopen"}');
    assert.deepEqual(reopens.at(-1) && [reopens.at(-1)?.from, reopens.at(-1)?.to, reopens.at(-1)?.outcome], ['Done', 'Step1', 'ok'], formatTrace(run.trace));
    assert.ok(reopens.slice(0, -1).every((t) => t.outcome === 'rejected'));
    assert.equal(run.world.get(job)?.state, 'Step1');
  });

  it('refuse a declaration whose moves go to undeclared states', async () => {
    const broken = { name: 'broken', initial: 'A', states: { A: [{ name: 'go', next: 'B' }] } } as unknown as EnvActorSpec;
    await assert.rejects(simulate(withActors(broken), 1, { runs: 1 }), /environment actor broken: move go of A goes to undeclared state B/);
  });
});

describe('coverage report', () => {
  it('lists every declared pair with its count, and the pairs and transitions no run reached', async () => {
    const report = await explore(withActors(), { runs: 30, seed: 1 });
    const coverage = report.coverage.machines.find((m) => m.type === 'Job');
    assert.ok(coverage !== undefined);
    assert.equal(report.coverage.runs, 30);
    assert.deepEqual(
      coverage.pairs.map((p) => `${p.state}/${p.event}=${p.count}`),
      ['Idle/Start=30', 'Step1/Next=30', 'Step1/Cancel=0', 'Step2/Next=30', 'Step2/Cancel=0', 'Step3/Next=30', 'Step3/Cancel=0', 'Done/Reopen=0', 'Cancelled/Next=0', 'Cancelled/Cancel=0'],
    );
    assert.deepEqual([coverage.reachedPairs, coverage.declaredPairs], [4, 10]);
    assert.deepEqual(coverage.unreached.map((p) => `${p.state}/${p.event}`), ['Step1/Cancel', 'Step2/Cancel', 'Step3/Cancel', 'Done/Reopen', 'Cancelled/Next', 'Cancelled/Cancel']);
    assert.deepEqual([coverage.takenTransitions, coverage.declaredTransitions], [4, 8]);
    assert.deepEqual(
      coverage.transitions.filter((t) => t.declared && t.count === 0).map((t) => `${t.from}-${t.event}->${t.to}`),
      ['Step1-Cancel->Cancelled', 'Step2-Cancel->Cancelled', 'Step3-Cancel->Cancelled', 'Done-Reopen->Step1'],
    );
    const text = formatCoverage(report.coverage);
    assert.match(text, /Job\s+4\/10\s+40%\s+4\/8\s+50%/);
    assert.match(text, /Job never reached: Step1: Cancel; Step2: Cancel; Step3: Cancel; Done: Reopen; Cancelled: Next, Cancel/);
  });

  it('adds up actor moves per kind, with the moves never made', async () => {
    const report = await explore(withActors(client), { runs: 50, seed: 1 });
    const moves = report.coverage.actors.find((a) => a.type === 'client');
    assert.ok(moves !== undefined);
    assert.deepEqual([moves.reachedPairs, moves.declaredPairs], [2, 2]);
    // A cancel the job accepts takes the client to Gone; one it refuses (after Done) leaves it deciding.
    const edges = new Map(moves.transitions.map((t) => [`${t.from}-${t.event}->${t.to}`, t.count]));
    assert.ok((edges.get('Deciding-cancel->Gone') ?? 0) > 0 && (edges.get('Deciding-cancel->Deciding') ?? 0) > 0, JSON.stringify([...edges]));
    assert.equal(pairCount(report.coverage, 'client', 'Deciding', 'cancel') + pairCount(report.coverage, 'client', 'Deciding', 'leave'), moves.pairs.reduce((n, p) => n + p.count, 0));
  });
});

