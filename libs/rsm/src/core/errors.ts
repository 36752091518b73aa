import type { MachineRef } from '../definition/types.js';
import type { GapNumbers } from './messages.js';

/** The addressed machine does not exist. */
export class MachineNotFoundError extends Error {
  override readonly name = 'MachineNotFoundError';
  constructor(readonly ref: MachineRef) {
    super(`no machine ${ref.type}/${ref.id}`);
  }
}

/** The machine did not accept the request in its current state, or its payload was invalid. */
export class RequestRejectedError extends Error {
  override readonly name = 'RequestRejectedError';
  constructor(
    readonly ref: MachineRef,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * A gap skip named a gap that is not the pair's gap any more (it filled, moved or another opened),
 * so nothing was skipped: `current` is the pair's gap now (null: none waits). Look again.
 */
export class GapChangedError extends Error {
  override readonly name = 'GapChangedError';
  constructor(
    readonly expected: GapNumbers,
    readonly current: GapNumbers | null,
  ) {
    super(
      `the gap is not ${expected.fromSeq}-${expected.toSeq} (epoch ${expected.epoch}) any more: ` +
        (current === null ? 'no gap waits' : `it is ${current.fromSeq}-${current.toSeq} (epoch ${current.epoch})`) +
        '; nothing was skipped',
    );
  }
}

/** The handler kept failing on the request; it was dead-lettered. */
export class RequestFailedError extends Error {
  override readonly name = 'RequestFailedError';
  constructor(
    readonly ref: MachineRef,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Work from outside refused because the deployment is behind (`admission` in the options): this
 * service or one downstream handles events `lagMs` after accepting them. Nothing was written; try
 * again after `retryAfterMs` (an HTTP API answers 429 with Retry-After).
 */
export class RsmOverloadedError extends Error {
  override readonly name = 'RsmOverloadedError';
  constructor(
    readonly lagMs: number,
    readonly source: string,
    readonly retryAfterMs: number,
  ) {
    super(`overloaded: ${source} handles events ${Math.round(lagMs)} ms after accepting them; retry in ${Math.ceil(retryAfterMs / 1_000)} s`);
  }
}

/**
 * A public call of the runtime did not finish within its deadline. Nothing is known about its
 * effect: a write may still commit later, so retry writes with the same idempotency key.
 */
export class RsmTimeoutError extends Error {
  override readonly name: string = 'RsmTimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    message = `${operation} did not finish within ${timeoutMs} ms`,
  ) {
    super(message);
  }
}

/**
 * Postgres did not answer a public call: the connection could not be had within
 * `postgres.connectTimeoutMs`, the statement's answer did not come within `postgres.queryTimeoutMs`,
 * or the connection broke. A timeout as far as callers go (nothing is known about a write: retry
 * it with the same key); `cause` is the driver's error.
 */
export class PostgresUnavailableError extends RsmTimeoutError {
  override readonly name = 'PostgresUnavailableError';
  constructor(operation: string, timeoutMs: number, cause: unknown) {
    super(operation, timeoutMs, `${operation}: Postgres did not answer (${cause instanceof Error ? cause.message : String(cause)})`);
    this.cause = cause;
  }
}

/**
 * No answer within the timeout from `request` (or no durable acceptance from `send`/`create`). The
 * event may still be handled later: retry with the same key.
 */
export class RequestTimeoutError extends RsmTimeoutError {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly ref: MachineRef,
    timeoutMs: number,
    operation = 'request',
  ) {
    super(operation, timeoutMs, `no ${operation === 'request' ? 'reply' : 'acceptance'} from ${ref.type}/${ref.id} within ${timeoutMs} ms`);
  }
}

/** The runtime is stopping or stopped. */
export class RuntimeStoppedError extends Error {
  override readonly name = 'RuntimeStoppedError';
  constructor() {
    super('the RSM runtime is not running');
  }
}

/**
 * The runtime could not start: a dependency did not answer within its start-up deadline, or the
 * configuration contradicts itself (the message says which).
 */
export class RsmStartupError extends Error {
  override readonly name = 'RsmStartupError';
}

/**
 * The runtime refused to start: its machine definitions cannot handle what is stored (machines in
 * states a definition dropped without a migration, machines at versions it cannot migrate from,
 * pending events of types it no longer accepts and does not upcast). Each problem names the
 * machine type, the state, version or event, and how many; nothing was started.
 */
export class RsmUnsafeVersionError extends RsmStartupError {
  constructor(readonly problems: readonly { readonly type: string; readonly kind: 'state' | 'version' | 'event'; readonly subject: string; readonly count: number; readonly message: string }[]) {
    super(`machine definitions cannot handle what is stored; add migrations, upcasters or keep the states and events (nothing was started):\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
  }
}
