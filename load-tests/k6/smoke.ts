// A few deliveries to completion: is the stack alive end to end?
import type { Options } from 'k6/options';
import { deliveryIteration, healthGate, summaryFiles } from './lib/deliveries.ts';

export const options: Options = {
  scenarios: { smoke: { executor: 'shared-iterations', vus: 2, iterations: 5, maxDuration: '3m' } },
  thresholds: {
    checks: ['rate==1'],
    deliveries_completed: ['count>=4'],
    deliveries_unfinished: ['count==0'],
    'http_req_duration{name:submit}': ['p(99)<500'],
  },
};

export function setup(): void {
  healthGate();
}

export default function (): void {
  deliveryIteration('smoke', true);
}

export function handleSummary(data: object): Record<string, string> {
  return summaryFiles('smoke', data);
}
