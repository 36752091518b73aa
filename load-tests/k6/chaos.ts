// The throughput scenario, meant to run while pods are killed (npm run chaos kills them). Requests
// may fail while an app restarts; what must never happen is an accepted delivery that does not
// finish: every 202 ends Completed, Cancelled or Failed by the end.
import type { Options } from 'k6/options';
import { DURATION, RATE, vusFor } from './lib/config.ts';
import { deliveryIteration, healthGate, summaryFiles } from './lib/deliveries.ts';

export const options: Options = {
  scenarios: { chaos: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION, ...vusFor(RATE) } },
  thresholds: {
    deliveries_unfinished: ['count==0'],
    deliveries_accepted: ['count>0'],
  },
};

export function setup(): void {
  healthGate();
}

export default function (): void {
  deliveryIteration('chaos', true);
}

export function handleSummary(data: object): Record<string, string> {
  return summaryFiles('chaos', data);
}
