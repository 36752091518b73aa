import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgumentsHost } from '@nestjs/common';
import { PostgresUnavailableError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RuntimeStoppedError } from '#rsm';
import { deliveryRequestSchema, EVENT_CONTRACTS, MAX_OWNERS_PER_KEY, MAX_TAG_LENGTH, MAX_WATCHDOG_MS, notifyMeSchema } from '#contracts';
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
    assert.equal(answer(new RuntimeStoppedError()).headers['retry-after'], '1', 'a stopping pod tells the caller when to come back');
  });

  it("keeps a handler's error text from the caller, and tells the runtime's errors apart by class, not by their words", async () => {
    const failed = answer(new RequestFailedError({ type: 'Delivery', id: 'd1' }, "handler failed 3 times, last: TypeError: Cannot read properties of undefined (reading 'x')"));
    assert.equal(failed.status, 500);
    assert.doesNotMatch(JSON.stringify(failed.body), /TypeError|reading 'x'/);
    assert.match(JSON.stringify(failed.body), /Delivery d1 could not handle the request/);
    // A refusal whose reason holds a connection error's words is still the machine's refusal.
    const rejected = new RequestRejectedError({ type: 'Delivery', id: 'd1' }, 'Connection terminated by the courier');
    const refused = answer(rejected);
    await new Promise((resolve) => setImmediate(resolve)); // the 409 reads the machine's state first
    assert.equal(refused.status, 409);
    assert.equal(refused.headers['retry-after'], undefined);
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

  it('an event carries only dates Date.parse reads, watchdogs a timer can wait, and tags and months as the routes bound them', () => {
    const request = { deliveryId: 'd1', ownerId: 'o1', pickupLocation: 'A', dropOffLocation: 'B', pickupTime: '2026-01-01T00:00:00Z', deadline: '2026-01-01T02:00:00Z', expedited: false, confirmationRequired: 'None', packageInfo: { packageId: 'p1', size: 'Small', weight: 1, tag: 't' } };
    const start = EVENT_CONTRACTS.DeliverySaga.Start;
    assert.equal(start.safeParse({ type: 'Start', request }).success, true);
    // 'soon' made the saga's deadline timer NaN: its step threw on every attempt until dead-lettered.
    for (const deadline of ['soon', '2026-13-01T00:00:00Z', `2026-01-01T00:00:00.${'0'.repeat(40)}Z`]) {
      assert.equal(start.safeParse({ type: 'Start', request: { ...request, deadline } }).success, false, deadline);
      assert.equal(EVENT_CONTRACTS.DeliverySaga.Reschedule.safeParse({ type: 'Reschedule', changes: { deadline } }).success, false, deadline);
    }
    assert.equal(start.safeParse({ type: 'Start', request: { ...request, packageInfo: { ...request.packageInfo, tag: 'x'.repeat(MAX_TAG_LENGTH + 1) } } }).success, false);
    // A watchdog's eightfold backoff must fit a timer, or every dispatch of the drone threw.
    const reserve = EVENT_CONTRACTS.Drone.Reserve;
    assert.equal(reserve.safeParse({ type: 'Reserve', deliveryId: 'd1', ownerId: 'o1', viaSaga: true, watchdogMs: MAX_WATCHDOG_MS }).success, true);
    assert.equal(reserve.safeParse({ type: 'Reserve', deliveryId: 'd1', ownerId: 'o1', viaSaga: true, watchdogMs: 1e15 }).success, false);
    assert.equal(EVENT_CONTRACTS.Fleet.Seed.safeParse({ type: 'Seed', droneIds: [], watchdogMs: MAX_WATCHDOG_MS + 1 }).success, false);
    // A month key from 'zzzz' sorted after every real month and was never evicted.
    const delivered = EVENT_CONTRACTS.Utilization.Delivered;
    assert.equal(delivered.safeParse({ type: 'Delivered', deliveryId: 'd1', at: new Date(0).toISOString() }).success, true);
    assert.equal(delivered.safeParse({ type: 'Delivered', deliveryId: 'd1', at: 'zzzz' }).success, false);
    // The route refuses what the event would: a request it takes is one the saga takes.
    assert.equal(deliveryRequestSchema.safeParse({ ...request, deadline: `2026-01-01T00:00:00.${'0'.repeat(40)}Z` }).success, false);
  });
});
