// A few deliveries to completion: is the stack alive end to end? Every one must be accepted and end
// as asked (Completed, or Cancelled when the iteration drew a cancel), with no request failing.
import type { Options } from 'k6/options';
import { TIMING } from './lib/config.ts';
import { deliveryIteration, setupRun, summaryFiles, type RunData } from './lib/deliveries.ts';
import { sharedIterations } from './lib/load-profile.ts';
import { TREND_STATS, type SummaryData } from './lib/summary-text.ts';
import { thresholdsFor } from './lib/thresholds.ts';

const ITERATIONS = 5;

export const options: Options = {
  scenarios: { smoke: sharedIterations(2, ITERATIONS, TIMING) },
  thresholds: thresholdsFor({ kind: 'smoke', scenario: 'smoke', arrivalRate: false, iterations: ITERATIONS }),
  summaryTrendStats: TREND_STATS,
};

export function setup(): RunData {
  return setupRun();
}

export default function (run: RunData): void {
  deliveryIteration('smoke', run);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryFiles('smoke', data);
}
