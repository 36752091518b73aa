import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgumentsHost } from '@nestjs/common';
import { PostgresUnavailableError, RequestTimeoutError, RuntimeStoppedError } from '#rsm';
import { EVENT_CONTRACTS, MAX_OWNERS_PER_KEY, notifyMeSchema } from '#contracts';
import { ApiKeys, customerKeysSchema } from '../../libs/service-kit/src/auth/api-keys.js';
import { RsmErrorFilter } from '../../libs/service-kit/src/http-errors.js';
import { prefersMinimal } from '../../libs/service-kit/src/prefer.js';

/** The `Prefer: return=minimal` a device sends so that a confirmation is not read back (RFC 7240). */
describe('prefersMinimal', () => {
  it('reads return=minimal among preferences, in any case, quoted or with parameters', () => {
    for (const header of ['return=minimal', 'RETURN=Minimal', 'return="minimal"', 'respond-async, return=minimal', ' return = minimal ; x=1', 'wait=5,return=minimal', ['handling=lenient', 'return=minimal']]) {
      assert.equal(prefersMinimal(header), true, JSON.stringify(header));
    }
  });

  it('gives the full answer for anything else', () => {
    for (const header of [undefined, '', 'return=representation', 'return=minimalist', 'xreturn=minimal', 'return', 'return=', '"return=minimal"', 'return=minimal'.padStart(2_000, ' '), []]) {
      assert.equal(prefersMinimal(header), false, JSON.stringify(header));
    }
  });
});

/** What the apps answer when the runtime or the database fails under a request. */
describe('RsmErrorFilter', () => {
  const answer = (error: unknown) => {
    const sent: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
    const response = {
      setHeader: (name: string, value: string) => void (sent.headers[name.toLowerCase()] = value),
      status(code: number) {
        sent.status = code;
        return this;
      },
      json: (body: unknown) => void (sent.body = body),
    };
    const host = { getType: () => 'http', switchToHttp: () => ({ getResponse: () => response, getRequest: () => ({}) }) } as unknown as ArgumentsHost;
    new RsmErrorFilter(undefined).catch(error, host);
    return sent;
  };
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('answers 503 with Retry-After, not 500, when Postgres cannot serve the request now', () => {
    for (const [code, message] of <[string, string][]>[['57014', 'canceling statement due to statement timeout'], ['53300', 'sorry, too many clients already'], ['53200', 'out of memory'], ['55P03', 'could not obtain lock'], ['40P01', 'deadlock detected'], ['08006', 'connection failure'], ['EHOSTUNREACH', 'connect EHOSTUNREACH']]) {
      const sent = answer(pgError(code, message));
      assert.equal(sent.status, 503, code);
      assert.equal(sent.headers['retry-after'], '1', code);
    }
  });

  it('does not tell the caller where the database is', () => {
    const sent = answer(new PostgresUnavailableError('get', 10_000, new Error('connect ECONNREFUSED 10.0.0.5:5432')));
    assert.equal(sent.status, 503);
    assert.equal(sent.headers['retry-after'], '1');
    assert.doesNotMatch(JSON.stringify(sent.body), /10\.0\.0\.5|5432|ECONNREFUSED/);
    assert.deepEqual(answer(new RuntimeStoppedError()).body, { statusCode: 503, error: 'Service Unavailable', message: 'the service is stopping; retry shortly' });
    assert.equal(answer(new RequestTimeoutError({ type: 'Delivery', id: 'd1' }, 5_000)).status, 504, 'a request past its deadline is still a gateway timeout');
  });
});

/** Limits the HTTP layer checks must be those of the events it sends on, or a valid request is a 409 from the machine. */
describe('limits shared by routes and events', () => {
  it('a webhook URL the route takes fits the NotifyMe event, and a longer one is refused at the route', () => {
    const url = (length: number) => `https://1.1.1.1/${'a'.repeat(length - 'https://1.1.1.1/'.length)}`;
    const notifyMe = EVENT_CONTRACTS.Delivery.NotifyMe;
    assert.equal(notifyMeSchema.safeParse({ url: url(2_000) }).success, true);
    assert.equal(notifyMe.safeParse({ type: 'NotifyMe', url: url(2_000) }).success, true);
    assert.equal(notifyMeSchema.safeParse({ url: url(2_001) }).success, false);
  });

  it('a customer key acts for no more owners than the events carry', () => {
    const owners = (n: number) => Array.from({ length: n }, (_, i) => `o${i}`);
    assert.equal(customerKeysSchema.safeParse(`${'k'.repeat(32)}=${owners(MAX_OWNERS_PER_KEY).join('|')}`).success, true);
    assert.equal(EVENT_CONTRACTS.DeliveryRequest.Cancel.safeParse({ type: 'Cancel', owners: owners(MAX_OWNERS_PER_KEY) }).success, true);
    const tooMany = customerKeysSchema.safeParse(`${'k'.repeat(32)}=${owners(MAX_OWNERS_PER_KEY + 1).join('|')}`);
    assert.equal(tooMany.success, false);
    assert.match(tooMany.error?.issues[0]?.message ?? '', /at most 100 owners/);
    // Entries of one key count together: two entries of 60 owners are a key of 120.
    const split = customerKeysSchema.safeParse(`${'k'.repeat(32)}=${owners(60).join('|')},${'k'.repeat(32)}=${owners(120).slice(60).join('|')}`);
    assert.match(split.error?.issues[0]?.message ?? 'accepted', /at most 100 owners \(one has 120, over all its entries\)/);
    assert.deepEqual(customerKeysSchema.parse(`${'k'.repeat(32)}=a|b,${'k'.repeat(32)}=b|c`), [{ key: 'k'.repeat(32), owners: ['a', 'b', 'c'] }]);
  });

  it('refuses a key listed under two roles, naming both settings', () => {
    const k = 'k'.repeat(32);
    assert.throws(() => new ApiKeys({ CUSTOMER_API_KEYS: [], SERVICE_API_KEYS: [k], OPERATOR_API_KEYS: [k] }), /both SERVICE_API_KEYS and OPERATOR_API_KEYS/);
    assert.throws(() => new ApiKeys({ CUSTOMER_API_KEYS: [{ key: k, owners: ['o'] }], SERVICE_API_KEYS: [k], OPERATOR_API_KEYS: ['o'.repeat(32)] }), /both CUSTOMER_API_KEYS and SERVICE_API_KEYS/);
    assert.equal(new ApiKeys({ CUSTOMER_API_KEYS: [], SERVICE_API_KEYS: [k, k], OPERATOR_API_KEYS: ['o'.repeat(32)] }).authenticate(k)?.role, 'service', 'a key repeated in one list is fine');
  });
});
