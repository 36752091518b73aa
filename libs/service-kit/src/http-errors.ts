import { BadRequestException, Catch, HttpException, HttpStatus, Logger, type ArgumentsHost, type HttpServer } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Response } from 'express';
import { isRetryablePgError, MachineNotFoundError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmOverloadedError, RsmTimeoutError, RuntimeStoppedError, type RsmRuntime } from '#rsm';

/** A 400 naming each invalid field, from Standard Schema issues. */
export function validationException(issues: readonly StandardSchemaV1.Issue[]): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: 'Validation failed',
    fields: issues.map((issue) => ({
      path: (issue.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.') || '(body)',
      message: issue.message,
    })),
  });
}

const RSM_ERRORS = [RequestRejectedError, MachineNotFoundError, RequestFailedError, RsmTimeoutError, RuntimeStoppedError, RsmOverloadedError];

/**
 * Postgres out of some resource (class 53: memory, disk, a configured limit). A request may come back
 * later (503); the runtime's `isRetryablePgError` takes only too many connections, since a step
 * that runs out of memory may do so every time.
 */
function isResourceShortage(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('53');
}

/**
 * Maps the runtime's errors to HTTP: a refused transition is 409 with the machine's current state,
 * an unknown machine 404, a handler that kept failing 500 (a bug of ours: the caller is not shown
 * its error, the log is), no answer in time 504, a read or intake past its deadline (Postgres
 * unreachable) or stopping 503 with Retry-After, and a datastore that refuses or drops connections
 * 503 with Retry-After; anything else goes to Nest's own handling. The runtime's own errors are
 * told apart by their class first: the datastore check reads message texts, which a runtime
 * error's reason may hold.
 */
@Catch()
export class RsmErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('RsmErrorFilter');

  constructor(
    private readonly runtime: RsmRuntime | undefined,
    adapter?: HttpServer,
  ) {
    super(adapter);
  }

  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http' || error instanceof HttpException) return super.catch(error, host);
    const response = host.switchToHttp().getResponse<Response>();
    const rsmError = error instanceof Error && RSM_ERRORS.some((type) => error instanceof type);
    if (!rsmError && (isRetryablePgError(error) || isResourceShortage(error))) {
      // Postgres or Redis unreachable, restarting or refusing connections: try again shortly.
      response.setHeader('Retry-After', '1');
      response.status(HttpStatus.SERVICE_UNAVAILABLE).json({ statusCode: 503, error: 'Service Unavailable', message: 'a datastore is unavailable; retry shortly' });
      return;
    }
    if (!rsmError) return super.catch(error, host);
    if (error instanceof RequestRejectedError) {
      void this.conflict(error, response);
      return;
    }
    if (error instanceof MachineNotFoundError) {
      response.status(HttpStatus.NOT_FOUND).json({ statusCode: 404, error: 'Not Found', message: `no ${error.ref.type} ${error.ref.id}` });
      return;
    }
    if (error instanceof RequestFailedError) {
      // The machine's handler kept failing on this event, which is now a dead letter (and the
      // machine faulted, under that policy): a bug to fix, not the caller's to mend. Its error text
      // would show the code's insides; the log and the dead letter keep it.
      this.logger.error({ machine: `${error.ref.type}/${error.ref.id}`, reason: error.reason }, 'a request failed in its machine\'s handler');
      response.status(HttpStatus.INTERNAL_SERVER_ERROR).json({ statusCode: 500, error: 'Internal Server Error', message: `${error.ref.type} ${error.ref.id} could not handle the request; it was set aside for an operator (dead letter)` });
      return;
    }
    if (error instanceof RsmOverloadedError) {
      // Nothing was written: the client comes back later (and load is refused early, not accepted into a collapse).
      response.setHeader('Retry-After', String(Math.ceil(error.retryAfterMs / 1_000)));
      response.status(HttpStatus.TOO_MANY_REQUESTS).json({ statusCode: 429, error: 'Too Many Requests', message: error.message });
      return;
    }
    if (error instanceof RequestTimeoutError) {
      response.status(HttpStatus.GATEWAY_TIMEOUT).json({ statusCode: 504, error: 'Gateway Timeout', message: `${error.message}; retry with the same key` });
      return;
    }
    // The message would name the datastore's address (`connect ECONNREFUSED 10.0.0.5:5432`): the
    // caller learns only that it may retry (`/health/ready` and the runtime's log say what failed).
    response.setHeader('Retry-After', '1');
    response.status(HttpStatus.SERVICE_UNAVAILABLE).json({ statusCode: 503, error: 'Service Unavailable', message: error instanceof RuntimeStoppedError ? 'the service is stopping; retry shortly' : 'a datastore did not answer in time; retry shortly' });
  }

  /** 409 with the machine's current state, read after the refusal (null if it cannot be read now). */
  private async conflict(error: RequestRejectedError, response: Response): Promise<void> {
    const current = await this.runtime?.get(error.ref).catch(() => undefined);
    response.status(HttpStatus.CONFLICT).json({ statusCode: 409, error: 'Conflict', message: error.message, currentState: current?.state ?? null });
  }
}
