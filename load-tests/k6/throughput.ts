// Deliveries arriving at RATE per second (constant), or ramping to it (RAMP=1), each followed to
// the end: accepted, completed, end-to-end latency, and acceptance latency per request.
import type { Options } from 'k6/options';
import { DURATION, EXPECTED_ITERATION_S, RATE, TIMING } from './lib/config.ts';
import { deliveryIteration, setupRun, summaryFiles, type RunData } from './lib/deliveries.ts';
import { constantArrival, rampingArrival } from './lib/load-profile.ts';
import { TREND_STATS, type SummaryData } from './lib/summary-text.ts';
import { thresholdsFor } from './lib/thresholds.ts';

const profile = { rate: RATE, duration: DURATION, expectedIterationS: EXPECTED_ITERATION_S, timing: TIMING };

export const options: Options = {
  scenarios: { deliveries: __ENV.RAMP === '1' ? rampingArrival(profile) : constantArrival(profile) },
  thresholds: thresholdsFor({ kind: 'throughput', scenario: 'deliveries', arrivalRate: true }),
  summaryTrendStats: TREND_STATS,
};

export function setup(): RunData {
  return setupRun();
}

export default function (run: RunData): void {
  deliveryIteration('tp', run);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryFiles('throughput', data);
}
