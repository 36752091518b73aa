import { BadRequestException, Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Response } from 'express';
import { MachineNotFoundError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmTimeoutError, RuntimeStoppedError, type RsmRuntime } from '#rsm';

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

/**
 * Maps the runtime's errors to HTTP: a refused transition is 409 with the machine's current state,
 * an unknown machine 404, a handler that kept failing 422, no answer in time 504, a read or
 * intake past its deadline (Postgres unreachable) or stopping 503.
 */
@Catch(RequestRejectedError, MachineNotFoundError, RequestFailedError, RsmTimeoutError, RuntimeStoppedError)
export class RsmErrorFilter implements ExceptionFilter {
  constructor(private readonly runtime: RsmRuntime | undefined) {}

  async catch(error: Error, host: ArgumentsHost): Promise<void> {
    const response = host.switchToHttp().getResponse<Response>();
    if (error instanceof RequestRejectedError) {
      const current = await this.runtime?.get(error.ref).catch(() => undefined);
      response.status(HttpStatus.CONFLICT).json({ statusCode: 409, error: 'Conflict', message: error.message, currentState: current?.state ?? null });
      return;
    }
    if (error instanceof MachineNotFoundError) {
      response.status(HttpStatus.NOT_FOUND).json({ statusCode: 404, error: 'Not Found', message: `no ${error.ref.type} ${error.ref.id}` });
      return;
    }
    if (error instanceof RequestFailedError) {
      response.status(HttpStatus.UNPROCESSABLE_ENTITY).json({ statusCode: 422, error: 'Unprocessable Entity', message: error.message });
      return;
    }
    if (error instanceof RequestTimeoutError) {
      response.status(HttpStatus.GATEWAY_TIMEOUT).json({ statusCode: 504, error: 'Gateway Timeout', message: `${error.message}; retry with the same key` });
      return;
    }
    if (error instanceof RsmTimeoutError) response.setHeader('Retry-After', '1');
    response.status(HttpStatus.SERVICE_UNAVAILABLE).json({ statusCode: 503, error: 'Service Unavailable', message: error.message });
  }
}
