import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Answers are read up to this size; a report's answer is a few hundred bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs JSON over kept-alive connections. The simulator reports every leg of every flight, and the
 * drone-scheduler hands it every flight: Node's `fetch` costs several times the CPU of a plain
 * request per call (a V8 profile of the drone-scheduler put 6.6% of its samples in `fetch` for one
 * call per delivery), and that CPU is taken from the services on the same machine.
 */
export class JsonClient {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  /**
   * The status and body (text, cut at 64 KiB) of the answer; rejects on a network error, or when
   * the whole exchange has not ended within `timeoutMs` (an answer dripping forever included).
   */
  post(url: string, body: unknown, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; body: string; retryAfter?: string }> {
    return this.send('POST', url, JSON.stringify(body), headers, timeoutMs, MAX_ANSWER_BYTES, signal);
  }

  /**
   * GETs `url`: the status, the body and whether it was longer than `maxBytes` (then cut there, and
   * not to be parsed). Rejects as {@link post} does.
   */
  get(url: string, headers: Record<string, string>, timeoutMs: number, maxBytes: number): Promise<{ status: number; body: string; tooLong: boolean }> {
    return this.send('GET', url, undefined, headers, timeoutMs, maxBytes);
  }

  private send(method: 'GET' | 'POST', url: string, text: string | undefined, headers: Record<string, string>, timeoutMs: number, maxBytes: number, signal?: AbortSignal): Promise<{ status: number; body: string; tooLong: boolean; retryAfter?: string }> {
    const secure = url.toLowerCase().startsWith('https:');
    const send = secure ? httpsRequest : httpRequest;
    const bodyHeaders: Record<string, string | number> = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      const request = send(
        url,
        { method, agent: secure ? this.https : this.http, headers: { ...headers, ...bodyHeaders }, ...(signal !== undefined ? { signal } : {}) },
        (response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            if (size < maxBytes) chunks.push(chunk);
            size += chunk.length;
          });
          response.on('end', () => {
            clearTimeout(timer);
            const retryAfter = response.headers['retry-after'];
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'), tooLong: size > maxBytes, ...(retryAfter === undefined ? {} : { retryAfter }) });
          });
          response.on('error', fail);
        },
      );
      const timer = setTimeout(() => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
      request.on('error', fail);
      if (text === undefined) request.end();
      else request.end(text);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
