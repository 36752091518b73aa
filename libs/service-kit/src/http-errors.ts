import { BadRequestException, Catch, HttpException, HttpStatus, type ArgumentsHost, type HttpServer } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Response } from 'express';
import { MachineNotFoundError, RequestFailedError, RequestRejectedError, RequestTimeoutError, RsmOverloadedError, RsmTimeoutError, RuntimeStoppedError, type RsmRuntime } from '#rsm';

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
 * Postgres codes of a server that cannot serve this now, whatever was asked: class 08 (connection),
 * 57P (shutdown, cannot connect now), 57014 (the statement timeout cancelled it), class 53
 * (insufficient resources: too many connections, out of memory or disk), 55P03 (lock not
 * available), 40001 and 40P01 (serialization failure, deadlock: retry); and socket errors.
 */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '57014', '55P03', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('53'))) return true;
  return /Connection terminated|Connection is closed|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message);
}

/**
 * Maps the runtime's errors to HTTP: a refused transition is 409 with the machine's current state,
 * an unknown machine 404, a handler that kept failing 422, no answer in time 504, a read or
 * intake past its deadline (Postgres unreachable) or stopping 503, and a datastore that refuses or
 * drops connections 503 with Retry-After; anything else goes to Nest's own handling.
 */
@Catch()
export class RsmErrorFilter extends BaseExceptionFilter {
  constructor(
    private readonly runtime: RsmRuntime | undefined,
    adapter?: HttpServer,
  ) {
    super(adapter);
  }

  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http' || error instanceof HttpException) return super.catch(error, host);
    const response = host.switchToHttp().getResponse<Response>();
    if (isUnavailable(error)) {
      // Postgres or Redis unreachable, restarting or refusing connections: try again shortly.
      response.setHeader('Retry-After', '1');
      response.status(HttpStatus.SERVICE_UNAVAILABLE).json({ statusCode: 503, error: 'Service Unavailable', message: 'a datastore is unavailable; retry shortly' });
      return;
    }
    if (!(error instanceof Error) || !RSM_ERRORS.some((type) => error instanceof type)) return super.catch(error, host);
    if (error instanceof RequestRejectedError) {
      void this.conflict(error, response);
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
    if (error instanceof RsmTimeoutError) response.setHeader('Retry-After', '1');
    response.status(HttpStatus.SERVICE_UNAVAILABLE).json({ statusCode: 503, error: 'Service Unavailable', message: error instanceof RuntimeStoppedError ? 'the service is stopping; retry shortly' : 'a datastore did not answer in time; retry shortly' });
  }

  /** 409 with the machine's current state, read after the refusal (null if it cannot be read now). */
  private async conflict(error: RequestRejectedError, response: Response): Promise<void> {
    const current = await this.runtime?.get(error.ref).catch(() => undefined);
    response.status(HttpStatus.CONFLICT).json({ statusCode: 409, error: 'Conflict', message: error.message, currentState: current?.state ?? null });
  }
}
