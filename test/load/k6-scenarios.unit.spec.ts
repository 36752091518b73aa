// The k6 scripts' sizing, ids, outcomes and thresholds, checked without k6: the scripts import the
// same plain modules (load-tests/k6/lib).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliveryRequestSchema } from '#contracts';
import { deliveryId, newRunId, runIdFrom } from '../../load-tests/k6/lib/delivery-ids.js';
import { deliveryEnd, endedAsExpected } from '../../load-tests/k6/lib/delivery-outcome.js';
import { constantArrival, gracefulStopS, longestIterationS, positiveInteger, rampingArrival, share, sharedIterations, vusFor, type IterationTiming } from '../../load-tests/k6/lib/load-profile.js';
import { REQUEST_NAMES, thresholdsFor, type ThresholdPlan } from '../../load-tests/k6/lib/thresholds.js';
import { retryAfterSeconds } from '../../load-tests/k6/lib/retry-after.js';

const timing: IterationTiming = { completionTimeoutS: 120, pollIntervalS: 0.5, requestTimeoutS: 10 };
const seconds = (duration: string) => {
  const match = /^(\d+)s$/.exec(duration);
  assert.ok(match, `"${duration}" is a k6 duration in whole seconds`);
  return Number(match[1]);
};

describe('k6 load profile', () => {
  it('takes the longest iteration as the completion timeout plus one pause and one last poll', () => {
    assert.equal(longestIterationS(timing), 130.5);
    // Three request timeouts before polling outlast a completion timeout shorter than them.
    assert.equal(longestIterationS({ completionTimeoutS: 5, pollIntervalS: 0.5, requestTimeoutS: 10 }), 30);
  });

  it('pre-allocates VUs for the expected iteration time (Little\'s law), not a fixed multiple of the rate', () => {
    // The issue's run: 10/s with iterations of 8-17 s needed ~100 VUs; rate * 4 = 40 dropped arrivals.
    const { preAllocatedVUs } = vusFor(10, 20, timing);
    assert.equal(preAllocatedVUs, 200);
  });

  it('allows as many VUs as iterations that all run to the completion timeout', () => {
    const { maxVUs } = vusFor(20, 20, timing);
    assert.equal(maxVUs, Math.ceil(20 * 130.5));
    assert.ok(maxVUs >= 20 * timing.completionTimeoutS, `${maxVUs} VUs cover 20/s for the whole 120 s timeout`);
  });

  it('never pre-allocates more than the maximum, nor zero', () => {
    const short: IterationTiming = { completionTimeoutS: 2, pollIntervalS: 0.5, requestTimeoutS: 1 };
    assert.deepEqual(vusFor(1, 60, short), { preAllocatedVUs: 4, maxVUs: 4 });
    assert.equal(vusFor(1, 0, timing).preAllocatedVUs, 1);
  });

  it('lets running iterations finish after the scenario ends: gracefulStop outlasts the longest iteration', () => {
    assert.ok(gracefulStopS(timing) > longestIterationS(timing));
    const constant = constantArrival({ rate: 10, duration: '30s', expectedIterationS: 20, timing });
    const ramping = rampingArrival({ rate: 10, duration: '30s', expectedIterationS: 20, timing });
    for (const scenario of [constant, ramping]) assert.ok(seconds(scenario.gracefulStop) > timing.completionTimeoutS + timing.requestTimeoutS, scenario.executor);
    // k6's default is 30 s: shorter than the 120 s completion timeout, the issue's false "no loss".
    assert.ok(seconds(constant.gracefulStop) > 30);
  });

  it('builds the arrival-rate scenarios with the sizing and the rate', () => {
    const constant = constantArrival({ rate: 7, duration: '2m', expectedIterationS: 20, timing });
    assert.deepEqual({ ...constant, gracefulStop: undefined }, { executor: 'constant-arrival-rate', rate: 7, timeUnit: '1s', duration: '2m', ...vusFor(7, 20, timing), gracefulStop: undefined });
    const ramping = rampingArrival({ rate: 7, duration: '2m', expectedIterationS: 20, timing });
    assert.deepEqual(ramping.stages, [
      { target: 7, duration: '2m' },
      { target: 7, duration: '2m' },
    ]);
    assert.equal(ramping.maxVUs, vusFor(7, 20, timing).maxVUs);
  });

  it('gives shared iterations time to run every round to its timeout', () => {
    const smoke = sharedIterations(2, 5, timing);
    // 5 iterations on 2 VUs: 3 rounds, each possibly a whole longest iteration.
    assert.ok(seconds(smoke.maxDuration) >= 3 * longestIterationS(timing), smoke.maxDuration);
    assert.ok(seconds(smoke.gracefulStop) > longestIterationS(timing));
  });

  it('refuses a rate or share that is not one, instead of sizing from NaN', () => {
    assert.equal(positiveInteger('RATE', undefined, 20), 20);
    assert.equal(positiveInteger('RATE', '15', 20), 15);
    for (const bad of ['2O', '0', '-3', '1.5']) assert.throws(() => positiveInteger('RATE', bad, 20), /RATE must be a positive whole number/);
    assert.equal(share('CANCEL_SHARE', '0', 0.05), 0);
    assert.throws(() => share('CANCEL_SHARE', '5', 0.05), /between 0 and 1/);
  });
});

