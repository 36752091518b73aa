/**
 * The console's only way to the service: the library's public admin routes (`/rsm/*`), with the
 * operator token the user signed in with as a bearer token and their name in `X-Rsm-Actor` (the
 * audit log records both). The token lives in sessionStorage: gone with the tab, never in a URL.
 */

const TOKEN_KEY = 'rsm-console.token';
const ACTOR_KEY = 'rsm-console.actor';

export interface Session {
  readonly token: string;
  readonly actor: string;
}

export function loadSession(): Session | undefined {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const actor = sessionStorage.getItem(ACTOR_KEY);
  return token === null || token === '' ? undefined : { token, actor: actor ?? 'console' };
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ACTOR_KEY);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, session.token);
  sessionStorage.setItem(ACTOR_KEY, session.actor);
}

/** An answer other than 2xx: its status and the message the service gave. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The admin routes sit beside the console: `<prefix>/rsm/console` is served by the service it inspects. */
const base = location.pathname.slice(0, Math.max(0, location.pathname.indexOf('/rsm/console')));

export async function call<T>(session: Session, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token}`, 'x-rsm-actor': session.actor, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), cache: 'no-store' });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  // A key that stopped working (rotated, removed) ends the session: the app returns to its login box.
  if (response.status === 401) dispatchEvent(new CustomEvent('rsm-console-unauthorized'));
  if (!response.ok) {
    const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String(parsed.message) : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return parsed as T;
}

/** The queue gauges of the service's open `/metrics` (Prometheus text), summed over their labels. */
export interface Queues {
  inboxDepth: number;
  inboxOldestAgeSeconds: number;
  outboxDepth: number;
  outboxOldestAgeSeconds: number;
}

export async function queues(): Promise<Queues | undefined> {
  const response = await fetch(`${base}/metrics`, { cache: 'no-store' });
  if (!response.ok) return undefined;
  const values = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^(rsm_(?:inbox|outbox)_(?:depth|oldest_age_seconds))(?:\{[^}]*\})? ([0-9.eE+-]+)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) values.set(match[1], (match[1].endsWith('depth') ? (values.get(match[1]) ?? 0) + value : Math.max(values.get(match[1]) ?? 0, value)));
  }
  return {
    inboxDepth: values.get('rsm_inbox_depth') ?? 0,
    inboxOldestAgeSeconds: values.get('rsm_inbox_oldest_age_seconds') ?? 0,
    outboxDepth: values.get('rsm_outbox_depth') ?? 0,
    outboxOldestAgeSeconds: values.get('rsm_outbox_oldest_age_seconds') ?? 0,
  };
}

/** A query string from the defined, non-empty values. */
export function query(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export const enc = encodeURIComponent;

export interface TypeInfo {
  type: string;
  version: number;
  initial: string;
  states: string[];
}
export interface Diagram {
  type: string;
  initial: string;
  states: string[];
  transitions: { from: string; to: string; event?: string; [key: string]: unknown }[];
  mermaid: string;
}
export interface MachineCount {
  type: string;
  state: string;
  status: string;
  count: number;
}
export interface Page<T> {
  items: T[];
  next: string | null;
}
export interface MachineView {
  type: string;
  id: string;
  state: string;
  status: string;
  version: number;
  data: unknown;
  createdAt: string;
  updatedAt: string;
}
export interface Inspection extends MachineView {
  inbox: { seq: string; event: { type: string }; senderType: string | null; senderId: string | null; attempts: number; lastError: string | null; createdAt: string }[];
  recentSteps: { id: string; eventType: string; fromState: string; toState: string; effects: number; sends: StepSend[]; at: string }[];
  outbox: { id: string; destination: string; to: { type: string; id: string } | null; kind: string; eventType: string | null; attempts: number; createdAt: string }[];
  timers: { name: string; fireAt: string; periodMs: number | null; payload: unknown }[];
  activities: { id: string; activity: string; callId: string; attempts: number; nextAttemptAt: string; lastError: string | null }[];
}
/** A send or create of a step (at most 10 a step are kept). */
export interface StepSend {
  kind: 'send' | 'create';
  type: string;
  id: string;
  event: string;
}
export interface DeadLetter {
  id: string;
  machineType: string;
  machineId: string;
  event: { type: string; [key: string]: unknown };
  senderType: string | null;
  senderId: string | null;
  reason: string;
  attempts: number;
  createdAt: string;
  redrivenAt: string | null;
}
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  tokenId: string;
  action: string;
  targets: unknown;
  outcome: unknown;
}
export interface Gap {
  sender: { type: string; id: string };
  receiver: { type: string; id: string };
  epoch: number;
  missingFrom: number;
  nextBuffered: number;
  waiting: number;
  waitingSince: string;
}
export interface LetterResult {
  id: string;
  outcome: string;
}
