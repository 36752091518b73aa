// `#rsm`: what a service needs to author machines and activities, run them, and handle the errors
// the runtime throws. Plain Node: nothing reachable from here loads NestJS (the module, decorator and
// HTTP helpers are `#rsm/nest`; the test runtime and simulator are `#rsm/testing`). Every name here
// is in libs/rsm/api/rsm.api.md, which `npm test` checks: see the README's "Public API".

// Authoring: machines, their events and refs.
export { defineMachine, DEFAULT_FAILURE_POLICY } from './definition/machine-definition.js';
export type {
  AnyMachineDefinition,
  DataOf,
  EventOf,
  EventsOf,
  FailurePolicy,
  Handler,
  HandlerReply,
  MachineDefinition,
  MachineSpec,
  StateHandlers,
  StateSpec,
  StateTargets,
  TransitionInfo,
  VersionOf,
} from './definition/machine-definition.js';
export type { DefinitionVersions, ErasedMigrationStep, EventUpcasters, MachineVersion, MigrationChain, MigrationChainData, MigrationContext, MigrationStep, Migrations } from './definition/versions.js';
export type { CallOptions, StepContext, TimerOptions } from './definition/step-context.js';
export { machineKey, parseMachineKey } from './definition/types.js';
export type { ActivityCompleted, ActivityFailed, ActivityInput, ActivityOutcome, ActivityOutput, ActivityRef, EventTo, Json, MachineRef, ReplyMap, ReplyOf, RsmEvent, TimeoutEvent } from './definition/types.js';

// Authoring: activities.
export { DEFAULT_ACTIVITY_RETRY } from './definition/activity.js';
export type { ActivityContext, ActivityDefinition, ActivityRetryPolicy, AnyActivityDefinition } from './definition/activity.js';

// Runtime: the runtime, its options and what it reports.
export { RsmRuntime } from './runtime/rsm-runtime.js';
export type { GapNumbers } from './core/messages.js';
export type { GapSkip, GapView, HealthReport, MachineInspection, MachineView, RequestOptions, RsmRuntimeDeps, SendOptions, TypeVersions } from './runtime/rsm-runtime.js';
export { parseRsmOptions, rsmOptionsSchema, RsmConfigError } from './core/rsm-options.js';
export type { RsmOptions, RsmOptionsInput } from './core/rsm-options.js';
export type { LagReport, LoadView } from './runtime/load-monitor.js';
export type { RsmLogger } from './core/logger.js';
// For crash tests: `RsmRuntimeDeps.crashHook` is called at each named point of the runtime.
export { CRASH_POINTS } from './core/crash-points.js';
export type { CrashHook, CrashPoint } from './core/crash-points.js';
// What inspection and the dead-letter listing return (rows as stored).
export type { DeadLetterRow, InboxRow, MachineRow, StepRow } from './store/entities/rsm-entities.js';
export type { StepSend } from './planning/step-planner.js';
export type { EventContracts } from './planning/machine-registry.js';
// Type only: the runtime builds it (`runtime.metrics`); a service reads its counters.
export type { RsmMetrics } from './metrics/rsm-metrics.js';
// Without Nest, what `RsmModule` does on a fatal error (see the README, "Fatal errors end the process cleanly").
export { installFatalErrorHandlers } from './runtime/fatal-errors.js';
export type { FatalErrorHandlerOptions } from './runtime/fatal-errors.js';

// Errors.
export { isRetryablePgError } from './store/pg-errors.js';
export { GapChangedError, MachineNotFoundError, PostgresUnavailableError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmOverloadedError, RsmStartupError, RsmTimeoutError, RsmUnsafeVersionError, RuntimeStoppedError } from './core/errors.js';

// Admin API (operators: the `rsm` CLI and the console).
export { ADMIN_MAX_LIMIT, InvalidCursorError } from './store/admin-store.js';
export type { ActivityView, AdminActor, AdminPage, AuditEntry, DeadLetterFilter, LetterResult, MachineCount, MachineFilter, OutboxView, TimerView } from './store/admin-store.js';
