import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { BASE_URLS, CANCEL_SHARE, COMPLETION_TIMEOUT_S, DUPLICATE_SHARE } from './config.ts';

export const accepted = new Counter('deliveries_accepted');
export const completed = new Counter('deliveries_completed');
export const cancelled = new Counter('deliveries_cancelled');
export const failed = new Counter('deliveries_failed');
/** Accepted deliveries that did not finish (Completed, Cancelled or Failed) in time: "lost". */
export const unfinished = new Counter('deliveries_unfinished');
export const endToEnd = new Trend('delivery_e2e_latency', true);

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Fails the run at once if any service is not ready: no load against a broken stack. */
export function healthGate(): void {
  for (const [name, url] of Object.entries(BASE_URLS)) {
    const response = http.get(`${url}/health/ready`);
    if (response.status !== 200) fail(`${name} is not ready at ${url}: ${response.status}`);
  }
}

export function deliveryRequest(id: string): object {
  const now = Date.now();
  return {
    deliveryId: id,
    ownerId: `owner-${id.length % 7}`,
    pickupLocation: 'Seattle',
    dropOffLocation: 'Redmond',
    pickupTime: new Date(now).toISOString(),
    deadline: new Date(now + 30 * 60_000).toISOString(),
    expedited: false,
    confirmationRequired: 'None',
    packageInfo: { packageId: `pkg-${id}`, size: 'Small', weight: 2, tag: 'k6' },
  };
}

/** Submits one delivery (sometimes twice, sometimes cancelled), then waits for it to finish. */
export function deliveryIteration(prefix: string, waitForEnd: boolean): void {
  const id = `${prefix}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const body = JSON.stringify(deliveryRequest(id));
  const started = Date.now();
  const response = http.post(`${BASE_URLS.ingestion}/api/deliveryrequests`, body, { headers: JSON_HEADERS, tags: { name: 'submit' } });
  if (!check(response, { 'submit: 202': (r) => r.status === 202 })) return;
  accepted.add(1);
  if (Math.random() < DUPLICATE_SHARE) {
    const again = http.post(`${BASE_URLS.ingestion}/api/deliveryrequests`, body, { headers: JSON_HEADERS, tags: { name: 'duplicate' } });
    check(again, { 'duplicate: same 202, nothing created': (r) => r.status === 202 && (r.json('created') as boolean) === false });
  }
  if (Math.random() < CANCEL_SHARE) http.del(`${BASE_URLS.ingestion}/api/deliveryrequests/${id}`, null, { tags: { name: 'cancel' } });
  if (!waitForEnd) return;
  const deadline = started + COMPLETION_TIMEOUT_S * 1_000;
  while (Date.now() < deadline) {
    sleep(0.5);
    const saga = http.get(`${BASE_URLS.workflow}/api/workflows/${id}`, { tags: { name: 'poll' } });
    const state = saga.status === 200 ? (saga.json('state') as string) : '';
    if (state === 'Completed') {
      completed.add(1);
      endToEnd.add(Date.now() - started);
      return;
    }
    if (state === 'Cancelled') return void cancelled.add(1);
    if (state === 'Failed') return void failed.add(1);
  }
  unfinished.add(1);
}

/** `handleSummary`: the JSON summary next to the default text. */
export function summaryFiles(name: string, data: object): Record<string, string> {
  return { [`${__ENV.SUMMARY_DIR ?? '.'}/${name}-summary.json`]: JSON.stringify(data, null, 2) };
}
