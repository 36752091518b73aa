// The pass/fail criteria of each k6 script, as plain data shared by the scripts and the Node tests.
// The metric names are those lib/deliveries.ts records; README "Load and chaos" says what each means.

export type ScriptKind = 'smoke' | 'throughput' | 'soak' | 'chaos';

/** The `name` tag of each request an iteration makes; each gets its own line in the summary. */
export const REQUEST_NAMES = ['submit', 'duplicate', 'cancel', 'poll'] as const;

export interface ThresholdPlan {
  readonly kind: ScriptKind;
  /** The scenario's name in `options.scenarios`. */
  readonly scenario: string;
  /** An arrival-rate executor: k6 drops arrivals when it runs out of VUs. */
  readonly arrivalRate: boolean;
  /** Smoke only: how many iterations run, each of which must be accepted. */
  readonly iterations?: number;
}

export type Thresholds = Record<string, string[]>;

/**
 * Sub-metrics with no criteria: k6 keeps a sub-metric (and so the summary shows it) only when a
 * threshold names it. `http_req_failed` counts only real failures: polls declare 404 (no saga
 * yet) an expected answer, so a failed poll is a 5xx, a timeout or a refused connection.
 */
function perRequest(): Thresholds {
  const shown: Thresholds = {};
  for (const name of REQUEST_NAMES) {
    shown[`http_req_duration{name:${name}}`] = [];
    shown[`http_req_failed{name:${name}}`] = [];
  }
  return shown;
}

export function thresholdsFor(p: ThresholdPlan): Thresholds {
  const t: Thresholds = {
    ...perRequest(),
    // +1 when a delivery is accepted, -1 when it ends: an iteration cut off or timed out leaves its +1.
    deliveries_unfinished: ['count==0'],
  };
  // A dropped arrival is load the run claims but never sent.
  if (p.arrivalRate) t[`dropped_iterations{scenario:${p.scenario}}`] = ['count==0'];
  switch (p.kind) {
    case 'smoke':
      if (p.iterations === undefined) throw new Error('a smoke plan needs its iteration count');
      t.checks = ['rate==1'];
      t.http_req_failed = ['rate==0'];
      t.deliveries_accepted = [`count==${p.iterations}`];
      t.deliveries_as_expected = ['rate==1'];
      t['http_req_duration{name:submit}'] = ['p(99)<500'];
      return t;
    case 'throughput':
    case 'soak':
      t.checks = ['rate>0.999'];
      t.http_req_failed = ['rate<0.001'];
      t.deliveries_as_expected = ['rate>0.999'];
      t['http_req_duration{name:submit}'] = ['p(99)<200'];
      return t;
    case 'chaos':
      // Requests fail while an app restarts (the summary shows how many); what must hold is that
      // every accepted delivery ends.
      t.deliveries_accepted = ['count>0'];
      return t;
  }
}