describe('k6 delivery ids', () => {
  it('puts the run id in every id, so a second run never reuses the first run\'s ids', () => {
    const first = newRunId(Date.UTC(2026, 0, 1), 0.25);
    const second = newRunId(Date.UTC(2026, 0, 1, 0, 5), 0.25);
    assert.notEqual(first, second);
    assert.notEqual(deliveryId('tp', first, 0), deliveryId('tp', second, 0));
    assert.ok(deliveryId('tp', first, 0).includes(first));
  });

  it('tells apart runs started in the same millisecond by their random part', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.notEqual(newRunId(now, 0.1), newRunId(now, 0.9));
    assert.match(newRunId(now, 0), /^[a-z0-9]+0000$/);
  });

  it('makes ids intake accepts, with the package id derived from them, up to the longest run', () => {
    const longest = deliveryId('chaos', 'z'.repeat(20), 9_999_999_999);
    const body = {
      deliveryId: longest,
      ownerId: 'o',
      pickupLocation: 'Seattle',
      dropOffLocation: 'Redmond',
      pickupTime: new Date().toISOString(),
      deadline: new Date(Date.now() + 1_800_000).toISOString(),
      expedited: false,
      confirmationRequired: 'None',
      packageInfo: { packageId: `pkg-${longest}`, size: 'Small', weight: 2, tag: 'k6' },
    };
    const parsed = deliveryRequestSchema.safeParse(body);
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  });

  it('refuses to make an id intake would answer with a 400', () => {
    assert.throws(() => deliveryId('my run', 'abc', 1), /not a valid delivery id/);
    assert.throws(() => deliveryId('x'.repeat(40), 'y'.repeat(20), 1), /not a valid delivery id/);
  });

  it('takes RUN_ID when given and checks it', () => {
    assert.equal(runIdFrom('rerun7', 0, 0.5), 'rerun7');
    assert.equal(runIdFrom(undefined, 1_000, 0.5), newRunId(1_000, 0.5));
    assert.throws(() => runIdFrom('Run-7', 0, 0.5), /RUN_ID/);
  });
});

describe('k6 delivery outcome', () => {
  it('reads only the three end states as an end', () => {
    assert.equal(deliveryEnd('Completed'), 'completed');
    assert.equal(deliveryEnd('Cancelled'), 'cancelled');
    assert.equal(deliveryEnd('Failed'), 'failed');
    for (const running of ['', 'Received', 'Airborne', 'Cancelling', 'Compensating']) assert.equal(deliveryEnd(running), undefined, running);
  });

  it('expects Cancelled only when the client asked, and Completed either way (a late cancel is refused)', () => {
    assert.equal(endedAsExpected('completed', false), true);
    assert.equal(endedAsExpected('completed', true), true);
    assert.equal(endedAsExpected('cancelled', true), true);
    assert.equal(endedAsExpected('cancelled', false), false);
    assert.equal(endedAsExpected('failed', true), false);
  });
});

