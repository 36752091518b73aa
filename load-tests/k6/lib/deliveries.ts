// One delivery iteration and the metrics it records: the k6 side of the scripts (k6 modules and
// __ENV). What can be checked without k6 is in the plain modules it imports.
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import { API_KEY, BASE_URLS, CANCEL_SHARE, DUPLICATE_SHARE, GIVEN_RUN_ID, SUMMARY_DIR, TIMING } from './config.ts';
import { deliveryId, runIdFrom } from './delivery-ids.ts';
import { deliveryEnd, endedAsExpected } from './delivery-outcome.ts';
import { retryAfterSeconds } from './retry-after.ts';
import { summaryText, type SummaryData } from './summary-text.ts';
import { REQUEST_NAMES } from './thresholds.ts';

export const accepted = new Counter('deliveries_accepted');
export const completed = new Counter('deliveries_completed');
export const cancelled = new Counter('deliveries_cancelled');
export const failed = new Counter('deliveries_failed');
/**
 * Accepted deliveries not ended: +1 when a submit is accepted, -1 when the delivery ends. One that
 * times out keeps its +1, and so does an iteration k6 cuts off at the end of the run: an iteration
 * that never returns cannot count itself afterwards, so it counts itself up front.
 */
export const unfinished = new Counter('deliveries_unfinished');
/** Per ended delivery: Completed, or Cancelled after the client asked to cancel. */
export const asExpected = new Rate('deliveries_as_expected');
export const endToEnd = new Trend('delivery_e2e_latency', true);
/** Submits the suite refused with 429 because it was behind; the client waited Retry-After and tried again. */
export const refused = new Counter('submits_refused');

const AUTH = { authorization: `Bearer ${API_KEY}` };
const JSON_HEADERS = { 'content-type': 'application/json', ...AUTH };
const timeout = `${TIMING.requestTimeoutS}s`;
// What each request may answer without being a failure in http_req_failed. A poll before the saga
// exists gets a 404: expected, not a failure; so is a 429 (the suite is behind and says when to
// come back), counted in submits_refused instead.
const submitAnswers = http.expectedStatuses(202, 429);
const pollAnswers = http.expectedStatuses(200, 404);

/** What setup() hands every iteration and handleSummary. */
export interface RunData {
  readonly runId: string;
}

/** Fails the run at once if any service is not ready: no load against a broken stack. */
function healthGate(): void {
  for (const [name, url] of Object.entries(BASE_URLS)) {
    const response = http.get(`${url}/health/ready`, { timeout });
    if (response.status !== 200) fail(`${name} is not ready at ${url}: ${response.status}`);
  }
}

/** `setup()`: the health gate, then one run id for every VU (module code runs once per VU). */
export function setupRun(): RunData {
  if (API_KEY === '') fail('set API_KEY (or TAILSPIN_CUSTOMER_KEY) to a customer key of owners owner-0..owner-6: npm start prints one');
  healthGate();
  return { runId: runIdFrom(GIVEN_RUN_ID, Date.now(), Math.random()) };
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

/** Submits one delivery (sometimes twice, sometimes cancelled), then polls until it ends or times out. */
export function deliveryIteration(prefix: string, run: RunData): void {
  const id = deliveryId(prefix, run.runId, exec.scenario.iterationInTest);
  const body = JSON.stringify(deliveryRequest(id));
  const started = Date.now();
  const params = (name: string) => ({ headers: JSON_HEADERS, tags: { name }, timeout, responseCallback: submitAnswers });
  const deadline = started + TIMING.completionTimeoutS * 1_000;
  // Refused while the suite is behind: wait as long as it asks, and try again while there is time.
  const submit = (name: string) => {
    let answer = http.post(`${BASE_URLS.ingestion}/api/deliveryrequests`, body, params(name));
    while (answer.status === 429) {
      refused.add(1);
      const waitS = retryAfterSeconds(answer.headers['Retry-After'], Date.now());
      if (Date.now() + waitS * 1_000 >= deadline) break;
      sleep(waitS);
      answer = http.post(`${BASE_URLS.ingestion}/api/deliveryrequests`, body, params(name));
    }
    return answer;
  };
  const response = submit('submit');
  if (!check(response, { 'submit: 202': (r) => r.status === 202 })) return;
  accepted.add(1);
  unfinished.add(1);
  // created:false on a first submit means the id was used before: another run's delivery.
  check(response, { 'submit: a new delivery': (r) => (r.json('created') as boolean) === true });
  if (Math.random() < DUPLICATE_SHARE) {
    // A repeat goes through admission too: refused while the suite sheds load, it waits as the first did.
    const again = submit('duplicate');
    check(again, { 'duplicate: same 202, nothing created': (r) => r.status === 202 && (r.json('created') as boolean) === false });
  }
  const cancelAsked = Math.random() < CANCEL_SHARE;
  if (cancelAsked) http.del(`${BASE_URLS.ingestion}/api/deliveryrequests/${id}`, null, params('cancel'));
  while (Date.now() < deadline) {
    sleep(TIMING.pollIntervalS);
    const saga = http.get(`${BASE_URLS.workflow}/api/workflows/${id}`, { headers: AUTH, tags: { name: 'poll' }, timeout, responseCallback: pollAnswers });
    const end = deliveryEnd(saga.status === 200 ? String(saga.json('state')) : '');
    if (end === undefined) continue;
    unfinished.add(-1);
    asExpected.add(endedAsExpected(end, cancelAsked));
    if (end === 'completed') {
      completed.add(1);
      endToEnd.add(Date.now() - started);
    } else if (end === 'cancelled') cancelled.add(1);
    else failed.add(1);
    return;
  }
}

/** `handleSummary`: the text summary on stdout (it replaces k6's own) and the JSON in SUMMARY_DIR. */
export function summaryFiles(script: string, data: SummaryData & { setup_data?: RunData }): Record<string, string> {
  return {
    stdout: summaryText(data, { script, ...(data.setup_data !== undefined ? { runId: data.setup_data.runId } : {}), requestNames: REQUEST_NAMES }),
    [`${SUMMARY_DIR}/${script}-summary.json`]: JSON.stringify(data, null, 2),
  };
}
