import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REPORTED_LAG_MS } from '../src/core/messages.js';
import { LoadMonitor, MAX_LOAD_ENTRIES } from '../src/runtime/load-monitor.js';

/** A monitor on a clock the test moves. */
function monitor(service = 'a', windowMs = 2_000, staleAfterMs = 5_000) {
  const clock = { now: 1_000_000 };
  const m = new LoadMonitor(service, windowMs, staleAfterMs, () => clock.now);
  // Up for a minute: waits count at most from the start (see the restart test).
  clock.now += 60_000;
  return { clock, m };
}

describe('LoadMonitor: how far behind a service and those downstream are', () => {
  it('takes the p90 of the waits of events handled within the window, and 0 when idle', () => {
    const { clock, m } = monitor();
    assert.equal(m.ownLagMs(), 0);
    for (let i = 1; i <= 100; i += 1) m.observe(i * 10);
    clock.now += 101; // the figure is recomputed at most every 100 ms
    assert.equal(m.ownLagMs(), 910, 'p90 of 10..1000 ms');
    clock.now += 1_900;
    assert.equal(m.ownLagMs(), 0, 'samples older than the window no longer count');
    m.observe(-5);
    clock.now += 101;
    assert.equal(m.ownLagMs(), 0, 'a clock step backwards is not a negative wait');
  });

  it('counts work a machine holds in its data (ctx.backlog) as lag, until it is reported empty or lapses', () => {
    const { clock, m } = monitor();
    for (let i = 0; i < 10; i += 1) m.observe(50);
    m.backlog('Fleet/fleet', 2_500);
    assert.equal(m.ownLagMs(), 2_500, 'the queue is older than the inbox waits');
    m.backlog('Other/x', 900);
    m.backlog('Fleet/fleet', 0);
    assert.equal(m.ownLagMs(), 900, 'an empty queue stops counting at once (the cache does not keep the old figure)');
    clock.now += 2_001;
    assert.equal(m.ownLagMs(), 0, 'a figure not renewed within the window lapses');
    for (let i = 0; i < 5_000; i += 1) m.backlog(`Q/${i}`, i + 1);
    clock.now += 101;
    assert.equal(m.ownLagMs(), 5_000, 'the newest reports are kept');
    m.backlog('Q/4999', 0);
    assert.equal(m.ownLagMs(), 4_999);
    for (let i = 3_900; i < 4_999; i += 1) m.backlog(`Q/${i}`, 0);
    assert.equal(m.ownLagMs(), 0, 'at most 1,024 machines are held: older ones were dropped');
  });

  it("counts the wait of the oldest caller's event not yet taken by a transaction, at once, so a burst is refused before its deadlines pass", () => {
    const { clock, m } = monitor();
    for (let i = 0; i < 10; i += 1) m.observe(20);
    let oldest: number | undefined = clock.now - 3_500;
    m.watchIntake(() => oldest);
    assert.equal(m.ownLagMs(), 3_500, 'no event of the burst is handled yet; its oldest has waited 3.5 s');
    assert.equal(m.admit(3_000, 1_000).admitted, false);
    oldest = undefined;
    assert.equal(m.ownLagMs(), 20, 'none waits: the handled waits again');
    assert.equal(m.admit(3_000, 1_000).admitted, true);
    // A restart: callers that waited while it was down count from the start.
    oldest = clock.now - 3_500;
    m.started();
    clock.now += 1_000;
    assert.equal(m.ownLagMs(), 1_000);
    oldest = clock.now + 5_000; // a wall clock stepped back
    assert.equal(m.ownLagMs(), 20, 'a wait from the future counts as none');
  });

  it('reports at most a day of lag, the most a receiver reads (more made every acknowledgement unreadable)', () => {
    const { clock, m } = monitor('drone-scheduler');
    clock.now += 3 * 86_400_000;
    m.backlog('Fleet/fleet', 2 * 86_400_000); // a REST booking queued for two days
    assert.ok(m.ownLagMs() > MAX_REPORTED_LAG_MS);
    assert.equal(m.report()['drone-scheduler']?.lagMs, MAX_REPORTED_LAG_MS);
  });

  it('reports its own lag with the fresh reports it holds, and the largest of them is the view', () => {
    const { clock, m } = monitor('ingestion');
    for (let i = 0; i < 10; i += 1) m.observe(100);
    m.merge({ workflow: { lagMs: 1_500, at: clock.now - 1_000 }, delivery: { lagMs: 300, at: clock.now } });
    const view = m.view();
    assert.equal(view.lagMs, 1_500);
    assert.equal(view.source, 'workflow');
    assert.deepEqual(Object.keys(view.services).sort(), ['delivery', 'ingestion', 'workflow']);
    assert.equal(view.services.ingestion?.lagMs, 100);
    clock.now += 4_001;
    assert.equal(m.view().source, 'delivery', 'the workflow figure went stale first');
    clock.now += 1_001;
    assert.deepEqual(Object.keys(m.view().services), ['ingestion'], 'stale reports are dropped');
    assert.equal(m.view().lagMs, 0, 'own samples are past the window too');
  });

  it('keeps the newest figure per service, and never lets a cycle keep an old figure alive', () => {
    const a = monitor('a');
    const b = monitor('b');
    a.clock.now = b.clock.now;
    for (let i = 0; i < 10; i += 1) a.m.observe(3_000);
    // a is behind; b hears of it, and a hears it back from b: the figure keeps its origin time.
    b.m.merge(a.m.report());
    a.m.merge(b.m.report());
    assert.equal(a.m.view().lagMs, 3_000);
    // Both recover: a's own samples age out, and the echo from b expires at the origin time.
    for (const x of [a, b]) x.clock.now += 2_500;
    b.m.merge(a.m.report());
    a.m.merge(b.m.report());
    assert.equal(b.m.view().services.a?.lagMs, 0, 'b holds a newer report of a, not the echo');
    for (const x of [a, b]) x.clock.now += 3_000;
    a.m.merge(b.m.report());
    b.m.merge(a.m.report());
    assert.equal(a.m.view().lagMs, 0);
    assert.equal(b.m.view().lagMs, 0);
    // An older figure never replaces a newer one.
    a.m.merge({ c: { lagMs: 10, at: a.clock.now } });
    a.m.merge({ c: { lagMs: 9_999, at: a.clock.now - 100 } });
    assert.equal(a.m.view().services.c?.lagMs, 10);
    // Nobody reports for this service itself.
    a.m.merge({ a: { lagMs: 9_999, at: a.clock.now } });
    assert.equal(a.m.view().lagMs, 10);
  });

  it('dates a figure from the future no later than its arrival, so it goes stale like any other', () => {
    const { clock, m } = monitor('ingestion');
    m.merge({ delivery: { lagMs: 9_000, at: clock.now + 3_600_000 } });
    assert.equal(m.view().lagMs, 9_000);
    clock.now += 1_000;
    m.merge({ delivery: { lagMs: 100, at: clock.now } });
    assert.equal(m.view().lagMs, 100, 'a true figure measured later replaces it');
    clock.now += 1;
    m.merge({ delivery: { lagMs: 9_000, at: clock.now + 3_600_000 } });
    assert.equal(m.view().lagMs, 9_000);
    clock.now += 5_001;
    assert.equal(m.view().lagMs, 0, 'stale staleAfterMs after it arrived, not an hour later');
  });

  it('holds at most a bounded number of services, however many a peer names', () => {
    const { clock, m } = monitor();
    const flood = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`s${i}`, { lagMs: i, at: clock.now - 500 + i }]));
    m.merge(flood);
    const services = Object.keys(m.report());
    assert.equal(services.length, MAX_LOAD_ENTRIES + 1, 'the newest 64 and itself');
    assert.ok(services.includes('s499') && !services.includes('s0'));
  });

  it('refuses while a report is over the limit, but lets one item through per probe interval while that report is not renewed', () => {
    const { clock, m } = monitor('ingestion');
    const decide = () => m.admit(3_000, 1_000);
    assert.deepEqual({ ...decide(), view: undefined }, { admitted: true, probe: false, view: undefined }, 'nothing is behind');
    const first = clock.now;
    m.merge({ delivery: { lagMs: 4_000, at: first } });
    assert.equal(decide().admitted, false);
    assert.equal(decide().view.source, 'delivery');
    clock.now += 999;
    assert.equal(decide().admitted, false, 'the report is still recent');
    clock.now += 1;
    assert.deepEqual([decide().probe, decide().admitted], [true, false], 'one probe, then refused again');
    clock.now += 500;
    m.merge({ delivery: { lagMs: 4_000, at: first } });
    clock.now += 499;
    assert.equal(decide().admitted, false, 'the probe interval counts from the last probe');
    clock.now += 1;
    assert.equal(decide().probe, true, 'the same figure echoed back is no news: probe again');
    m.merge({ delivery: { lagMs: 3_500, at: clock.now } });
    clock.now += 999;
    assert.equal(decide().admitted, false, 'a newer figure, still over the limit, renews the refusal');
    m.merge({ delivery: { lagMs: 200, at: clock.now } });
    assert.deepEqual([decide().admitted, decide().probe], [true, false], 'the probe brought back news of recovery');
  });

  it('does not probe while any figure over the limit is fresh: its own, or another downstream one', () => {
    const { clock, m } = monitor('ingestion');
    for (let i = 0; i < 10; i += 1) m.observe(3_500);
    m.merge({ delivery: { lagMs: 5_000, at: clock.now } });
    clock.now += 1_000;
    assert.equal(m.admit(3_000, 1_000).view.source, 'delivery');
    assert.equal(m.admit(3_000, 1_000).admitted, false, 'the largest figure went quiet, but this service is over the limit itself');
    const other = monitor('ingestion');
    other.m.merge({ delivery: { lagMs: 5_000, at: other.clock.now } });
    other.clock.now += 900;
    other.m.merge({ workflow: { lagMs: 3_500, at: other.clock.now } });
    other.clock.now += 100;
    assert.equal(other.m.admit(3_000, 1_000).admitted, false, 'workflow is over the limit and was renewed 100 ms ago');
    other.clock.now += 900;
    assert.equal(other.m.admit(3_000, 1_000).probe, true, 'both quiet for a probe interval');
  });

  it('never probes past its own lag: that figure is always fresh', () => {
    const { clock, m } = monitor('ingestion');
    for (let i = 0; i < 10; i += 1) m.observe(5_000);
    for (let i = 0; i < 4; i += 1) {
      clock.now += 400;
      assert.equal(m.admit(3_000, 1_000).admitted, false);
    }
  });

  it('counts a wait at most from the (re)start: a backlog left by the downtime is not overload', () => {
    const { clock, m } = monitor('delivery');
    m.started();
    clock.now += 500;
    for (let i = 0; i < 10; i += 1) m.observe(4_000);
    m.backlog('Fleet/fleet', 9_000);
    clock.now += 101;
    assert.equal(m.ownLagMs(), 500, 'waits of events queued while it was down count from the start only');
    clock.now += 10_000;
    for (let i = 0; i < 10; i += 1) m.observe(4_000);
    m.backlog('Fleet/fleet', 9_000);
    clock.now += 101;
    assert.equal(m.ownLagMs(), 9_000, 'up longer than the waits: they count whole, so a service that cannot keep up is still seen');
  });
});
