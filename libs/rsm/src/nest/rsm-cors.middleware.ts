import { Inject, Injectable, Module, RequestMethod, type MiddlewareConsumer, type NestMiddleware, type NestModule } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { RSM_CONSOLE_ORIGINS } from './rsm.constants.js';

/**
 * Cross-origin reads of the `/rsm/*` admin routes, for the consoles of the other services only:
 * the origins of `RsmModuleOptions.console.services`, compared exactly (no wildcard, no echo of an
 * origin that is not listed). An allowed origin may send `GET` with `Authorization` and
 * `X-Rsm-Actor`; its preflight is answered here, before any guard, and every answer it gets (a 401
 * included, so its console can say "refused" rather than "unreachable") carries
 * `Access-Control-Allow-Origin`. No cookies are involved (the token is a bearer header), so
 * credentials are not allowed; no method but `GET` is, so actions stay with each service's own console.
 *
 * @example
 * RsmModule.forRoot({ ...options, console: { services: { workflow: 'http://127.0.0.1:3001' } } });
 * // fetch('http://127.0.0.1:3002/rsm/types', { headers: { authorization: `Bearer ${key}` } }) from a page of http://127.0.0.1:3001 is allowed
 */
@Injectable()
export class RsmCorsMiddleware implements NestMiddleware {
  constructor(@Inject(RSM_CONSOLE_ORIGINS) private readonly origins: ReadonlySet<string>) {}

  use(request: Request, response: Response, next: NextFunction): void {
    // Caches must not hand one origin's answer (with or without the header) to another.
    response.vary('Origin');
    const origin = request.headers.origin;
    if (origin === undefined || !this.origins.has(origin)) return next();
    response.setHeader('Access-Control-Allow-Origin', origin);
    if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return next();
    response.setHeader('Access-Control-Allow-Methods', 'GET');
    response.setHeader('Access-Control-Allow-Headers', 'Authorization, X-Rsm-Actor');
    response.setHeader('Access-Control-Max-Age', '600');
    response.status(204).end();
  }
}

/**
 * Puts `RsmCorsMiddleware` before the `/rsm/*` routes (the console's own static files aside) when
 * there are origins to allow. Imported by `RsmModule`, whose global export `RSM_CONSOLE_ORIGINS`
 * it reads: it holds no options of its own.
 */
@Module({})
export class RsmCorsModule implements NestModule {
  constructor(@Inject(RSM_CONSOLE_ORIGINS) private readonly origins: ReadonlySet<string>) {}

  configure(consumer: MiddlewareConsumer): void {
    if (this.origins.size === 0) return;
    consumer.apply(RsmCorsMiddleware).exclude('rsm/console', 'rsm/console/*path').forRoutes({ path: 'rsm/*path', method: RequestMethod.ALL });
  }
}

/** The origins (`scheme://host:port`) of console service URLs, as browsers send them in `Origin`. */
export function originsOf(services: Readonly<Record<string, string>>): ReadonlySet<string> {
  return new Set(Object.values(services).map((url) => new URL(url).origin));
}
