import { DEFAULT_PORTS, type ServiceName } from '#contracts';

export interface SagaView { deliveryId: string; state: string; droneId: string | null; packageId: string | null; awaiting: string[]; reason: string | null; history: { state: string; event: string; note?: string; at?: string }[]; historyDropped?: number }
export interface DeliveryView { id: string; stage: string; droneId: string | null; packageId: string | null; stages: { stage: string; at: string }[] }
export interface PackageView { id: string; state: string; deliveryId: string | null }
export interface DroneView { id: string; state: string; deliveryId: string | null; history: { state: string; deliveryId: string | null }[] }
export interface DeadLetterView { id: string; machineType: string; machineId: string; reason: string; event: { type: string } }

/** Everything the verifier reads, taken from the services' public APIs. */
export interface SuiteSnapshot {
  readonly requests: { deliveryId: string; state: string }[];
  readonly sagas: SagaView[];
  readonly deliveries: DeliveryView[];
  readonly packages: PackageView[];
  readonly drones: DroneView[];
  /** `idle` is absent from a drone-scheduler that predates it. */
  readonly fleet: { assignments: Record<string, string>; waiting: string[]; idle?: string[] };
  readonly deadLetters: Record<string, DeadLetterView[]>;
}

export type SuiteUrls = Record<Exclude<ServiceName, 'drone-sim'>, string>;

export function defaultUrls(host = '127.0.0.1'): SuiteUrls {
  const url = (service: keyof SuiteUrls) => `http://${host}:${DEFAULT_PORTS[service]}`;
  return { ingestion: url('ingestion'), workflow: url('workflow'), package: url('package'), 'drone-scheduler': url('drone-scheduler'), delivery: url('delivery') };
}

/** Reads as an operator: the lists and `/rsm/*` of every service need an operator key. */
async function getJson<T>(url: string, operatorKey: string | undefined): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000), ...(operatorKey !== undefined ? { headers: { authorization: `Bearer ${operatorKey}` } } : {}) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** Reads a paged list (`?limit=&after=`) to its end. */
async function listAll<T>(base: string, idOf: (item: T) => string, operatorKey: string | undefined): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await getJson<T[]>(`${base}?limit=1000${after !== undefined ? `&after=${encodeURIComponent(after)}` : ''}`, operatorKey);
    all.push(...page);
    if (page.length < 1000) return all;
    after = idOf(page[page.length - 1] as T);
  }
}

/** A service's open dead letters, every page of `/rsm/dead-letters` (newest first, 500 a page). */
async function openDeadLetters(url: string, operatorKey: string | undefined): Promise<DeadLetterView[]> {
  const all: DeadLetterView[] = [];
  let after: string | null = null;
  do {
    const page: { items: DeadLetterView[]; next: string | null } = await getJson(`${url}/rsm/dead-letters?limit=500${after !== null ? `&after=${after}` : ''}`, operatorKey);
    all.push(...page.items);
    after = page.next;
  } while (after !== null);
  return all;
}

/** Takes a snapshot of the suite through its REST APIs. */
export async function readSnapshot(urls: SuiteUrls, operatorKey?: string): Promise<SuiteSnapshot> {
  const [requests, sagas, deliveries, packages, drones, fleet] = await Promise.all([
    listAll<{ deliveryId: string; state: string }>(`${urls.ingestion}/api/deliveryrequests`, (r) => r.deliveryId, operatorKey),
    listAll<SagaView>(`${urls.workflow}/api/workflows`, (s) => s.deliveryId, operatorKey),
    listAll<DeliveryView>(`${urls.delivery}/api/deliveries`, (d) => d.id, operatorKey),
    listAll<PackageView>(`${urls.package}/api/packages`, (p) => p.id, operatorKey),
    listAll<DroneView>(`${urls['drone-scheduler']}/api/drones`, (d) => d.id, operatorKey),
    getJson<{ assignments: Record<string, string>; waiting: string[]; idle?: string[] }>(`${urls['drone-scheduler']}/api/fleet`, operatorKey),
  ]);
  const deadLetters: Record<string, DeadLetterView[]> = {};
  for (const [service, url] of Object.entries(urls)) deadLetters[service] = await openDeadLetters(url, operatorKey);
  return { requests, sagas, deliveries, packages, drones, fleet, deadLetters };
}
