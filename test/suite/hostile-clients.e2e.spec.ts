/**
 * Hostile clients against the six running apps: a property-based fuzzer (fast-check) builds, for
 * every route of every app, a request that a legitimate caller would make and then spoils it in
 * one way an attacker or a broken client would: no key, a garbage or malformed key, the wrong
 * role's key, another customer's key or ids, ids that are not ids (prototype names, NUL, broken
 * UTF-8, 3,000 characters), hostile values in any body field (NUL, lone surrogates, wrong types,
 * huge strings, `__proto__` keys), other content types, malformed or oversized JSON, bad queries,
 * oversized Idempotency-Keys. Each such request must be refused with a 4xx that says what was
 * wrong; none may answer 5xx, restart a process or change anything; afterwards every invariant
 * of the suite still holds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { checkInvariants, formatResults, readSnapshot, waitUntilQuiet, type SuiteSnapshot } from '#verifier';
import type { ServiceName } from '#contracts';
import { SuiteProcesses } from '../support/suite-processes.js';

type Role = 'customer' | 'other' | 'service' | 'operator';
type Body = Record<string, unknown>;

interface Route {
  readonly name: string;
  readonly service: ServiceName;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path with `{id}` where an id goes. */
  readonly path: string;
  /** The id a legitimate caller would use. */
  readonly id?: () => string;
  /** Whether an id that does not exist is a 404 (false: the route creates or ignores it). */
  readonly idMustExist?: boolean;
  /** The roles that may call it; `own` routes let a customer reach only its own ids. */
  readonly roles: readonly Role[];
  readonly own?: boolean;
  readonly body?: () => Body;
  /** Body fields that a request cannot do without. */
  readonly required?: readonly string[];
  readonly query?: string;
  readonly list?: boolean;
}

/** Path segments that are no id of the API (already percent-encoded as a client would send them). */
const BAD_IDS = ['__proto__', '%5F%5Fproto%5F%5F', 'a%20b', '..%2F..%2Fetc', '%00', 'x%00y', '%ED%A0%80', '%', 'a'.repeat(3_000), '%C3%BC', '.hidden', '-x', '%F0%9F%9A%81', "x'%20OR%20'1'='1", '%22%3E%3Cscript%3E'];
/** Names of Object.prototype: valid ids, which must behave as ids of nothing. */
const PROTOTYPE_IDS = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'prototype', 'isPrototypeOf'];
/** Values no field of any body accepts. */
const BAD_VALUES: readonly unknown[] = ['a\u0000b', '\u0000', 'x\ud800y', '\udfff', 'y'.repeat(20_000), null, true, {}, [], { $gt: '' }, ['a', 'b'], -1e308];

