/**
 * `npm run build`'s last step: each app of the suite as one file, `dist/apps/<app>/main.cjs`, run by
 * `dist/apps/<app>/main.mjs` (what `npm start`, compose and Kubernetes run) with a V8 code cache
 * (scripts/app-loader; on where the app's user may write its code, as under `npm start`). Node
 * spends most of a Nest app's start resolving, reading and linking a few thousand modules: about
 * 1 s of CPU per app unbundled, 0.4 s bundled (on a fast day). On a busy machine that CPU is what a
 * restarted pod waits for (4-5 s under the chaos load, unbundled), and every second of it holds
 * drones and stalls the deliveries behind the app. The code cache takes about half of the rest off
 * (delivery under PM2, a slow day: 1.1 s of CPU to ready without it, 0.56 s with it).
 *
 * The bundle is CommonJS because only a script (not an ES module) takes a code cache on Node 20.
 * Its `import.meta.url` is the bundle's own URL, as in the sources.
 *
 * The bundle keeps class and function names (Nest, the logs and error names read them) and leaves
 * out the optional packages Nest, TypeORM and pg load only when present.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { SERVICES } from '#contracts';

/** The build output (this file runs from dist/scripts). */
const DIST = join(import.meta.dirname, '..');

/** Loaded with `require` only if installed; none of them is. */
const OPTIONAL = [
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@nestjs/platform-fastify',
  '@fastify/static',
  'class-transformer',
  'class-transformer/*',
  'class-validator',
  'pg-native',
];

const started = Date.now();
await Promise.all(
  SERVICES.map(async (app) => {
    const dir = join(DIST, 'apps', app);
    await build({
      entryPoints: [join(dir, 'src', 'main.js')],
      outfile: join(dir, 'main.cjs'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // import() of what is not bundled (optional packages, none installed) becomes a require: a
      // script run by node:vm could import only through an experimental API that warns.
      supported: { 'dynamic-import': false },
      keepNames: true,
      sourcemap: 'linked',
      external: OPTIONAL,
      define: { 'import.meta.url': '__rsmBundleUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
      // Strict, as the ES modules it is made of were (the banner would otherwise come before esbuild's directive).
      banner: { js: "'use strict'; const __rsmBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
      // Any other import.meta would silently be {} in a CommonJS bundle.
      logOverride: { 'empty-import-meta': 'error' },
      logLevel: 'warning',
    });
    await build({
      entryPoints: [join(DIST, 'scripts', 'app-loader', 'main.js')],
      outfile: join(dir, 'main.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
    });
  }),
);
console.log(`bundled ${SERVICES.length} apps into dist/apps/<app>/main.cjs, run by main.mjs, in ${Date.now() - started} ms`);
