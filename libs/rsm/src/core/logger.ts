import { pino } from 'pino';

/** The logging surface the runtime needs; a pino logger satisfies it. */
export interface RsmLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): RsmLogger;
}

/**
 * Structured JSON on stdout, written synchronously: the runtime logs little, and its last lines
 * (a shutdown, a crash) must not be lost when the process ends right after them.
 */
export function defaultLogger(service: string): RsmLogger {
  return pino({ name: 'rsm', base: { service }, level: 'info' }, pino.destination({ dest: 1, sync: true }));
}
