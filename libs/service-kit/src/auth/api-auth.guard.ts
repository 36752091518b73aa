import { ForbiddenException, Injectable, UnauthorizedException, createParamDecorator, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { bearerToken, RSM_SELF_GUARDED } from '#rsm/nest';
import { ALLOW_METADATA, type Access } from './allow.decorator.js';
import type { ApiKeys, Principal } from './api-keys.js';

type AuthenticatedRequest = Request & { principal?: Principal };

/**
 * Authenticates `Authorization: Bearer <key>` and enforces each route's `@Allow`: no key where one
 * is needed is 401, a key of the wrong role 403. Owner checks (a customer's own deliveries) are the
 * controllers', with {@link Caller} and {@link canAccessOwner}: they answer 404 for others' ids.
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeys,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    // The RSM module guards its own routes (probes open, /rsm/* for operators).
    if (this.reflector.get<boolean | undefined>(RSM_SELF_GUARDED, context.getClass()) === true) return true;
    const access = this.reflector.getAllAndOverride<Access[] | undefined>(ALLOW_METADATA, [context.getHandler(), context.getClass()]) ?? [];
    if (access.includes('public')) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = this.principalOf(request);
    if (principal === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an API key is required: Authorization: Bearer <key>' });
    if (!access.includes(principal.role)) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: `a ${principal.role} key may not call this route` });
    request.principal = principal;
    return true;
  }

  private principalOf(request: Request): Principal | undefined {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) return undefined;
    if (token === null) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'the Authorization header must be: Bearer <key>' });
    const principal = this.keys.authenticate(token);
    if (principal === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'unknown API key' });
    return principal;
  }
}

/** The authenticated caller of a route (set by {@link ApiAuthGuard}). */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (principal === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an API key is required' });
  return principal;
});

/** Whether a caller may see or change what belongs to `ownerId`: its own as a customer, anything otherwise. */
export function canAccessOwner(caller: Principal, ownerId: string | null | undefined): boolean {
  if (caller.role !== 'customer') return true;
  return typeof ownerId === 'string' && caller.owners.has(ownerId);
}

/** A body's owner must be one of a customer's: 403 otherwise (the caller named it, so nothing is hidden). */
export function assertOwnOwner(caller: Principal, ownerId: string): void {
  if (!canAccessOwner(caller, ownerId)) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: `this key does not act for owner ${ownerId}`, fields: [{ path: 'ownerId', message: 'not an owner of this API key' }] });
}
