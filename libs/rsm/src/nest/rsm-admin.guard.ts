import { createHash, timingSafeEqual } from 'node:crypto';
import { ForbiddenException, Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { RSM_MODULE_OPTIONS } from './rsm.constants.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

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
  private readonly digests: Buffer[];

  constructor(@Inject(RSM_MODULE_OPTIONS) options: { readonly adminTokens?: readonly string[] }) {
    this.digests = (options.adminTokens ?? []).map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digests.length === 0) throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: 'the RSM admin routes are disabled: no admin token is configured' });
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const token = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(header)?.[1] : undefined;
    if (token === undefined) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'an operator token is required: Authorization: Bearer <token>' });
    const candidate = digest(token);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(known, candidate) || ok;
    if (!ok) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'unknown operator token' });
    return true;
  }
}
