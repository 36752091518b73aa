// A steady, moderate rate for a long time (DURATION, e.g. 2h): memory, queues and latency must stay flat.
import type { Options } from 'k6/options';
import { DURATION, RATE, vusFor } from './lib/config.ts';
import { deliveryIteration, healthGate, summaryFiles } from './lib/deliveries.ts';

export const options: Options = {
  scenarios: { soak: { executor: 'constant-arrival-rate', rate: Math.max(1, Math.floor(RATE / 2)), timeUnit: '1s', duration: DURATION, ...vusFor(RATE) } },
  thresholds: {
    'http_req_duration{name:submit}': ['p(99)<200'],
    deliveries_unfinished: ['count==0'],
    checks: ['rate>0.999'],
  },
};

export function setup(): void {
  healthGate();
}

export default function (): void {
  deliveryIteration('soak', true);
}

export function handleSummary(data: object): Record<string, string> {
  return summaryFiles('soak', data);
}
