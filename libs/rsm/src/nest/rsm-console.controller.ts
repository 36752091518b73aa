import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Inject, NotFoundException, Param, Res, SetMetadata } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { RSM_CONSOLE_ORIGINS, RSM_MODULE_OPTIONS, RSM_SELF_GUARDED } from './rsm.constants.js';

const require = createRequire(import.meta.url);

/**
 * The files the console page loads, by the name it asks for: the console's own modules (built by
 * `npm run build` from libs/rsm/console into dist/libs/rsm/console) and the browser builds of Preact
 * and Mermaid from node_modules. Nothing else is served: no path from a request reaches the disk.
 */
function consoleFiles(): Map<string, string> {
  const files = new Map<string, string>();
  // From dist/libs/rsm/src/nest, or from an app bundled into dist/apps/<app>/main.cjs.
  const own = ['../../console/', '../../libs/rsm/console/'].map((path) => fileURLToPath(new URL(path, import.meta.url))).find((dir) => existsSync(dir)) ?? '';
  if (own !== '') for (const name of readdirSync(own)) if (name.endsWith('.js')) files.set(name, join(own, name));
  files.set('preact.mjs', require.resolve('preact'));
  files.set('preact-hooks.mjs', require.resolve('preact/hooks'));
  files.set('preact-jsx-runtime.mjs', require.resolve('preact/jsx-runtime'));
  files.set('mermaid.min.js', join(dirname(require.resolve('mermaid')), 'mermaid.min.js'));
  return files;
}

const importMap = JSON.stringify({
  imports: { preact: './assets/preact.mjs', 'preact/hooks': './assets/preact-hooks.mjs', 'preact/jsx-runtime': './assets/preact-jsx-runtime.mjs' },
});

const style = `
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,sans-serif;color:#1d2330;background:#f5f6f8}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;background:#1d2330;color:#fff}
header a{color:#cfd8e3;text-decoration:none;margin-right:.8rem}header a.active{color:#fff;font-weight:600;border-bottom:2px solid #ffd54f}
main{padding:1rem;max-width:1200px;margin:auto}.search form{display:flex;gap:.3rem}.search{position:relative;flex:1;min-width:14rem}
.search input{flex:1;min-width:0}.found{position:absolute;z-index:2;background:#fff;color:#1d2330;list-style:none;margin:.2rem 0;padding:.5rem;border:1px solid #ccd;box-shadow:0 2px 8px #0003;width:100%}
input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #b8c0cc;border-radius:4px;background:#fff}button{cursor:pointer}
button.danger{border-color:#c62828;color:#c62828}button:disabled{opacity:.5;cursor:default}
.card{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:1rem;margin:1rem 0}.card h2{margin-top:0}
.tiles{display:flex;flex-wrap:wrap;gap:1rem}.tile{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:.8rem 1.2rem;color:inherit;text-decoration:none}
.tile strong{font-size:1.6rem}.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0}
th,td{border-bottom:1px solid #e3e7ec;padding:.35rem .5rem;text-align:left;vertical-align:top}td pre{margin:0;max-width:28rem;overflow:auto;font-size:12px}
pre{background:#f0f2f5;padding:.6rem;overflow:auto;max-height:24rem}.error{color:#b71c1c}.notice{background:#e8f5e9;margin:0;padding:.5rem 1rem}
.diagram{overflow-x:auto;background:#fff;padding:.5rem}.diagram svg{max-width:100%;height:auto}
.columns{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem}.filters,.actions{display:flex;flex-wrap:wrap;gap:.4rem;margin:.5rem 0}
section.service{border-top:3px solid #1d2330;margin-top:1.2rem;padding-top:.2rem}section.service h2 small{font-size:.8rem;font-weight:400;margin-left:.5rem}
.nowrap{white-space:nowrap}ul.sends{margin:0;padding:0;list-style:none}ul.sends li{overflow-wrap:anywhere}.services{display:flex;flex-wrap:wrap;gap:.3rem .8rem;margin-bottom:.8rem}.reason{max-width:24rem}.login{max-width:24rem;margin:10vh auto;display:grid;gap:.8rem;background:#fff;padding:1.5rem;border-radius:6px}
.login label{display:grid;gap:.2rem}dialog{max-width:32rem;border:1px solid #99a;border-radius:6px}
@media (max-width:700px){.columns{grid-template-columns:1fr}main{padding:.5rem}.reason{max-width:12rem}header{padding:.5rem}}
`;

