export { defineMachine, DEFAULT_FAILURE_POLICY } from './definition/machine-definition.js';
export type {
  AnyMachineDefinition,
  DataOf,
  EventsOf,
  FailurePolicy,
  Handler,
  MachineDefinition,
  MachineSpec,
  StateSpec,
  StateTargets,
  TransitionInfo,
} from './definition/machine-definition.js';
export type { CallOptions, StepContext, TimerOptions } from './definition/step-context.js';
export { machineKey, parseMachineKey } from './definition/types.js';
export type { ActivityCompleted, ActivityFailed, ActivityInput, ActivityOutcome, ActivityOutput, ActivityRef, EventTo, Json, MachineRef, ReplyMap, ReplyOf, RsmEvent, TimeoutEvent } from './definition/types.js';
export type { Effect } from './definition/effects.js';
export { DEFAULT_ACTIVITY_RETRY } from './activities/activity.js';
export type { ActivityContext, ActivityDefinition, ActivityRetryPolicy } from './activities/activity.js';
export { RsmRuntime } from './runtime/rsm-runtime.js';
export type { GapSkip, GapView, HealthReport, MachineInspection, MachineView, RequestOptions, RsmRuntimeDeps, SendOptions } from './runtime/rsm-runtime.js';
export { parseRsmOptions, rsmOptionsSchema, RsmConfigError } from './runtime/rsm-options.js';
export type { RsmOptions, RsmOptionsInput } from './runtime/rsm-options.js';
export { MachineNotFoundError, PostgresUnavailableError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmOverloadedError, RsmStartupError, RsmTimeoutError, RuntimeStoppedError } from './runtime/errors.js';
export { installFatalErrorHandlers } from './runtime/fatal-errors.js';
export type { FatalErrorHandlerOptions } from './runtime/fatal-errors.js';
export type { LagReport, LoadView } from './runtime/load-monitor.js';
export { CRASH_POINTS } from './runtime/crash-points.js';
export type { CrashHook, CrashPoint } from './runtime/crash-points.js';
export type { RsmLogger } from './runtime/logger.js';
export type { EventContracts } from './runtime/machine-registry.js';
export { createRsmDataSource, initializeRsmDataSource, poolOf } from './persistence/data-source.js';
export type { RsmDataSourceOptions, RsmPoolTimeouts } from './persistence/data-source.js';
export type { DeadLetterRow, InboxRow, MachineRow, StepRow } from './persistence/entities/rsm-entities.js';
export { RsmMetrics } from './metrics/rsm-metrics.js';
export { RsmModule } from './nest/rsm.module.js';
export type { RsmModuleAsyncOptions, RsmModuleOptions } from './nest/rsm.module.js';
export { RsmActivity } from './nest/rsm-activity.decorator.js';
export type { RsmActivityHandler, RsmActivityHandlerOf } from './nest/rsm-activity.decorator.js';
export { RSM_METRICS_REGISTRY, RSM_SELF_GUARDED } from './nest/rsm.constants.js';
export { RsmAdminGuard } from './nest/rsm-admin.guard.js';
export { badTextReason, bearerToken, TokenDigests } from './nest/http-input.js';

// ---- Admin API (operators: the `rsm` CLI and console) ----
export { ADMIN_MAX_LIMIT, InvalidCursorError } from './store/admin-store.js';
export type { ActivityView, AdminActor, AdminPage, AuditEntry, DeadLetterFilter, LetterResult, MachineCount, MachineFilter, OutboxView, TimerView } from './store/admin-store.js';
export { rsmTokenIdOf, tokenFingerprint } from './nest/rsm-admin.guard.js';
