/**
 * `npm run build`'s last step: each app of the suite as one file, `dist/apps/<app>/main.mjs`, which
 * is what `npm start`, compose and Kubernetes run. Node spends most of a Nest app's start resolving,
 * reading and linking a few thousand modules: about 1 s of CPU per app here, 0.4 s bundled. On a busy
 * machine that CPU is what a restarted pod waits for (4-5 s under the chaos load, unbundled), and
 * every second of it holds drones and stalls the deliveries behind the app.
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
  SERVICES.map((app) =>
    build({
      entryPoints: [join(DIST, 'apps', app, 'src', 'main.js')],
      outfile: join(DIST, 'apps', app, 'main.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      keepNames: true,
      sourcemap: 'linked',
      external: OPTIONAL,
      // CommonJS packages inside an ES module bundle still call require for Node's own modules.
      banner: { js: "import { createRequire as __rsmCreateRequire } from 'node:module'; const require = __rsmCreateRequire(import.meta.url);" },
      logLevel: 'warning',
    }),
  ),
);
console.log(`bundled ${SERVICES.length} apps into dist/apps/<app>/main.mjs in ${Date.now() - started} ms`);
