import type { RsmLogger } from '../core/logger.js';

export interface FatalErrorHandlerOptions {
  readonly logger: RsmLogger;
  /** Closes the runtime (and whatever else) before the process exits. */
  readonly stop: () => Promise<void>;
  /** How long `stop` may take before the process exits anyway (default 5 s). */
  readonly stopTimeoutMs?: number;
  /** Ends the process (tests replace it); default `process.exit`. */
  readonly exit?: (code: number) => void;
}

/**
 * Makes an unhandled rejection or an uncaught exception end the process cleanly: one error line
 * with the cause, a bounded `stop`, then exit code 1 for the supervisor to restart it. Exiting is
 * safe because nothing leaves a step before its commit: an interrupted step simply never happened.
 * Returns a function that removes the handlers.
 *
 * @example
 * const uninstall = installFatalErrorHandlers({ logger, stop: () => rsm.stop() });
 */
export function installFatalErrorHandlers(options: FatalErrorHandlerOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  let exiting = false;
  const fatal = (kind: 'unhandledRejection' | 'uncaughtException', cause: unknown) => {
    const err = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    if (exiting) {
      options.logger.error({ kind, err }, 'another fatal error while exiting');
      return;
    }
    exiting = true;
    options.logger.error({ kind, err }, 'fatal error: stopping and exiting');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, stopTimeoutMs);
    });
    void Promise.race([options.stop().catch(() => undefined), timeout]).then(() => {
      clearTimeout(timer);
      exit(1);
    });
  };
  const onRejection = (reason: unknown) => fatal('unhandledRejection', reason);
  const onException = (error: Error) => fatal('uncaughtException', error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
