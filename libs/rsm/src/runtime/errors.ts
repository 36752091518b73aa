import type { MachineRef } from '../definition/types.js';

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

/** No answer within the timeout. The request may still be handled later: retry with the same key. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly ref: MachineRef,
    readonly timeoutMs: number,
  ) {
    super(`no reply from ${ref.type}/${ref.id} within ${timeoutMs} ms`);
  }
}

/** The runtime is stopping or stopped. */
export class RuntimeStoppedError extends Error {
  override readonly name = 'RuntimeStoppedError';
  constructor() {
    super('the RSM runtime is not running');
  }
}
