/**
 * Hostile traffic beside the chaos run's load (`--hostile <share>`): requests an attacker or a
 * broken client would send, aimed at the run's own deliveries (another customer cancelling or
 * reading them, a customer reporting drone status or confirming a drop-off, prototype keys, NUL
 * characters, bad dates, oversized or non-JSON bodies, no or wrong keys on `/rsm/*`). Every one must
 * be refused with a 4xx (or 503 while a datastore is down); any other 5xx or an accepted one is a
 * failure the report and the CLI show.
 */
import type { SuiteUrls } from '#verifier';

export interface HostileOptions {
  readonly urls: SuiteUrls;
  /** Hostile requests per second. */
  readonly rate: number;
  readonly durationS: number;
  /** The load's delivery id prefix: `<prefix>-<n>` are the run's deliveries, the targets. */
  readonly prefix: string;
  /** The load's submits per second, to guess which of its ids exist by now. */
  readonly loadRate: number;
  readonly keys: { readonly customer: string; readonly other: string; readonly service: string };
}

export interface HostileResult {
  readonly sent: number;
  /** Route -> status -> count (status 0: no answer, e.g. the app was being killed). */
  readonly byRoute: Record<string, Record<string, number>>;
  /** Answered 5xx other than 503 (a 503 with Retry-After is the honest answer while Postgres restarts). */
  readonly serverErrors: number;
  /** Answered 2xx: a hostile request that got through. */
  readonly accepted: number;
  /** A few of the failures, for the report. */
  readonly examples: string[];
}

