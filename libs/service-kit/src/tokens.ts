/** The process's Prometheus registry for services without an RSM runtime. */
export const SERVICE_METRICS_REGISTRY = Symbol('SERVICE_METRICS_REGISTRY');
