import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { bearerToken, TokenDigests } from './http-input.js';
import { RSM_MODULE_OPTIONS } from './rsm.constants.js';

/**
 * Guards the `/rsm/*` routes (dead letters with their payloads, redrive, machine state) with bearer
 * tokens: 401 without a known token. With no token configured the routes refuse everyone (403), so
 * an app that forgets to configure them does not expose them. Tokens are compared as SHA-256
 * digests in constant time.
 *
 * @example
 * RsmModule.forRoot({ ...options, adminTokens: [config.OPERATOR_KEY] })
 * // curl -H "authorization: Bearer $OPERATOR_KEY" localhost:3000/rsm/dead-letters
 */
@Injectable()
export class RsmAdminGuard implements CanActivate {
  private readonly tokens = new TokenDigests<true>();

  constructor(@Inject(RSM_MODULE_OPTIONS) options: { readonly adminTokens?: readonly string[] }) {
    for (const token of options.adminTokens ?? []) this.tokens.add(token, true);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokens.size === 0) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: 'the RSM admin routes are disabled: no admin token is configured' });
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (token === undefined || token === null) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an operator token is required: Authorization: Bearer <token>' });
    if (this.tokens.find(token) === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'unknown operator token' });
    return true;
  }
}
