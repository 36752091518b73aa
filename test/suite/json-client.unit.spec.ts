import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { JsonClient } from '../../libs/service-kit/src/json-client.js';

/** The HTTP client of the simulator and of the fly activity, against answers a broken or hostile service could give. */
describe('JsonClient against hostile answers', () => {
  let server: Server;
  let url: string;
  const drips: NodeJS.Timeout[] = [];
  const client = new JsonClient();

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      if (request.url === '/drip') {
        // Headers at once, then a byte every 100 ms for ever: never silent, never done.
        response.writeHead(200, { 'content-type': 'application/json' });
        drips.push(setInterval(() => response.write(' '), 100));
      } else if (request.url === '/huge') {
        response.writeHead(409, { 'content-type': 'application/json' });
        response.end(Buffer.alloc(10 * 1024 * 1024, 'x'));
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ ok: true, echo: request.headers.authorization ?? null }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const drip of drips) clearInterval(drip);
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('posts JSON and reads the answer', async () => {
    const answer = await client.post(`${url}/ok`, { a: 1 }, { authorization: 'Bearer k' }, 5_000);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { ok: true, echo: 'Bearer k' });
  });

  it('gives up on an answer that never ends, even one that is never silent', async () => {
    const started = Date.now();
    await assert.rejects(client.post(`${url}/drip`, {}, {}, 500), /within 500 ms/);
    assert.ok(Date.now() - started < 10_000, `rejected after ${Date.now() - started} ms`);
  });

  it('stops when its signal aborts, long before its own deadline (an activity attempt timed out, or the process stopping)', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = client.post(`${url}/drip`, {}, {}, 60_000, controller.signal);
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(pending, (error: Error) => error.name === 'AbortError');
    assert.ok(Date.now() - started < 30_000, `rejected after ${Date.now() - started} ms`);
    // An aborted signal stops a request before it is sent.
    await assert.rejects(client.post(`${url}/ok`, {}, {}, 5_000, AbortSignal.abort()), (error: Error) => error.name === 'AbortError');
  });

  it('keeps at most 64 KiB of a 10 MB answer', async () => {
    const answer = await client.post(`${url}/huge`, {}, {}, 10_000);
    assert.equal(answer.status, 409);
    assert.equal(answer.body.length, 64 * 1024);
  });

  it('GETs within a size it is given, and says when an answer was longer', async () => {
    const small = await client.get(`${url}/ok`, { authorization: 'Bearer g' }, 5_000, 1_024);
    assert.deepEqual({ status: small.status, tooLong: small.tooLong, body: JSON.parse(small.body) as unknown }, { status: 200, tooLong: false, body: { ok: true, echo: 'Bearer g' } });
    const huge = await client.get(`${url}/huge`, {}, 10_000, 1_000_000);
    assert.equal(huge.tooLong, true);
    assert.equal(huge.body.length, 1_000_000);
  });
});