describe('k6 thresholds', () => {
  const plans: ThresholdPlan[] = [
    { kind: 'smoke', scenario: 'smoke', arrivalRate: false, iterations: 5 },
    { kind: 'throughput', scenario: 'deliveries', arrivalRate: true },
    { kind: 'soak', scenario: 'soak', arrivalRate: true },
    { kind: 'chaos', scenario: 'chaos', arrivalRate: true },
  ];

  it('fails every run that leaves an accepted delivery unfinished', () => {
    for (const plan of plans) assert.deepEqual(thresholdsFor(plan).deliveries_unfinished, ['count==0'], plan.kind);
  });

  it('fails every arrival-rate run that drops an arrival, on its own scenario', () => {
    for (const plan of plans.filter((p) => p.arrivalRate)) assert.deepEqual(thresholdsFor(plan)[`dropped_iterations{scenario:${plan.scenario}}`], ['count==0'], plan.kind);
    assert.equal(Object.keys(thresholdsFor(plans[0] as ThresholdPlan)).filter((k) => k.startsWith('dropped_iterations')).length, 0);
  });

  it('holds real request failures to (almost) none outside chaos, where polls\' 404s are not failures', () => {
    assert.deepEqual(thresholdsFor(plans[0] as ThresholdPlan).http_req_failed, ['rate==0']);
    assert.deepEqual(thresholdsFor(plans[1] as ThresholdPlan).http_req_failed, ['rate<0.001']);
    assert.deepEqual(thresholdsFor(plans[2] as ThresholdPlan).http_req_failed, ['rate<0.001']);
    assert.equal(thresholdsFor(plans[3] as ThresholdPlan).http_req_failed, undefined, 'apps restart under chaos');
  });

  it('judges smoke by deliveries ending as asked, so a drawn cancel does not fail it', () => {
    const smoke = thresholdsFor(plans[0] as ThresholdPlan);
    assert.deepEqual(smoke.deliveries_accepted, ['count==5']);
    assert.deepEqual(smoke.deliveries_as_expected, ['rate==1']);
    assert.equal(smoke.deliveries_completed, undefined, 'a count of completions fails when two of five draw a cancel');
    assert.throws(() => thresholdsFor({ kind: 'smoke', scenario: 'smoke', arrivalRate: false }), /iteration count/);
  });

  it('names a sub-metric per request kind, so the summary can show each', () => {
    const chaos = thresholdsFor(plans[3] as ThresholdPlan);
    for (const name of REQUEST_NAMES) {
      assert.ok(`http_req_duration{name:${name}}` in chaos, name);
      assert.ok(`http_req_failed{name:${name}}` in chaos, name);
    }
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  it('waits the seconds or until the date a 429 names, within 0.1-30 s, and 1 s when it names nothing readable', () => {
    assert.equal(retryAfterSeconds('3', now), 3);
    assert.equal(retryAfterSeconds(' 2 ', now), 2);
    assert.equal(retryAfterSeconds('0', now), 0.1, 'never a busy loop');
    assert.equal(retryAfterSeconds('3600', now), 30, 'never stalls a client for an hour');
    assert.equal(retryAfterSeconds('Sat, 28 Nov 2026 10:00:05 GMT', now), 5);
    assert.equal(retryAfterSeconds('Sat, 28 Nov 2026 09:00:00 GMT', now), 0.1, 'a date in the past: retry at once');
    assert.equal(retryAfterSeconds(undefined, now), 1);
    assert.equal(retryAfterSeconds('soon', now), 1);
    assert.equal(retryAfterSeconds('-5', now, 2), 2);
  });
});
