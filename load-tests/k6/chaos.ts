// The throughput scenario, meant to run while pods are killed (npm run chaos kills them). Requests
// may fail while an app restarts; what must never happen is an accepted delivery that does not
// end: every 202 ends Completed, Cancelled or Failed before the run is over.
import type { Options } from 'k6/options';
import { DURATION, EXPECTED_ITERATION_S, RATE, TIMING } from './lib/config.ts';
import { deliveryIteration, setupRun, summaryFiles, type RunData } from './lib/deliveries.ts';
import { constantArrival } from './lib/load-profile.ts';
import { TREND_STATS, type SummaryData } from './lib/summary-text.ts';
import { thresholdsFor } from './lib/thresholds.ts';

export const options: Options = {
  scenarios: { chaos: constantArrival({ rate: RATE, duration: DURATION, expectedIterationS: EXPECTED_ITERATION_S, timing: TIMING }) },
  thresholds: thresholdsFor({ kind: 'chaos', scenario: 'chaos', arrivalRate: true }),
  summaryTrendStats: TREND_STATS,
};

export function setup(): RunData {
  return setupRun();
}

export default function (run: RunData): void {
  deliveryIteration('chaos', run);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryFiles('chaos', data);
}