describe('hostile clients: every route of every app against a fuzzer', { concurrency: false }, () => {
  const suite = new SuiteProcesses({ 'drone-scheduler': { FLEET_SIZE: '4' }, 'drone-sim': { LEG_MS_MIN: '0', LEG_MS_MAX: '50' } });
  const keys = () => ({ customer: suite.keys.customerKey, other: suite.keys.otherCustomerKey, service: suite.keys.serviceKey, operator: suite.keys.operatorKey });
  const own = { delivery: '', package: '' };
  const theirs = { delivery: '', package: '' };
  const accepted = new Set<string>();
  let before0: SuiteSnapshot;
  const startTimes = new Map<ServiceName, string>();

  const call = async (service: ServiceName, method: string, path: string, body: string | undefined, headers: Record<string, string>) => {
    const response = await fetch(`${suite.url(service)}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(20_000) });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  };
  const auth = (role: Role): Record<string, string> => ({ authorization: `Bearer ${keys()[role]}` });
  const startTime = async (service: ServiceName) => /^process_start_time_seconds (\d+)/m.exec((await call(service, 'GET', '/metrics', undefined, {})).text)?.[1] ?? '?';

  const deliveryRequest = (id: string, ownerId: string) => ({
    deliveryId: id,
    ownerId,
    pickupLocation: 'Seattle',
    dropOffLocation: 'Redmond',
    pickupTime: new Date().toISOString(),
    deadline: new Date(Date.now() + 3_600_000).toISOString(),
    expedited: false,
    confirmationRequired: 'None',
    packageInfo: { packageId: `pkg-${id}`, size: 'Small', weight: 2, tag: 't' },
  });
  let fresh = 0;
  const freshId = () => `fz-${suite.runId}-${(fresh += 1)}`;

  const routes: Route[] = [
    { name: 'POST deliveryrequests', service: 'ingestion', method: 'POST', path: '/api/deliveryrequests', roles: ['customer'], body: () => deliveryRequest(freshId(), 'o1'), required: ['ownerId', 'pickupLocation', 'dropOffLocation', 'pickupTime', 'deadline', 'expedited', 'confirmationRequired', 'packageInfo'] },
    { name: 'GET deliveryrequests', service: 'ingestion', method: 'GET', path: '/api/deliveryrequests', roles: ['operator'], list: true },
    { name: 'GET deliveryrequests/:id', service: 'ingestion', method: 'GET', path: '/api/deliveryrequests/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer', 'operator'], own: true },
    { name: 'DELETE deliveryrequests/:id', service: 'ingestion', method: 'DELETE', path: '/api/deliveryrequests/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer'], own: true },
    { name: 'PATCH deliveryrequests/:id', service: 'ingestion', method: 'PATCH', path: '/api/deliveryrequests/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer'], own: true, body: () => ({ dropOffLocation: 'Bellevue' }), required: ['dropOffLocation'] },
    { name: 'GET workflows', service: 'workflow', method: 'GET', path: '/api/workflows', roles: ['operator'], list: true },
    { name: 'GET workflows/:id', service: 'workflow', method: 'GET', path: '/api/workflows/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer', 'operator'], own: true },
    { name: 'PUT packages/:id', service: 'package', method: 'PUT', path: '/api/packages/{id}', id: () => own.package, roles: ['customer'], own: true, body: () => ({ size: 'Small', weight: 2, tag: 't', ownerId: 'o1' }), required: ['size', 'weight', 'tag'] },
    { name: 'PATCH packages/:id', service: 'package', method: 'PATCH', path: '/api/packages/{id}', id: () => own.package, idMustExist: true, roles: ['customer'], own: true, body: () => ({ tag: 'u' }), required: ['tag'] },
    { name: 'GET packages', service: 'package', method: 'GET', path: '/api/packages', roles: ['operator'], list: true },
    { name: 'GET packages/:id', service: 'package', method: 'GET', path: '/api/packages/{id}', id: () => own.package, idMustExist: true, roles: ['customer', 'operator'], own: true },
    { name: 'PUT dronedeliveries/:id', service: 'drone-scheduler', method: 'PUT', path: '/api/dronedeliveries/{id}', id: freshId, roles: ['service'], body: () => ({ ownerId: 'o1' }), required: ['ownerId'] },
    { name: 'DELETE dronedeliveries/:id', service: 'drone-scheduler', method: 'DELETE', path: '/api/dronedeliveries/{id}', id: freshId, roles: ['service'] },
    { name: 'GET utilization', service: 'drone-scheduler', method: 'GET', path: '/api/dronedeliveries/utilization', roles: ['customer', 'operator'], query: 'ownerId=o1&year=2026&month=11' },
    { name: 'GET fleet', service: 'drone-scheduler', method: 'GET', path: '/api/fleet', roles: ['operator'] },
    { name: 'GET drones', service: 'drone-scheduler', method: 'GET', path: '/api/drones', roles: ['service', 'operator'], list: true },
    { name: 'GET drones/:id', service: 'drone-scheduler', method: 'GET', path: '/api/drones/{id}', id: () => 'drone-1', idMustExist: true, roles: ['service', 'operator'] },
    { name: 'POST drones/:id/status', service: 'drone-scheduler', method: 'POST', path: '/api/drones/{id}/status', id: () => 'drone-1', idMustExist: true, roles: ['service'], body: () => ({ deliveryId: own.delivery, status: 'PickedUp' }), required: ['deliveryId', 'status'] },
    { name: 'GET drone-scheduler flights', service: 'drone-scheduler', method: 'GET', path: '/api/flights', roles: ['service', 'operator'] },
    { name: 'GET deliveries', service: 'delivery', method: 'GET', path: '/api/deliveries', roles: ['operator'], list: true },
    { name: 'GET deliveries/:id', service: 'delivery', method: 'GET', path: '/api/deliveries/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer', 'service', 'operator'], own: true },
    { name: 'GET deliveries/:id/status', service: 'delivery', method: 'GET', path: '/api/deliveries/{id}/status', id: () => own.delivery, idMustExist: true, roles: ['customer', 'service', 'operator'], own: true },
    { name: 'PATCH deliveries/:id', service: 'delivery', method: 'PATCH', path: '/api/deliveries/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer'], own: true, body: () => ({ dropOffLocation: 'Kirkland' }), required: ['dropOffLocation'] },
    { name: 'DELETE deliveries/:id', service: 'delivery', method: 'DELETE', path: '/api/deliveries/{id}', id: () => own.delivery, idMustExist: true, roles: ['customer'], own: true },
    { name: 'POST deliveries/:id/confirmations', service: 'delivery', method: 'POST', path: '/api/deliveries/{id}/confirmations', id: () => own.delivery, idMustExist: true, roles: ['service'], body: () => ({ confirmationType: 'None', confirmationBlob: '' }), required: ['confirmationType'] },
    { name: 'POST deliveries/:id/notifymerequests', service: 'delivery', method: 'POST', path: '/api/deliveries/{id}/notifymerequests', id: () => own.delivery, idMustExist: true, roles: ['customer'], own: true, body: () => ({ url: 'https://hooks.example.com/delivered' }), required: ['url'] },
    { name: 'POST flights', service: 'drone-sim', method: 'POST', path: '/api/flights', roles: ['service'], body: () => ({ droneId: 'drone-9', deliveryId: freshId(), pickupLocation: 'A', dropOffLocation: 'B' }), required: ['droneId', 'deliveryId', 'pickupLocation', 'dropOffLocation'] },
    { name: 'GET flights', service: 'drone-sim', method: 'GET', path: '/api/flights', roles: ['service', 'operator'] },
    ...(['ingestion', 'workflow', 'package', 'drone-scheduler', 'delivery'] as const).flatMap((service): Route[] => [
      { name: `GET ${service} /rsm/dead-letters`, service, method: 'GET', path: '/rsm/dead-letters', roles: ['operator'] },
      { name: `POST ${service} /rsm/dead-letters/:id/redrive`, service, method: 'POST', path: '/rsm/dead-letters/{id}/redrive', id: () => '1', idMustExist: true, roles: ['operator'] },
      { name: `GET ${service} /rsm/machines/:type/:id`, service, method: 'GET', path: '/rsm/machines/Fleet/{id}', id: () => 'fleet', roles: ['operator'] },
    ]),
  ];

  /** One way to spoil a legitimate request; each is refused by construction. */
  type Spoil =
    | { kind: 'no-key' }
    | { kind: 'bad-key'; header: string }
    | { kind: 'wrong-role'; role: Role }
    | { kind: 'foreign' }
    | { kind: 'bad-id'; id: string }
    | { kind: 'prototype-id'; id: string }
    | { kind: 'field'; field: number; value: unknown }
    | { kind: 'missing'; field: number }
    | { kind: 'extra-key'; key: string }
    | { kind: 'content-type'; type: string }
    | { kind: 'raw-body'; body: string }
    | { kind: 'query'; query: string }
    | { kind: 'idempotency-key'; key: string };

  const spoils = (route: Route): fc.Arbitrary<Spoil> => {
    const options: fc.Arbitrary<Spoil>[] = [
      fc.constant<Spoil>({ kind: 'no-key' }),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `Bearer ${'k'.repeat(600)}`, 'Bearer not-a-key-of-anyone-at-all-0000', `Token ${suite.keys.operatorKey}`, `Bearer  ${suite.keys.operatorKey}`, `Bearer ${suite.keys.operatorKey.slice(0, -1)}`, 'Bearer \u00e9t\u00e9').map((header): Spoil => ({ kind: 'bad-key', header })),
    ];
    const path = route.path.startsWith('/rsm/');
    const wrong = (['customer', 'service', 'operator'] as const).filter((r) => !route.roles.includes(r));
    if (wrong.length > 0) options.push(fc.constantFrom(...wrong).map((role): Spoil => ({ kind: 'wrong-role', role })));
    if (route.own === true && route.id !== undefined) options.push(fc.constant<Spoil>({ kind: 'foreign' }));
    if (route.id !== undefined && !path) options.push(fc.constantFrom(...BAD_IDS).map((id): Spoil => ({ kind: 'bad-id', id })));
    if (route.id !== undefined && route.idMustExist === true && !path) options.push(fc.constantFrom(...PROTOTYPE_IDS).map((id): Spoil => ({ kind: 'prototype-id', id })));
    if (path && route.id !== undefined && route.idMustExist === true) options.push(fc.constantFrom('abc', '-1', '99999999999999999999', '9223372036854775808', '1e3', '%00', '0x10').map((id): Spoil => ({ kind: 'bad-id', id })));
    if (route.body !== undefined) {
      const fields = route.body();
      const names = Object.keys(fields);
      options.push(fc.record({ field: fc.nat(names.length - 1), value: fc.constantFrom(...BAD_VALUES) }).map(({ field, value }): Spoil => ({ kind: 'field', field, value })));
      if ((route.required ?? []).length > 0) options.push(fc.nat((route.required ?? []).length - 1).map((field): Spoil => ({ kind: 'missing', field })));
      options.push(fc.constantFrom('__proto__', 'constructor', 'prototype', 'isAdmin', 'ownerId ').map((key): Spoil => ({ kind: 'extra-key', key })));
      options.push(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream').map((type): Spoil => ({ kind: 'content-type', type })));
      options.push(fc.constantFrom('{', '{"a":', 'null', '[]', '42', '"text"', `{"x":"${'z'.repeat(200_000)}"}`, '{"a":1,"a":2,', `${'['.repeat(5_000)}${']'.repeat(5_000)}`).map((body): Spoil => ({ kind: 'raw-body', body })));
    }
    if (route.list === true) options.push(fc.constantFrom('limit=0', 'limit=100000', 'limit=abc', 'limit=1&limit=2', 'after=__proto__', `after=${'a'.repeat(3_000)}`, 'state=Bogus&stage=Bogus', 'unknown=1', 'after=%00').map((query): Spoil => ({ kind: 'query', query })));
    if (route.name === 'POST deliveryrequests') options.push(fc.constantFrom('k'.repeat(201), 'k'.repeat(3_000), 'a b').map((key): Spoil => ({ kind: 'idempotency-key', key })));
    return fc.oneof(...options);
  };

  /** The request a legitimate caller would send, spoiled. */
  const build = (route: Route, spoil: Spoil) => {
    const role: Role = route.roles[0] ?? 'operator';
    const headers: Record<string, string> = { ...auth(role) };
    let id = route.id?.();
    let body: Body | undefined = route.body?.();
    let text: string | undefined;
    let query = route.query;
    switch (spoil.kind) {
      case 'no-key':
        delete headers.authorization;
        break;
      case 'bad-key':
        headers.authorization = spoil.header;
        break;
      case 'wrong-role':
        Object.assign(headers, auth(spoil.role));
        break;
      case 'foreign':
        // Another customer's id with one's own key (or one's id with another's key for creation routes).
        if (route.method === 'PUT') id = theirs.package;
        else id = route.path.includes('packages') ? theirs.package : theirs.delivery;
        break;
      case 'bad-id':
      case 'prototype-id':
        id = spoil.id;
        break;
      case 'field': {
        const name = Object.keys(body ?? {})[spoil.field] as string;
        body = { ...body, [name]: spoil.value };
        break;
      }
      case 'missing': {
        const name = route.required?.[spoil.field] as string;
        const rest = { ...body };
        delete rest[name];
        body = rest;
        break;
      }
      case 'extra-key':
        text = JSON.stringify(body).replace(/^\{/, `{${JSON.stringify(spoil.key)}:{"polluted":true},`);
        break;
      case 'content-type':
        headers['content-type'] = spoil.type;
        text = spoil.type.startsWith('application/x-www-form') ? 'ownerId=o1&size=Small' : JSON.stringify(body);
        break;
      case 'raw-body':
        text = spoil.body;
        break;
      case 'query':
        query = spoil.query;
        break;
      case 'idempotency-key':
        headers['idempotency-key'] = spoil.key;
        break;
    }
    if (text === undefined && body !== undefined) text = JSON.stringify(body);
    if (text !== undefined) headers['content-type'] ??= 'application/json';
    const path = `${route.path.replace('{id}', id ?? '')}${query !== undefined ? `?${query}` : ''}`;
    return { path, headers, text };
  };

  const tally = new Map<string, number>();

  before(async () => {
    await suite.startAll();
    // Legitimate state the attacker aims at: a completed delivery and a package of each customer.
    own.delivery = `own-${suite.runId}`;
    theirs.delivery = `theirs-${suite.runId}`;
    own.package = `own-pkg-${suite.runId}`;
    theirs.package = `their-pkg-${suite.runId}`;
    for (const [id, owner, role] of [[own.delivery, 'o1', 'customer'], [theirs.delivery, 'o2', 'other']] as const) {
      const answer = await call('ingestion', 'POST', '/api/deliveryrequests', JSON.stringify(deliveryRequest(id, owner)), { ...auth(role), 'content-type': 'application/json' });
      assert.equal(answer.status, 202, answer.text);
      accepted.add(id);
    }
    for (const [id, role, ownerId] of [[own.package, 'customer', 'o1'], [theirs.package, 'other', 'o2']] as const) {
      const answer = await call('package', 'PUT', `/api/packages/${id}`, JSON.stringify({ size: 'Small', weight: 1, tag: 'mine', ownerId }), { ...auth(role), 'content-type': 'application/json' });
      assert.equal(answer.status, 201, answer.text);
    }
    const quiet = await waitUntilQuiet(suite.urls, 120_000, { operatorKey: suite.keys.operatorKey });
    assert.ok(quiet.quiet, 'the suite is quiet before the attack');
    before0 = quiet.snapshot;
    for (const service of ['ingestion', 'workflow', 'package', 'drone-scheduler', 'delivery', 'drone-sim'] as const) startTimes.set(service, await startTime(service));
  });

  after(async () => {
    await suite.stopAll();
  });

  it('refuses every spoiled request with a 4xx naming what was wrong, never a 5xx', async () => {
    const routeArb = fc.constantFrom(...routes).chain((route) => spoils(route).map((spoil) => ({ route, spoil })));
    await fc.assert(
      fc.asyncProperty(routeArb, async ({ route, spoil }) => {
        const request = build(route, spoil);
        const answer = await call(route.service, route.method, request.path, request.text, request.headers);
        const key = `${route.name.padEnd(44)} ${spoil.kind.padEnd(15)} ${answer.status}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        const what = `${route.method} ${route.service}${request.path.slice(0, 200)} (${JSON.stringify(spoil).slice(0, 120)}) answered ${answer.status}: ${answer.text.slice(0, 300)}`;
        try {
          assert.ok(answer.status < 500, `no 5xx: ${what}`);
          assert.ok(answer.status >= 400, `refused: ${what}`);
          const message = (answer.json as { message?: unknown } | undefined)?.message;
          assert.ok((typeof message === 'string' && message.length > 0) || (Array.isArray(message) && message.length > 0), `a 4xx says what was wrong: ${what}`);
          if (spoil.kind === 'wrong-role') assert.equal(answer.status, 403, `a known key of another role is 403: ${what}`);
          if (answer.status === 400 && spoil.kind === 'field') assert.ok(Array.isArray((answer.json as { fields?: unknown }).fields), `a 400 names the field: ${what}`);
        } catch (error) {
          console.log(`# FAILED: ${(error as Error).message}`);
          throw error;
        }
      }),
      { numRuns: 1_500, seed: 20261128, endOnFailure: true },
    );
    const byStatus = new Map<string, number>();
    for (const [key, n] of tally) {
      const status = key.slice(-3);
      byStatus.set(status, (byStatus.get(status) ?? 0) + n);
    }
    console.log(`# hostile requests: ${[...tally.values()].reduce((a, b) => a + b, 0)} over ${new Set([...tally.keys()].map((k) => k.slice(0, 44))).size} routes; by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
    for (const [key, n] of [...tally].sort()) console.log(`#   ${key} x${n}`);
  });

  it('restarted no process and changed nothing, and every invariant holds', async () => {
    for (const [service, started] of startTimes) assert.equal(await startTime(service), started, `${service} was not restarted`);
    const now = await readSnapshot(suite.urls, suite.keys.operatorKey);
    assert.deepEqual(now, before0, 'nothing a refused request touched changed');
    const results = checkInvariants(now, { accepted });
    console.log(formatResults(results).split('\n').map((l) => `# ${l}`).join('\n'));
    assert.deepEqual(results.filter((r) => !r.ok), []);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).includes('polluted'), false);
  });
});
