/** Injection tokens of the RSM Nest module. */
export const RSM_MODULE_OPTIONS = Symbol('RSM_MODULE_OPTIONS');
export const RSM_METRICS_REGISTRY = Symbol('RSM_METRICS_REGISTRY');
/** The origins of the other consoles (`console.services`), which may read `/rsm/*` cross-origin: see `RsmCorsMiddleware`. */
export const RSM_CONSOLE_ORIGINS = Symbol('RSM_CONSOLE_ORIGINS');
export const RSM_ACTIVITY_METADATA = 'rsm:activity';
/** Class metadata of the module's own controller, which guards its routes itself (see `RsmModuleOptions.adminTokens`). */
export const RSM_SELF_GUARDED = 'rsm:self-guarded';
