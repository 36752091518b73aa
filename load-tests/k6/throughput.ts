// Deliveries arriving at RATE per second (constant), or ramping to it (RAMP=1), each followed to
// the end: accepted, completed, end-to-end latency, and acceptance latency per request.
import type { Options } from 'k6/options';
import { DURATION, RATE, vusFor } from './lib/config.ts';
import { deliveryIteration, healthGate, summaryFiles } from './lib/deliveries.ts';

const ramp = __ENV.RAMP === '1';

export const options: Options = {
  scenarios: {
    deliveries: ramp
      ? { executor: 'ramping-arrival-rate', startRate: 1, timeUnit: '1s', stages: [{ target: RATE, duration: DURATION }, { target: RATE, duration: DURATION }], ...vusFor(RATE) }
      : { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION, ...vusFor(RATE) },
  },
  thresholds: {
    'http_req_duration{name:submit}': ['p(99)<200'],
    'checks{check:submit: 202}': ['rate>0.999'],
    deliveries_unfinished: ['count==0'],
    dropped_iterations: ['count==0'],
  },
};

export function setup(): void {
  healthGate();
}

export default function (): void {
  deliveryIteration('tp', true);
}

export function handleSummary(data: object): Record<string, string> {
  return summaryFiles('throughput', data);
}