interface Hostile {
  readonly route: string;
  readonly service: keyof SuiteUrls;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

const json = { 'content-type': 'application/json' };

function request(id: string, ownerId: string, overrides: Record<string, unknown> = {}): string {
  const now = Date.now();
  return JSON.stringify({
    ownerId, pickupLocation: 'Seattle', dropOffLocation: 'Redmond', pickupTime: new Date(now).toISOString(), deadline: new Date(now + 1_800_000).toISOString(),
    expedited: false, confirmationRequired: 'None', packageInfo: { packageId: `pkg-${id}`, size: 'Small', weight: 2, tag: 'hostile' }, deliveryId: id, ...overrides,
  });
}

/** The hostile requests, each refused by construction; `target` is one of the run's deliveries. */
export function hostileRequests(target: string, fresh: string, keys: HostileOptions['keys']): Hostile[] {
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  return [
    { route: 'POST deliveryrequests (no key)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: json, body: request(fresh, 'chaos') },
    { route: 'POST deliveryrequests (another owner)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: request(fresh, 'o2') },
    { route: 'POST deliveryrequests (ownerId __proto__)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: request(fresh, '__proto__') },
    { route: 'POST deliveryrequests (NUL in a field)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: request(fresh, 'chaos', { pickupLocation: 'a\u0000b' }) },
    { route: 'POST deliveryrequests (deadline past)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: request(fresh, 'chaos', { deadline: new Date(Date.now() - 60_000).toISOString() }) },
    { route: 'POST deliveryrequests (form post)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { 'content-type': 'application/x-www-form-urlencoded', ...as(keys.customer) }, body: 'ownerId=chaos' },
    { route: 'POST deliveryrequests (200 KB body)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: JSON.stringify({ tag: 'x'.repeat(200_000) }) },
    { route: 'POST deliveryrequests (prototype key)', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', headers: { ...json, ...as(keys.customer) }, body: request(fresh, 'chaos').replace(/^\{/, '{"__proto__":{"polluted":true},') },
    { route: 'GET deliveryrequests (customer lists all)', service: 'ingestion', method: 'GET', path: '/api/deliveryrequests', headers: as(keys.customer) },
    { route: 'DELETE deliveryrequests/:id (other customer)', service: 'ingestion', method: 'DELETE', path: `/api/deliveryrequests/${target}`, headers: as(keys.other) },
    { route: 'GET workflows/:id (other customer)', service: 'workflow', method: 'GET', path: `/api/workflows/${target}`, headers: as(keys.other) },
    { route: 'PUT packages/:id (prototype key)', service: 'package', method: 'PUT', path: '/api/packages/constructor', headers: { ...json, ...as(keys.customer) }, body: '{"__proto__":{"polluted":true},"size":"Small","weight":1,"tag":"x","ownerId":"chaos"}' },
    { route: 'DELETE dronedeliveries/:id (customer)', service: 'drone-scheduler', method: 'DELETE', path: `/api/dronedeliveries/${target}`, headers: as(keys.customer) },
    { route: 'POST drones/:id/status (customer)', service: 'drone-scheduler', method: 'POST', path: '/api/drones/drone-1/status', headers: { ...json, ...as(keys.customer) }, body: JSON.stringify({ deliveryId: target, status: 'Delivered' }) },
    { route: 'POST deliveries/:id/confirmations (customer)', service: 'delivery', method: 'POST', path: `/api/deliveries/${target}/confirmations`, headers: { ...json, ...as(keys.customer) }, body: JSON.stringify({ confirmationType: 'None' }) },
    { route: 'POST deliveries/:id/notifymerequests (other customer)', service: 'delivery', method: 'POST', path: `/api/deliveries/${target}/notifymerequests`, headers: { ...json, ...as(keys.other) }, body: JSON.stringify({ url: 'https://hooks.example.com/x' }) },
    { route: 'POST deliveries/:id/notifymerequests (metadata address)', service: 'delivery', method: 'POST', path: `/api/deliveries/${target}/notifymerequests`, headers: { ...json, ...as(keys.customer) }, body: JSON.stringify({ url: 'https://169.254.169.254/latest/meta-data' }) },
    { route: 'PATCH deliveries/:id (NUL)', service: 'delivery', method: 'PATCH', path: `/api/deliveries/${target}`, headers: { ...json, ...as(keys.customer) }, body: JSON.stringify({ dropOffLocation: '\u0000' }) },
    { route: 'GET /rsm/dead-letters (customer)', service: 'workflow', method: 'GET', path: '/rsm/dead-letters', headers: as(keys.customer) },
    { route: 'POST /rsm/dead-letters/:id/redrive (no key)', service: 'drone-scheduler', method: 'POST', path: '/rsm/dead-letters/99999999999999999999/redrive', headers: {} },
  ];
}

/** Sends hostile requests at `rate` for `durationS` and tallies the answers. */
export async function runHostile(o: HostileOptions): Promise<HostileResult> {
  const startedAt = Date.now();
  const byRoute: Record<string, Record<string, number>> = {};
  const examples: string[] = [];
  let serverErrors = 0;
  let accepted = 0;
  const total = Math.round(o.rate * o.durationS);
  const inFlight: Promise<void>[] = [];
  for (let n = 0; n < total; n += 1) {
    const wait = startedAt + (n * 1_000) / o.rate - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const made = Math.max(1, Math.floor(((Date.now() - startedAt) / 1_000) * o.loadRate));
    const target = `${o.prefix}-${Math.floor(Math.random() * made)}`;
    const all = hostileRequests(target, `${o.prefix}-hostile-${n}`, o.keys);
    const h = all[Math.floor(Math.random() * all.length)] as Hostile;
    inFlight.push(
      (async () => {
        let status = 0;
        let text = '';
        try {
          const response = await fetch(`${o.urls[h.service]}${h.path}`, { method: h.method, headers: h.headers, ...(h.body !== undefined ? { body: h.body } : {}), signal: AbortSignal.timeout(10_000) });
          status = response.status;
          text = await response.text();
        } catch {
          // no answer: the app is being killed or restarted
        }
        const routeTally = (byRoute[h.route] ??= {});
        routeTally[String(status)] = (routeTally[String(status)] ?? 0) + 1;
        if ((status >= 500 && status !== 503) || (status >= 200 && status < 300)) {
          if (status >= 500) serverErrors += 1;
          else accepted += 1;
          if (examples.length < 10) examples.push(`${h.route}: ${status} ${text.slice(0, 200)}`);
        }
      })(),
    );
  }
  await Promise.all(inFlight);
  return { sent: total, byRoute, serverErrors, accepted, examples };
}
