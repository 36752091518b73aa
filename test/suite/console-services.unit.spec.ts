import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseEnvSchema, loadServiceConfig, rsmOptionsFor, ServiceConfigError } from '#service-kit';

describe('RSM_CONSOLE_SERVICES: where each service console links', () => {
  const keys = { SERVICE_API_KEYS: 'service-key-0123456789abcdef0123456789', OPERATOR_API_KEYS: 'operator-key-0123456789abcdef0123456789' };
  const load = (value?: string) => loadServiceConfig('delivery', baseEnvSchema, value === undefined ? keys : { ...keys, RSM_CONSOLE_SERVICES: value });

  it('reads <service>=<url> pairs into the RSM module options', () => {
    const config = load('delivery=http://127.0.0.1:3004, package=https://package.example');
    assert.deepEqual(config.RSM_CONSOLE_SERVICES, { delivery: 'http://127.0.0.1:3004', package: 'https://package.example' });
    assert.deepEqual(rsmOptionsFor('delivery', config).console, { services: { delivery: 'http://127.0.0.1:3004', package: 'https://package.example' } });
  });

  it('leaves the console to its own service when unset', () => {
    assert.equal(load().RSM_CONSOLE_SERVICES, undefined);
    assert.equal(rsmOptionsFor('delivery', load()).console, undefined);
  });

  it('stops start-up naming the variable for anything else', () => {
    for (const bad of ['delivery', 'delivery=javascript:alert(1)', '=http://x', 'Delivery=http://x', 'delivery=http://user@x', 'delivery=ftp://x']) {
      assert.throws(() => load(bad), (error: unknown) => error instanceof ServiceConfigError && /RSM_CONSOLE_SERVICES/.test(error.message), bad);
    }
  });
});
