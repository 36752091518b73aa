import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RequestFilteringHttpAgent } from 'request-filtering-agent';
import { dnsResolve, isPublicAddress, LookupLimiter, LookupsBusyError, lookupVia, webhookRefusal } from '../../apps/delivery/src/deliveries/webhook-policy.js';
import { FakeDns } from '../support/fake-dns.js';

const strict = { WEBHOOK_ALLOW_HTTP: false, WEBHOOK_ALLOW_PRIVATE: false };
const resolvesTo = (...addresses: string[]) => async () => addresses;

describe('where a webhook may point', () => {
  it('refuses loopback, private, link-local (metadata), CGNAT, unique-local and mapped addresses, and allows public ones', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.100.100.200', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1', 'not-an-ip']) {
      assert.equal(isPublicAddress(address), false, address);
    }
    for (const address of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']) assert.equal(isPublicAddress(address), true, address);
  });

  it('refuses http, credentials in the URL, and a name that resolves to any private address', async () => {
    assert.match((await webhookRefusal('http://hooks.example.com/x', strict, resolvesTo('93.184.216.34'))) ?? '', /https/);
    assert.match((await webhookRefusal('https://u:p@hooks.example.com/x', strict, resolvesTo('93.184.216.34'))) ?? '', /credentials/);
    assert.match((await webhookRefusal('https://hooks.example.com/x', strict, resolvesTo('93.184.216.34', '10.0.0.5'))) ?? '', /10\.0\.0\.5/);
    assert.match((await webhookRefusal('https://[::1]/x', strict, resolvesTo())) ?? '', /::1/);
    assert.equal(await webhookRefusal('https://hooks.example.com/x', strict, resolvesTo('93.184.216.34')), undefined);
  });

  it('answers within its deadline when the name never resolves', { timeout: 10_000 }, async () => {
    const started = Date.now();
    const refusal = await webhookRefusal('https://slow.example.com/x', strict, () => new Promise<string[]>(() => undefined), 200, new LookupLimiter(2));
    assert.match(refusal ?? '', /did not resolve within 200 ms/);
    assert.ok(Date.now() - started < 5_000, 'did not wait for the resolver');
  });

  it('holds at most two lookups at once, counting those whose request gave up, and frees a place when one settles', { timeout: 10_000 }, async () => {
    const limiter = new LookupLimiter(2);
    const pending: ((addresses: string[]) => void)[] = [];
    const slow = () => new Promise<string[]>((resolve) => void pending.push(resolve));
    // Two requests give up on names that keep resolving (as getaddrinfo keeps its thread).
    for (const host of ['a', 'b']) assert.match((await webhookRefusal(`https://${host}.slow.example/x`, strict, slow, 50, limiter)) ?? '', /did not resolve within 50 ms/);
    // A third is refused at once: no place, nothing looked up.
    await assert.rejects(webhookRefusal('https://c.slow.example/x', strict, slow, 50, limiter), LookupsBusyError);
    assert.equal(pending.length, 2);
    // Literal addresses need no lookup, so they are not held back.
    assert.equal(await webhookRefusal('https://93.184.216.34/x', strict, slow, 50, limiter), undefined);
    pending[0]?.(['93.184.216.34']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await webhookRefusal('https://d.example/x', strict, resolvesTo('93.184.216.34'), 50, limiter), undefined, 'a place is free again');
  });
});

describe('webhook names resolved by DNS queries, not by the system resolver', () => {
  let dns: FakeDns;
  before(async () => {
    dns = await FakeDns.start({ 'hooks.test': '93.184.216.34', 'inside.test': '10.0.0.5', 'local.test': '127.0.0.1', 'silent.test': 'silent' });
  });
  after(() => dns.close());

  it('registers a name with public addresses and refuses one with a private address or none', { timeout: 20_000 }, async () => {
    const resolve = dnsResolve(5_000, [dns.server]);
    assert.deepEqual(await resolve('hooks.test'), ['93.184.216.34']);
    assert.equal(await webhookRefusal('https://hooks.test/x', strict, resolve, 5_000, new LookupLimiter(4)), undefined);
    assert.match((await webhookRefusal('https://inside.test/x', strict, resolve, 5_000, new LookupLimiter(4))) ?? '', /10\.0\.0\.5, which is not a public address/);
    assert.match((await webhookRefusal('https://nowhere.test/x', strict, resolve, 5_000, new LookupLimiter(4))) ?? '', /does not resolve/);
    assert.ok(dns.queries.includes('A hooks.test') && dns.queries.includes('AAAA hooks.test'), dns.queries.join(', '));
  });

  it('cancels a lookup at its deadline, so a hanging name holds no place once its request gave up', { timeout: 30_000 }, async () => {
    const limiter = new LookupLimiter(4);
    const resolve = dnsResolve(300, [dns.server]);
    const refusals = await Promise.all(['a', 'b', 'c', 'd'].map(() => webhookRefusal('https://silent.test/x', strict, resolve, 300, limiter)));
    for (const refusal of refusals) assert.match(refusal ?? '', /did not resolve within 300 ms/);
    // The cancelled queries settle right after the deadline: every place is free again, where a
    // lookup on libuv's threads would keep its place until the system resolver gave up.
    let answer: string | undefined = 'busy';
    for (let tries = 0; tries < 200 && answer === 'busy'; tries += 1) {
      answer = await webhookRefusal('https://hooks.test/x', strict, dnsResolve(5_000, [dns.server]), 5_000, limiter).catch((error: unknown) => {
        if (!(error instanceof LookupsBusyError)) throw error;
        return new Promise<string>((done) => setTimeout(() => done('busy'), 25));
      });
    }
    assert.equal(answer, undefined);
  });

  it('gives the webhook agent its addresses, which the agent still checks at connect time', { timeout: 20_000 }, async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const lookup = lookupVia(dnsResolve(5_000, [dns.server]));
    const call = (agent: Agent) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(`http://local.test:${port}/`, { agent }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        });
        request.on('error', reject);
        request.end();
      });
    try {
      // Allowed to call private addresses, it reaches the server by the fake DNS server's answer.
      assert.equal(await call(new RequestFilteringHttpAgent({ allowPrivateIPAddress: true, lookup })), 200);
      // Refused: the name resolves to loopback.
      await assert.rejects(call(new RequestFilteringHttpAgent({ allowPrivateIPAddress: false, lookup })), /private IP address/);
      // A name it does not know fails like dns.lookup's, with ENOTFOUND.
      await assert.rejects(
        new Promise((resolve, reject) => httpRequest(`http://nowhere.test:${port}/`, { agent: new RequestFilteringHttpAgent({ allowPrivateIPAddress: true, lookup }) }, resolve).on('error', reject).end()),
        (error: NodeJS.ErrnoException) => error.code === 'ENOTFOUND',
      );
    } finally {
      server.close();
    }
  });
});
