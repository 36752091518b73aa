import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPublicAddress, webhookRefusal } from '../../apps/delivery/src/deliveries/webhook-policy.js';

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
    const refusal = await webhookRefusal('https://slow.example.com/x', strict, () => new Promise<string[]>(() => undefined), 200);
    assert.match(refusal ?? '', /did not resolve within 200 ms/);
    assert.ok(Date.now() - started < 5_000, 'did not wait for the resolver');
  });
});
