import { z } from 'zod';
import { DEFAULT_PORTS } from '#contracts';
import { baseEnvSchema, loadServiceConfig, machineDefinitionsSetting, port } from '#service-kit';

export const configSchema = baseEnvSchema.extend({
  PORT: port(DEFAULT_PORTS['workflow']),
  MACHINE_DEFINITIONS: machineDefinitionsSetting,
});
export type WorkflowConfig = z.output<typeof configSchema>;

/** The only place workflow reads its environment. */
export const loadWorkflowConfig = (): WorkflowConfig => loadServiceConfig('workflow', configSchema, process.env);
