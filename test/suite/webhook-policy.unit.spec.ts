import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPublicAddress, LookupLimiter, LookupsBusyError, webhookRefusal } from '../../apps/delivery/src/deliveries/webhook-policy.js';

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
