import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadServiceConfig, ServiceConfigError } from '#service-kit';
import { configSchema as deliverySchema } from '../../apps/delivery/src/config.js';
import { configSchema as schedulerSchema } from '../../apps/drone-scheduler/src/config.js';
import { configSchema as simSchema } from '../../apps/drone-sim/src/config.js';

const keys = { SERVICE_API_KEYS: 'service-key-0123456789abcdef0123456789', OPERATOR_API_KEYS: 'operator-key-0123456789abcdef0123456789' };

/** The message start-up stops with, or undefined when the configuration loads. */
function refusal(load: () => unknown): string | undefined {
  try {
    load();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ServiceConfigError, String(error));
    return error.message;
  }
}

describe('the apps refuse configuration that would fail every call later', () => {
  const sim = (env: Record<string, string>) => loadServiceConfig('drone-sim', simSchema, { ...keys, ...env });
  const scheduler = (env: Record<string, string>) => loadServiceConfig('drone-scheduler', schedulerSchema, { ...keys, ...env });

  it('takes a service URL of scheme, host and port, and drops one trailing slash', () => {
    assert.equal(sim({ DELIVERY_URL: 'http://delivery:3004/' }).DELIVERY_URL, 'http://delivery:3004');
    assert.equal(sim({ DRONE_SCHEDULER_URL: 'HTTPS://Scheduler.Example' }).DRONE_SCHEDULER_URL, 'https://scheduler.example');
    assert.equal(sim({}).DELIVERY_URL, 'http://127.0.0.1:3004');
    assert.equal(scheduler({ SIM_URL: 'http://drone-sim:3005/' }).SIM_URL, 'http://drone-sim:3005');
  });

  it('stops start-up naming the variable for any other URL', () => {
    for (const bad of ['drone-sim:3005', 'ftp://sim', 'http://u:p@sim', 'http://sim/api', 'http://sim//', 'http://sim?x=1', 'http://sim#top', 'http://sim/?', '']) {
      assert.match(refusal(() => scheduler({ SIM_URL: bad })) ?? 'loaded', /SIM_URL: /, bad);
      assert.match(refusal(() => sim({ DELIVERY_URL: bad })) ?? 'loaded', /DELIVERY_URL: /, bad);
    }
  });

  it("refuses legs Node's timers cannot wait for, and a shortest leg longer than the longest", () => {
    assert.match(refusal(() => sim({ LEG_MS_MIN: '500', LEG_MS_MAX: '100' })) ?? 'loaded', /LEG_MS_MAX: must be at least LEG_MS_MIN/);
    assert.match(refusal(() => sim({ LEG_MS_MAX: '2147483648' })) ?? 'loaded', /LEG_MS_MAX/);
    assert.match(refusal(() => scheduler({ FLIGHT_WATCHDOG_MS: '1000000000' })) ?? 'loaded', /FLIGHT_WATCHDOG_MS/);
    assert.equal(sim({ LEG_MS_MIN: '100', LEG_MS_MAX: '100' }).LEG_MS_MAX, 100);
  });

  it('refuses a webhook timeout longer than the notify attempt that holds it', () => {
    const delivery = (env: Record<string, string>) => loadServiceConfig('delivery', deliverySchema, { ...keys, ...env });
    assert.equal(delivery({ WEBHOOK_TIMEOUT_MS: '7500' }).WEBHOOK_TIMEOUT_MS, 7_500);
    assert.match(refusal(() => delivery({ WEBHOOK_TIMEOUT_MS: '30000' })) ?? 'loaded', /WEBHOOK_TIMEOUT_MS/);
  });
});
