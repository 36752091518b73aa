import type { LoggerService, LogLevel } from '@nestjs/common';
import { pino, type Logger as Pino } from 'pino';

/**
 * Nest's logger as structured JSON lines through pino, with the service name on every line.
 *
 * Nest calls `log(message, ...optionalParams)` where the last string parameter is the context (the
 * class that logged); an object first argument is merged into the line, as pino does.
 *
 * @example
 * app.useLogger(app.get(PinoLoggerService));
 * app.get(PinoLoggerService).log({ url }, 'ingestion listening');
 */
export class PinoLoggerService implements LoggerService {
  readonly pino: Pino;

  constructor(service: string, level: string) {
    this.pino = pino({ level, base: { service } });
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.write('info', message, optionalParams);
  }
  error(message: unknown, ...optionalParams: unknown[]): void {
    this.write('error', message, optionalParams);
  }
  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }
  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }
  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('trace', message, optionalParams);
  }
  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }
  setLogLevels(levels: LogLevel[]): void {
    // Nest's levels from least to most verbose; pino takes the most verbose one enabled.
    const order: [LogLevel, string][] = [['fatal', 'fatal'], ['error', 'error'], ['warn', 'warn'], ['log', 'info'], ['debug', 'debug'], ['verbose', 'trace']];
    const enabled = order.filter(([nest]) => levels.includes(nest));
    this.pino.level = enabled.at(-1)?.[1] ?? 'silent';
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, params: unknown[]): void {
    const rest = [...params];
    // Nest appends the context (a class name) last; an error log may carry a stack before it.
    const context = rest.length > 0 && typeof rest.at(-1) === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = context === undefined ? {} : { context };
    let msg: string | undefined;
    if (message instanceof Error) fields['err'] = message;
    else if (typeof message === 'object' && message !== null) Object.assign(fields, message);
    else msg = String(message);
    for (const param of rest) {
      if (typeof param === 'string') msg = msg === undefined ? param : `${msg} ${param}`;
      else if (param instanceof Error) fields['err'] = param;
      else if (typeof param === 'object' && param !== null) Object.assign(fields, param);
    }
    this.pino[level](fields, msg);
  }
}
