/** A failure the CLI reports as one line and a non-zero exit: bad usage, an unreachable service, or a 4xx/5xx answer. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Where and as whom the CLI calls a service's admin API. */
export interface AdminConnection {
  readonly url: URL;
  readonly token: string;
  readonly actor: string;
  readonly timeoutMs: number;
}

const TOKEN_PATTERN = /^[\x21-\x7e]{1,512}$/;

/** Checks the URL, token and actor before any request, naming the flag or variable that is wrong (never echoing the token). */
export function connection(options: { url?: string; token?: string; actor?: string; timeoutMs: number }): AdminConnection {
  if (options.url === undefined) throw new CliError('no service URL: pass --url or set RSM_URL (e.g. http://127.0.0.1:3002)', 2);
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new CliError(`--url / RSM_URL is not a URL: ${JSON.stringify(options.url.slice(0, 200))}`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError('--url / RSM_URL must be an http:// or https:// URL', 2);
  if (url.username !== '' || url.password !== '') throw new CliError('--url / RSM_URL must not carry credentials: pass the token with RSM_TOKEN', 2);
  if (options.token === undefined) throw new CliError('no operator token: set RSM_TOKEN (or pass --token)', 2);
  if (!TOKEN_PATTERN.test(options.token)) throw new CliError('the operator token must be 1-512 printable ASCII characters without spaces', 2);
  const actor = (options.actor ?? 'unnamed').trim();
  if (!/^[\x20-\x7e]{1,100}$/.test(actor) || actor === '') throw new CliError('--as / RSM_ACTOR must be 1-100 printable ASCII characters', 2);
  if (!Number.isInteger(options.timeoutMs) || options.timeoutMs < 1 || options.timeoutMs > 600_000) throw new CliError('--timeout must be 1-600000 ms', 2);
  return { url, token: options.token, actor, timeoutMs: options.timeoutMs };
}

/** The service's URL as it may be printed: no credentials, no query. */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** One line for a server's error body: `401 Unauthorized: unknown operator token` plus each field error. */
function describeFailure(status: number, statusText: string, body: unknown): string {
  const record = typeof body === 'object' && body !== null ? (body as { message?: unknown; fields?: unknown }) : {};
  const message = typeof record.message === 'string' ? record.message : Array.isArray(record.message) ? record.message.map(String).join('; ') : '';
  const fields = Array.isArray(record.fields)
    ? record.fields
        .map((f: unknown) => (typeof f === 'object' && f !== null ? `${String((f as { path?: unknown }).path)}: ${String((f as { message?: unknown }).message)}` : ''))
        .filter((f) => f !== '')
    : [];
  return `${status} ${statusText}${message === '' ? '' : `: ${message}`}${fields.length > 0 ? ` (${fields.join('; ')})` : ''}`.slice(0, 2_000);
}

/**
 * Calls `/rsm/*` of one service with an operator token. Every answer other than 2xx becomes a
 * CliError with the server's message; a service that does not answer within the timeout too.
 */
export class AdminClient {
  constructor(
    private readonly c: AdminConnection,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.call<T>('GET', path, query);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, {}, body);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, query: Record<string, string | number | undefined>, body?: unknown): Promise<T> {
    // The path is set on a copy of the service's URL, never resolved against it: a relative
    // reference starting `//` (a base path of `//`, say) would name another host, and the token go there.
    const url = new URL(this.c.url.href);
    url.pathname = this.c.url.pathname.replace(/\/+$/, '') + path;
    url.search = '';
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { authorization: `Bearer ${this.c.token}`, accept: 'application/json', 'x-rsm-actor': this.c.actor };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      // No redirects: the token goes to the URL the operator named and nowhere else.
      response = await this.fetchFn(url, { method, headers, redirect: 'error', signal: AbortSignal.timeout(this.c.timeoutMs), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.c.timeoutMs} ms`
          : typeof cause?.code === 'string'
            ? cause.code
            : typeof cause?.message === 'string'
              ? cause.message
              : error instanceof Error
                ? error.message
                : 'failed';
      throw new CliError(`cannot reach ${shown(this.c.url)}: ${why}`);
    }
    const text = await readCapped(response, MAX_ANSWER_BYTES);
    if (text === undefined) throw new CliError(`${method} ${path.split('?')[0]?.slice(0, 200)}: the answer is longer than ${MAX_ANSWER_BYTES / 1_048_576} MiB; nothing more was read`);
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) throw new CliError(`${method} ${path.split('?')[0]?.slice(0, 200)}: ${describeFailure(response.status, response.statusText, json)}`);
    if (json === undefined) throw new CliError(`${method} ${path.slice(0, 200)}: the service answered ${response.status} without JSON`);
    return json as T;
  }
}

/** The longest answer the CLI reads: the largest page of the admin API is a few MiB. */
const MAX_ANSWER_BYTES = 32 * 1_048_576;

/** The body as text, or undefined (and the rest not read) once it passes `max` bytes. */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream: the rest is never read.
  for await (const value of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += value.byteLength;
    if (size > max) return undefined;
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
