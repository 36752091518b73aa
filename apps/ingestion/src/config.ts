import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, port } from '#service-kit';

export const ingestionConfigSchema = baseEnvSchema.extend({ PORT: port(DEFAULT_PORTS.ingestion) });
export type IngestionConfig = ReturnType<typeof ingestionConfigSchema.parse>;

/** The only place ingestion reads its environment. */
export const loadIngestionConfig = (): IngestionConfig => loadServiceConfig('ingestion', ingestionConfigSchema, process.env);
