import { z } from 'zod';
import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, port } from '#service-kit';

export const configSchema = baseEnvSchema.extend({
  PORT: port(DEFAULT_PORTS['package']),
});
export type PackageConfig = z.output<typeof configSchema>;

/** The only place package reads its environment. */
export const loadPackageConfig = (): PackageConfig => loadServiceConfig('package', configSchema, process.env);
