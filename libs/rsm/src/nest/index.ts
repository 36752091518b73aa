// `#rsm/nest`: the runtime as a NestJS module, the activity decorator, the module's injection tokens
// and the HTTP input helpers its controller uses (service-kit guards its own routes with the same).
// Everything else comes from `#rsm`. Every name here is in libs/rsm/api/rsm-nest.api.md.
export { RsmModule } from './rsm.module.js';
export type { RsmModuleAsyncOptions, RsmModuleOptions } from './rsm.module.js';
export type { RsmConsoleOptions } from './rsm-console.controller.js';
export { RsmActivity } from './rsm-activity.decorator.js';
export type { RsmActivityHandler, RsmActivityHandlerOf } from './rsm-activity.decorator.js';
export { RSM_METRICS_REGISTRY, RSM_SELF_GUARDED } from './rsm.constants.js';
export { badTextReason, bearerToken, TokenDigests } from './http-input.js';
export { rsmTokenIdOf, tokenFingerprint } from './rsm-admin.guard.js';
