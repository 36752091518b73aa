import { BadRequestException, UnsupportedMediaTypeException, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { badTextReason } from '#rsm/nest';

/** Keys that reach prototypes when code copies or indexes with them: refused, not silently dropped. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Deeper than any shape the API accepts: a bound on the walk, not a schema. */
const MAX_DEPTH = 16;

function findBadText(value: unknown, path: string, depth: number): { path: string; message: string } | undefined {
  if (typeof value === 'string') {
    const reason = badTextReason(value);
    return reason === undefined ? undefined : { path: path || '(value)', message: reason };
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return { path: path || '(value)', message: `nested deeper than ${MAX_DEPTH} levels` };
  for (const [key, inner] of Object.entries(value)) {
    const keyReason = PROTOTYPE_KEYS.has(key) ? 'is a prototype key, never a field' : badTextReason(key);
    const here = path === '' ? key : `${path}.${key}`;
    if (keyReason !== undefined) return { path: here, message: `field name ${keyReason}` };
    const found = findBadText(inner, here, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A global pipe, before each route's schema: every string of a body, query or path parameter is
 * refused (400 naming the field) if it holds a NUL character or a lone surrogate, and so is every
 * object with a `__proto__`, `constructor` or `prototype` key (which Nest's schema pipe would drop
 * silently), whatever the route's schema says, so no such value reaches a machine, a log or Postgres.
 */
export class InputHygienePipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const found = findBadText(value, metadata.type === 'param' || metadata.type === 'query' ? (metadata.data ?? '') : '', 0);
    if (found !== undefined) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `Validation failed: ${found.path} ${found.message}`, fields: [found] });
    }
    return value;
  }
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Mutating requests with a body must be JSON (415 otherwise): no form posts, so a plain HTML form
 * on another site cannot call the API (CSRF), and no parser the routes were not written for.
 */
export function requireJsonBodies(request: Request, _response: Response, next: NextFunction): void {
  const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  if (BODY_METHODS.has(request.method) && hasBody && request.is(['application/json', 'application/*+json']) === false) {
    next(new UnsupportedMediaTypeException({ statusCode: 415, error: 'Unsupported Media Type', message: `a ${request.method} body must be application/json (was ${request.headers['content-type'] ?? 'none'})` }));
    return;
  }
  next();
}
