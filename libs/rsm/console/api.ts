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

/** How long another service may take to answer before its section says it timed out. */
export const REMOTE_TIMEOUT_MS = 5_000;

/** Another service did not answer: down, unreachable, or (the browser cannot tell) it does not allow this console's origin. */
export class UnreachableError extends Error {}
/** Another service did not answer within REMOTE_TIMEOUT_MS. */
export class TimedOutError extends Error {}

/**
 * Calls an admin route of this console's service, or with `remote` (another service's base URL,
 * from the console's settings) of that service, cross-origin: it answers only the origins it is
 * configured with (CORS), with the same operator token. A refusal there is that service's answer,
 * not the end of this session, and no cookie is sent.
 */
export async function call<T>(session: Session, method: 'GET' | 'POST', path: string, body?: unknown, remote?: string): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token}`, 'x-rsm-actor': session.actor, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), cache: 'no-store' };
  let response: Response;
  let text: string;
  if (remote === undefined) {
    response = await fetch(`${base}${path}`, init);
    text = await response.text();
  } else {
    try {
      response = await fetch(`${remote}${path}`, { ...init, credentials: 'omit', signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS) });
      text = await response.text();
    } catch (e) {
      if (e instanceof DOMException && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new TimedOutError(`no answer within ${REMOTE_TIMEOUT_MS / 1000} s`);
      throw new UnreachableError('no answer: down, or not allowing this console’s origin');
    }
  }
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  // A key that stopped working here (rotated, removed) ends the session: the app returns to its login box.
  if (response.status === 401 && remote === undefined) dispatchEvent(new CustomEvent('rsm-console-unauthorized'));
  if (!response.ok) {
    const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String(parsed.message) : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return parsed as T;
}

/** Inbox and outbox depth with the oldest age (`GET /rsm/queues`: the runtime's gauges). */
export interface Queues {
  inboxDepth: number;
  inboxOldestAgeSeconds: number;
  outboxDepth: number;
  outboxOldestAgeSeconds: number;
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
