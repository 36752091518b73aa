import { createHash } from 'node:crypto';
import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { bearerToken, TokenDigests } from './http-input.js';
import { RSM_MODULE_OPTIONS } from './rsm.constants.js';

/**
 * Guards the `/rsm/*` routes (dead letters with their payloads, redrive, machine state) with bearer
 * tokens: 401 without a known token, 403 for a token of the app's other callers (`otherTokens`).
 * With no token configured the routes refuse everyone (403), so an app that forgets to configure
 * them does not expose them. Tokens are compared as SHA-256
 * digests in constant time. The request of an accepted token carries the token's fingerprint
 * (`rsmTokenIdOf`), which the audit log records as who acted: it tells tokens apart, never reveals one.
 *
 * @example
 * RsmModule.forRoot({ ...options, adminTokens: [config.OPERATOR_KEY] })
 * // curl -H "authorization: Bearer $OPERATOR_KEY" localhost:3000/rsm/dead-letters
 */
@Injectable()
export class RsmAdminGuard implements CanActivate {
  private readonly tokens = new TokenDigests<string>();
  private readonly others = new TokenDigests<true>();

  constructor(@Inject(RSM_MODULE_OPTIONS) options: { readonly adminTokens?: readonly string[]; readonly otherTokens?: readonly string[] }) {
    for (const token of options.adminTokens ?? []) this.tokens.add(token, tokenFingerprint(token));
    for (const token of options.otherTokens ?? []) this.others.add(token, true);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokens.size === 0) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: 'the RSM admin routes are disabled: no admin token is configured' });
    const request = context.switchToHttp().getRequest<Request & { [TOKEN_ID]?: string }>();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || token === null) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an operator token is required: Authorization: Bearer <token>' });
    const tokenId = this.tokens.find(token);
    if (tokenId === undefined && this.others.find(token) !== undefined) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: 'this token may not call the RSM admin routes: an operator token is required' });
    if (tokenId === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'unknown operator token' });
    request[TOKEN_ID] = tokenId;
    return true;
  }
}

const TOKEN_ID = Symbol('rsmTokenId');

/**
 * A short, stable name for a token that reveals nothing usable: the first 12 hex digits of a
 * SHA-256 of a domain tag and the token (not the digest the guard compares with).
 *
 * @example
 * tokenFingerprint(process.env.OPERATOR_KEY); // 'tok-3f9c0a1b2c4d'
 */
export function tokenFingerprint(token: string): string {
  return `tok-${createHash('sha256').update('rsm-admin-audit\u0000').update(token).digest('hex').slice(0, 12)}`;
}

/** The fingerprint of the operator token the guard accepted for this request. */
export function rsmTokenIdOf(request: object): string {
  const id = (request as { [TOKEN_ID]?: string })[TOKEN_ID];
  if (id === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an operator token is required' });
  return id;
}
