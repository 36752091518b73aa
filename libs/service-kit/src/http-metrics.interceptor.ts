import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Histogram, type Registry } from 'prom-client';
import { finalize, type Observable } from 'rxjs';

/** `http_request_duration_seconds{service,method,route,status}`: rate, errors and latency per route. */
@Injectable()
export class HttpMetricsInterceptor implements NestInterceptor {
  private readonly histogram: Histogram<'service' | 'method' | 'route' | 'status'>;

  constructor(
    registry: Registry,
    private readonly service: string,
  ) {
    this.histogram =
      (registry.getSingleMetric('http_request_duration_seconds') as Histogram<'service' | 'method' | 'route' | 'status'> | undefined) ??
      new Histogram({
        name: 'http_request_duration_seconds',
        help: 'HTTP requests by route and status, with their duration.',
        labelNames: ['service', 'method', 'route', 'status'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const started = performance.now();
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    // The route pattern, never the concrete path: ids must not become label values.
    const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
    return next.handle().pipe(
      finalize(() => {
        const observe = () =>
          this.histogram.observe({ service: this.service, method: request.method, route, status: String(response.statusCode) }, (performance.now() - started) / 1_000);
        if (response.writableFinished) observe();
        else response.once('finish', observe);
      }),
    );
  }
}
