import 'reflect-metadata';
import { StandardSchemaValidationPipe, type INestApplication, type Type } from '@nestjs/common';
import { ModuleRef, NestFactory, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Registry } from 'prom-client';
import { RsmRuntime } from '#rsm';
import { RSM_METRICS_REGISTRY } from '#rsm/nest';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { ApiKeys, type ApiKeysConfig } from './auth/api-keys.js';
import { RsmErrorFilter, validationException } from './http-errors.js';
import { InputHygienePipe, requireJsonBodies } from './input-hygiene.js';
import { HttpMetricsInterceptor } from './http-metrics.interceptor.js';
import { PinoLoggerService } from './pino-logger.service.js';
import { SERVICE_METRICS_REGISTRY } from './tokens.js';

export interface BootstrapOptions {
  readonly service: string;
  readonly description: string;
  readonly module: Type<unknown> | import('@nestjs/common').DynamicModule;
  readonly host: string;
  readonly port: number;
  /** The API keys of each role (validated configuration). */
  readonly apiKeys: ApiKeysConfig;
  /** Largest JSON body accepted (413 above); default 64 KiB. */
  readonly bodyLimit?: string;
  /** Runs once the app (and its runtime) has started, before it listens. */
  readonly afterStart?: (app: INestApplication) => Promise<void>;
}

/**
 * Starts one service of the suite the same way everywhere: JSON logs, API keys and roles on every
 * route, JSON-only bounded bodies, validation that answers 400 with field errors, RSM errors mapped to HTTP, HTTP metrics, OpenAPI at `/api/docs` (JSON at
 * `/api/docs-json`), graceful shutdown on SIGTERM, and one log line saying where it listens.
 *
 * @example
 * await bootstrapService({ service: 'ingestion', description: 'Delivery intake', module: AppModule.forRoot(config), host, port, apiKeys: config });
 */
export async function bootstrapService(options: BootstrapOptions): Promise<INestApplication> {
  // Errors reach runMain (exit 1 with the message) rather than Nest aborting the process itself.
  const app = await NestFactory.create<NestExpressApplication>(options.module, { bufferLogs: true, abortOnError: false, bodyParser: false });
  app.useLogger(app.get(PinoLoggerService));
  app.disable('x-powered-by');
  // No ETag: every answer is JSON about live state that no client revalidates, and Express would
  // hash each body to compute one.
  app.set('etag', false);
  // JSON only, bounded: 415 for any other body, 413 above the limit, 400 for malformed JSON.
  app.use(requireJsonBodies);
  app.useBodyParser('json', { limit: options.bodyLimit ?? '64kb', strict: true, type: ['application/json', 'application/*+json'] });
  app.useGlobalGuards(new ApiAuthGuard(app.get(Reflector), new ApiKeys(options.apiKeys)));
  app.useGlobalPipes(new InputHygienePipe(), new StandardSchemaValidationPipe({ exceptionFactory: validationException }));
  const runtime = getOptional<RsmRuntime>(app, RsmRuntime);
  app.useGlobalFilters(new RsmErrorFilter(runtime, app.getHttpAdapter()));
  const registry = getOptional<Registry>(app, RSM_METRICS_REGISTRY) ?? getOptional<Registry>(app, SERVICE_METRICS_REGISTRY);
  if (registry !== undefined) app.useGlobalInterceptors(new HttpMetricsInterceptor(registry, options.service));
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle(`TailSpin ${options.service}`).setDescription(options.description).setVersion('1').build());
  SwaggerModule.setup('api/docs', app, document);
  await app.init();
  await options.afterStart?.(app);
  await app.listen(options.port, options.host);
  app.get(PinoLoggerService).log({ service: options.service, url: await app.getUrl() }, `${options.service} listening`);
  return app;
}

/**
 * A provider the app may not have (the simulator has no runtime). Looked up through ModuleRef: the
 * application object itself logs a missing provider as an error before throwing.
 */
function getOptional<T>(app: INestApplication, token: unknown): T | undefined {
  try {
    return app.get(ModuleRef).get<T>(token as string, { strict: false });
  } catch {
    return undefined;
  }
}

/**
 * Runs a service's `main`: a configuration error ends the process at once with its message (naming
 * each bad setting) and exit code 1, instead of a stack trace.
 */
export function runMain(main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    const name = error instanceof Error ? error.name : '';
    if (name === 'ServiceConfigError' || name === 'RsmConfigError') console.error(error instanceof Error ? error.message : String(error));
    else console.error(error);
    process.exit(1);
  });
}
