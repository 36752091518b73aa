/**
 * A deadline shared by the stages of one call: every stage races the same timer, which is cleared
 * when the call ends, whatever the stage. (A timer cleared after the first stage is how `request`
 * once hung forever on a reply.)
 *
 * @example
 * const deadline = new Deadline(5_000, () => new RsmTimeoutError('get', 5_000));
 * try { return await deadline.race(query()); } finally { deadline.clear(); }
 */
export class Deadline {
  private readonly timer: NodeJS.Timeout;
  private readonly expiredPromise: Promise<never>;
  private expiredFlag = false;

  constructor(timeoutMs: number, makeError: () => Error, onExpire?: () => void) {
    let reject!: (error: Error) => void;
    this.expiredPromise = new Promise<never>((_, rej) => {
      reject = rej;
    });
    // Nobody may be racing at the instant it fires; that must not be an unhandled rejection.
    this.expiredPromise.catch(() => undefined);
    this.timer = setTimeout(() => {
      this.expiredFlag = true;
      onExpire?.();
      reject(makeError());
    }, timeoutMs);
    this.timer.unref();
  }

  get expired(): boolean {
    return this.expiredFlag;
  }

  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.expiredPromise]);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Runs `work` with a deadline; rejects with `makeError()` when it has not settled in time (the work
 * itself goes on: a Postgres statement timeout ends it on the server side).
 */
export async function withDeadline<T>(timeoutMs: number, makeError: () => Error, work: () => Promise<T>): Promise<T> {
  const deadline = new Deadline(timeoutMs, makeError);
  try {
    return await deadline.race(work());
  } finally {
    deadline.clear();
  }
}
