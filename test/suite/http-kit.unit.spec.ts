import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgumentsHost } from '@nestjs/common';
import { PostgresUnavailableError, RequestTimeoutError, RuntimeStoppedError } from '#rsm';
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
    for (const [code, message] of <[string, string][]>[['57014', 'canceling statement due to statement timeout'], ['53300', 'sorry, too many clients already'], ['53200', 'out of memory'], ['55P03', 'could not obtain lock'], ['40P01', 'deadlock detected'], ['08006', 'connection failure']]) {
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
