// A steady, moderate rate (half of RATE) for a long time (DURATION, e.g. 2h): memory, queues and
// latency must stay flat.
import type { Options } from 'k6/options';
import { DURATION, EXPECTED_ITERATION_S, RATE, TIMING } from './lib/config.ts';
import { deliveryIteration, setupRun, summaryFiles, type RunData } from './lib/deliveries.ts';
import { constantArrival } from './lib/load-profile.ts';
import { TREND_STATS, type SummaryData } from './lib/summary-text.ts';
import { thresholdsFor } from './lib/thresholds.ts';

export const options: Options = {
  scenarios: { soak: constantArrival({ rate: Math.max(1, Math.floor(RATE / 2)), duration: DURATION, expectedIterationS: EXPECTED_ITERATION_S, timing: TIMING }) },
  thresholds: thresholdsFor({ kind: 'soak', scenario: 'soak', arrivalRate: true }),
  summaryTrendStats: TREND_STATS,
};

export function setup(): RunData {
  return setupRun();
}

export default function (run: RunData): void {
  deliveryIteration('soak', run);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryFiles('soak', data);
}
