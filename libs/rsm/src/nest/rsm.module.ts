import {
  Inject,
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, Reflector } from '@nestjs/core';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { AnyMachineDefinition } from '../definition/machine-definition.js';
import type { RsmOptionsInput } from '../core/rsm-options.js';
import { installFatalErrorHandlers } from '../runtime/fatal-errors.js';
import { RsmRuntime, type RsmRuntimeDeps } from '../runtime/rsm-runtime.js';
import type { RsmActivityHandler, RsmActivityMetadata } from './rsm-activity.decorator.js';
import { RsmAdminGuard } from './rsm-admin.guard.js';
import { consoleSettings, RsmConsoleController, type RsmConsoleOptions } from './rsm-console.controller.js';
import { originsOf, RsmCorsModule } from './rsm-cors.middleware.js';
import { RsmHttpController } from './rsm-http.controller.js';
import { RSM_ACTIVITY_METADATA, RSM_CONSOLE_ORIGINS, RSM_METRICS_REGISTRY, RSM_MODULE_OPTIONS } from './rsm.constants.js';

/** Options of {@link RsmModule.forRoot}: the runtime's options plus what Nest cannot serialize. */
export interface RsmModuleOptions extends RsmOptionsInput {
  readonly deps?: Omit<RsmRuntimeDeps, 'machines' | 'activities' | 'metricsRegistry'>;
  /** Serve `/metrics`, `/health/*` and the `/rsm/*` admin routes (default true). */
  readonly httpEndpoints?: boolean;
  /**
   * Serve the operator console at `/rsm/console` (default true with `httpEndpoints`): a static page
   * that holds no data and asks for an operator token, then reads and acts through `/rsm/*` only.
   * With `services`, its overview and search cover every service listed (each read by the
   * operator's browser with the same token), it opens a machine of a type `routes` sends elsewhere
   * in that service's console, and `/rsm/*` answers `GET`s from those services' origins (exactly
   * those: CORS for the other consoles, nothing else).
   */
  readonly console?: boolean | RsmConsoleOptions;
  /**
   * Bearer tokens that may call `/rsm/*` (machines, dead letters with their payloads, redrive and
   * discard, gaps, the audit log: what the `rsm` CLI uses); several, so that one can be rotated.
   * With none, those routes refuse every caller. The audit log names a token by its fingerprint
   * (`tokenFingerprint`), never by the token.
   */
  readonly adminTokens?: readonly string[];
  /**
   * Bearer tokens the app accepts on its own routes that may not call `/rsm/*`: answered 403 (a
   * known caller without the right) rather than 401 (no known caller), as the app's routes answer.
   */
  readonly otherTokens?: readonly string[];
  /**
   * An unhandled rejection or uncaught exception anywhere in the process logs one error line,
   * stops the runtime (bounded) and exits with code 1 (default true). Off, the app must handle them.
   */
  readonly exitOnFatalError?: boolean;
}

export interface RsmModuleAsyncOptions {
  readonly imports?: ModuleMetadata['imports'];
  readonly inject?: InjectionToken[];
  readonly useFactory: (...args: never[]) => RsmModuleOptions | Promise<RsmModuleOptions>;
  readonly httpEndpoints?: boolean;
  /** Serve the operator console at `/rsm/console` (default true with `httpEndpoints`); its options come from `useFactory`. */
  readonly console?: boolean;
}

/** The module's controllers: the admin routes unless `httpEndpoints` is false, and the console with them unless `console` is false. */
const controllersFor = (options: { httpEndpoints?: boolean; console?: boolean | RsmConsoleOptions }) =>
  options.httpEndpoints === false ? [] : options.console === false ? [RsmHttpController] : [RsmHttpController, RsmConsoleController];

