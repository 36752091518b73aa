/**
 * The operator's side of HTTP without a server: where the CLI sends its token, how it ends on
 * usage errors and on a bulk answer it cannot read, and how a bearer token is read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminClient, connection } from '../src/cli/admin-client.js';
import { runCli } from '../src/cli/program.js';
import { bearerToken } from '../src/nest/http-input.js';

/** A fetch that records each URL asked and answers `body` (JSON) with `status`. */
function recordingFetch(answers: { status: number; body: unknown }[] = []) {
  const urls: string[] = [];
  const fetchFn = (async (input: string | URL | Request) => {
    urls.push(input instanceof Request ? input.url : input.toString());
    const next = answers.shift() ?? { status: 200, body: { items: [], next: null } };
    return new Response(JSON.stringify(next.body), { status: next.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { urls, fetchFn };
}

describe('the CLI admin client', () => {
  it('sends the token to the host of --url only, whatever its path', async () => {
    for (const [base, expected] of [
      ['http://127.0.0.1:3002', 'http://127.0.0.1:3002/rsm/machines?limit=5'],
      ['http://127.0.0.1:3002/', 'http://127.0.0.1:3002/rsm/machines?limit=5'],
      // A base path of `//` once made `//rsm/machines`, a reference to the host `rsm`.
      ['http://127.0.0.1:3002//', 'http://127.0.0.1:3002/rsm/machines?limit=5'],
      ['http://127.0.0.1:3002//evil.example', 'http://127.0.0.1:3002//evil.example/rsm/machines?limit=5'],
      ['http://127.0.0.1:3002/admin/?x=1', 'http://127.0.0.1:3002/admin/rsm/machines?limit=5'],
    ] as const) {
      const { urls, fetchFn } = recordingFetch();
      const client = new AdminClient(connection({ url: base, token: 't0ken', actor: 'ops', timeoutMs: 1_000 }), fetchFn);
      await client.get('/rsm/machines', { limit: 5 });
      assert.equal(urls[0], expected, base);
      assert.equal(new URL(urls[0] ?? '').host, '127.0.0.1:3002', base);
    }
  });
});

describe('the CLI', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, terminal: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
  };

  it('ends a usage error commander finds with 2, as its own, and help with 0', async () => {
    for (const argv of [['nosuch'], ['machines', '--status', 'bogus'], ['machines', '--no-such-flag']]) {
      const { err, terminal } = io();
      assert.equal(await runCli(argv, { url: 'http://127.0.0.1:9', token: 't' }, terminal), 2, `${argv.join(' ')}: ${err.join('')}`);
    }
    assert.equal(await runCli(['--help'], {}, io().terminal), 0);
  });
});

describe('bearerToken', () => {
  it('reads the scheme in any case (RFC 9110), and nothing else', () => {
    for (const header of ['Bearer abc', 'bearer abc', 'BEARER abc']) assert.equal(bearerToken(header), 'abc', header);
    for (const header of ['Basic abc', 'Bearer', 'Bearer  abc', `Bearer ${'a'.repeat(513)}`, 'Bearer a b']) assert.equal(bearerToken(header), null, header);
    assert.equal(bearerToken(undefined), undefined);
  });
});
