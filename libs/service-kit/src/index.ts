export { bootstrapService, runMain } from './bootstrap.js';
export type { BootstrapOptions } from './bootstrap.js';
export { baseEnvSchema, loadServiceConfig, port, ServiceConfigError } from './service-config.js';
export { RsmErrorFilter, validationException } from './http-errors.js';
export { HttpMetricsInterceptor } from './http-metrics.interceptor.js';
export { ServiceKitModule } from './service-kit.module.js';
export type { ServiceKitOptions } from './service-kit.module.js';
export { SERVICE_METRICS_REGISTRY } from './tokens.js';
export { rsmOptionsFor } from './rsm-options.js';