/** Starts the runtime once every feature module has registered its machines and activities. */
class RsmLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private uninstallFatalHandlers: (() => void) | undefined;

  constructor(
    @Inject(RSM_MODULE_OPTIONS) private readonly options: RsmModuleOptions,
    @Inject(RsmRuntime) private readonly runtime: RsmRuntime,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as RsmActivityHandler | undefined;
      if (instance === undefined || instance === null || wrapper.metatype === null || wrapper.metatype === undefined) continue;
      const metadata = this.reflector.get<RsmActivityMetadata | undefined>(RSM_ACTIVITY_METADATA, wrapper.metatype);
      if (metadata === undefined) continue;
      if (typeof instance.run !== 'function') throw new Error(`activity provider ${wrapper.name} has no run(input, ctx) method`);
      this.runtime.registerActivity({ name: metadata.name, ...(metadata.retry ? { retry: metadata.retry } : {}), run: (input, ctx) => instance.run(input, ctx) });
    }
    // Installed before start: a start-up failure that escapes as a rejection still ends the process cleanly.
    if (this.options.exitOnFatalError !== false) {
      this.uninstallFatalHandlers = installFatalErrorHandlers({ logger: this.runtime.logger, stop: () => this.runtime.stop() });
    }
    await this.runtime.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
    this.uninstallFatalHandlers?.();
  }
}

/**
 * The origins whose consoles may read `/rsm/*` (`RsmCorsMiddleware`): those of `console.services`,
 * while the admin routes are served at all (`surface`: forRoot's options, or forRootAsync's flags).
 */
const consoleOriginsProvider = (surface: { httpEndpoints?: boolean }): Provider => ({
  provide: RSM_CONSOLE_ORIGINS,
  inject: [RSM_MODULE_OPTIONS],
  useFactory: (options: RsmModuleOptions): ReadonlySet<string> =>
    surface.httpEndpoints === false || options.httpEndpoints === false || typeof options.console !== 'object' ? new Set<string>() : originsOf(consoleSettings(options).services),
});

const runtimeProviders = (optionsProvider: Provider, surface: { httpEndpoints?: boolean }): Provider[] => [
  optionsProvider,
  consoleOriginsProvider(surface),
  {
    provide: RSM_METRICS_REGISTRY,
    useFactory: () => {
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      return registry;
    },
  },
  {
    provide: RsmRuntime,
    inject: [RSM_MODULE_OPTIONS, RSM_METRICS_REGISTRY],
    useFactory: (options: RsmModuleOptions, registry: Registry) => {
      const { deps, httpEndpoints: _http, console: _console, adminTokens: _tokens, otherTokens: _others, exitOnFatalError: _exit, ...runtimeOptions } = options;
      return new RsmRuntime(runtimeOptions, { ...deps, metricsRegistry: registry });
    },
  },
  RsmLifecycle,
  RsmAdminGuard,
];

/**
 * The Nest face of the runtime: configured once per app with `forRoot`, machines registered per
 * feature with `forFeature`, activities found by their `@RsmActivity` decorator. Inject
 * `RsmRuntime` to send, create, request and inspect.
 *
 * @example
 * @Module({ imports: [RsmModule.forRootAsync({ inject: [AppConfig], useFactory: (c: AppConfig) => c.rsm }), RsmModule.forFeature([Delivery])] })
 * export class AppModule {}
 */
@Module({})
export class RsmModule {
  static forRoot(options: RsmModuleOptions): DynamicModule {
    return {
      module: RsmModule,
      global: true,
      imports: [DiscoveryModule, RsmCorsModule],
      controllers: controllersFor(options),
      providers: runtimeProviders({ provide: RSM_MODULE_OPTIONS, useValue: options }, options),
      exports: [RsmRuntime, RSM_METRICS_REGISTRY, RSM_CONSOLE_ORIGINS],
    };
  }

  static forRootAsync(options: RsmModuleAsyncOptions): DynamicModule {
    return {
      module: RsmModule,
      global: true,
      imports: [DiscoveryModule, RsmCorsModule, ...(options.imports ?? [])],
      controllers: controllersFor(options),
      providers: runtimeProviders({ provide: RSM_MODULE_OPTIONS, inject: options.inject ?? [], useFactory: options.useFactory }, options),
      exports: [RsmRuntime, RSM_METRICS_REGISTRY, RSM_CONSOLE_ORIGINS],
    };
  }

  /** Registers a feature's machine types with the app's runtime. */
  static forFeature(machines: readonly AnyMachineDefinition[]): DynamicModule {
    const token = Symbol(`RSM_FEATURE(${machines.map((m) => m.type).join(',')})`);
    return {
      module: class RsmFeatureModule {},
      providers: [
        {
          provide: token,
          inject: [RsmRuntime],
          useFactory: (runtime: RsmRuntime) => {
            for (const machine of machines) runtime.register(machine);
            return machines;
          },
        },
      ],
    };
  }
}