/** The operator console's view of the suite: see `RsmModuleOptions.console`. */
export interface RsmConsoleOptions {
  /**
   * Each service's base URL as the operator's browser reaches it (`http(s)://host:port`), by service
   * name (this one's included or not). The console's overview and search read each of them with the
   * operator's token, and this service's `/rsm/*` answers GETs from exactly these origins (CORS).
   */
  readonly services?: Readonly<Record<string, string>>;
}

/** What the page knows of the suite, in a meta tag it reads at start: no script, no extra request. */
interface ConsoleSettings {
  readonly service: string;
  /** Console base URL of each service, by name. */
  readonly services: Readonly<Record<string, string>>;
  /** The service of each machine type that runs elsewhere (`routes`). */
  readonly routes: Readonly<Record<string, string>>;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The console's settings from the module's options; a services URL that is not http(s) stops start-up naming it. */
export function consoleSettings(options: { service?: unknown; routes?: unknown; console?: boolean | RsmConsoleOptions }): ConsoleSettings {
  const services: Record<string, string> = {};
  const given = typeof options.console === 'object' ? (options.console.services ?? {}) : {};
  for (const [name, url] of Object.entries(given)) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !['http:', 'https:'].includes(parsed.protocol) || parsed.username !== '' || parsed.password !== '') {
      throw new Error(`RsmModule option console.services.${name} must be an http(s) URL without credentials (was ${JSON.stringify(String(url).slice(0, 200))})`);
    }
    services[name] = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  }
  const routes = typeof options.routes === 'object' && options.routes !== null ? Object.fromEntries(Object.entries(options.routes).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  return { service: typeof options.service === 'string' ? options.service : '', services, routes };
}

const pageWith = (settings: ConsoleSettings) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="rsm-console" content="${escapeHtml(JSON.stringify(settings))}">
<link rel="icon" href="data:,"><title>RSM console</title><style>${style}</style>
<script type="importmap">${importMap}</script>
<script src="./assets/mermaid.min.js"></script>
<script type="module" src="./assets/app.js"></script>
</head><body><div id="app"></div></body></html>`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
/**
 * Only this origin's scripts and the import map above; no frames, no forms elsewhere. Styles may be
 * inline: Mermaid writes its SVG's styles inline. Requests may go to this origin and to the other
 * consoles' services (`connectOrigins`: the overview and search read their `/rsm/*`), nowhere else.
 */
const policyFor = (connectOrigins: ReadonlySet<string>) =>
  [
    "default-src 'self'",
    `script-src 'self' ${hash(importMap)}`,
    `connect-src ${["'self'", ...connectOrigins].join(' ')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');

/**
 * The operator console at `/rsm/console`: a static page and its scripts, open to anyone like any
 * login page (they hold no data). Everything it shows comes from the guarded `/rsm/*` routes with
 * the operator token the user signs in with.
 */
@Controller('rsm/console')
@ApiExcludeController()
@SetMetadata(RSM_SELF_GUARDED, true)
export class RsmConsoleController {
  private readonly files = consoleFiles();
  private readonly page: string;
  private readonly policy: string;

  constructor(
    @Inject(RSM_MODULE_OPTIONS) options: { service?: unknown; routes?: unknown; console?: boolean | RsmConsoleOptions },
    @Inject(RSM_CONSOLE_ORIGINS) origins: ReadonlySet<string>,
  ) {
    this.page = pageWith(consoleSettings(options));
    this.policy = policyFor(origins);
  }

  @Get()
  index(@Res() response: Response): void {
    // `/rsm/console` and `/rsm/console/` both reach here; the page's relative asset URLs need the slash.
    // Relative, so the answer can only point below this path, whatever the request said.
    const path = response.req.originalUrl.split('?')[0] ?? '';
    if (!path.endsWith('/')) return response.redirect(308, 'console/');
    response
      .set({
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': this.policy,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      })
      .send(this.page);
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    const path = this.files.get(file);
    if (path === undefined) throw new NotFoundException(`no console file ${file.slice(0, 100)}`);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.sendFile(path, { headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' } });
  }
}
