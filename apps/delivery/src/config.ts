import { z } from 'zod';
import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, port } from '#service-kit';

export const configSchema = baseEnvSchema.extend({
  PORT: port(DEFAULT_PORTS['delivery']),
});
export type DeliveryConfig = z.output<typeof configSchema>;

/** The only place delivery reads its environment. */
export const loadDeliveryConfig = (): DeliveryConfig => loadServiceConfig('delivery', configSchema, process.env);
