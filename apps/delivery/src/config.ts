import { z } from 'zod';
import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, port } from '#service-kit';

const flag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');

export const configSchema = baseEnvSchema.extend({
  PORT: port(DEFAULT_PORTS['delivery']),
  /** Webhooks over plain http (local runs only): by default only https. */
  WEBHOOK_ALLOW_HTTP: flag,
  /** Webhooks to loopback, private and link-local addresses (tests on one machine only): by default refused. */
  WEBHOOK_ALLOW_PRIVATE: flag,
  /**
   * A webhook call that takes longer is abandoned and retried. At most 7.5 s: with the name's
   * lookup (2 s at most) it fits in the notify activity's 10 s attempt, which ends it anyway.
   */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(7_500).default(5_000),
  /** At most this much of a webhook's answer is read. */
  WEBHOOK_MAX_RESPONSE_BYTES: z.coerce.number().int().min(0).max(1_048_576).default(65_536),
});
export type DeliveryConfig = z.output<typeof configSchema>;

/** The only place delivery reads its environment. */
export const loadDeliveryConfig = (): DeliveryConfig => loadServiceConfig('delivery', configSchema, process.env);
