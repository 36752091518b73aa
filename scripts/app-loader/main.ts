/**
 * `dist/apps/<app>/main.mjs`: runs the app's bundle (`main.cjs` beside it) with a V8 code cache
 * (see code-cache.ts). `npm run build` bundles this file once per app.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWithCodeCache } from './code-cache.js';
import { loadLoaderConfig, type LoaderConfig } from './config.js';

let config: LoaderConfig;
try {
  config = loadLoaderConfig();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const here = dirname(fileURLToPath(import.meta.url));
// As the apps log (pino's JSON lines), so that a log pipeline reads it like theirs.
const warn = (message: string) => console.error(JSON.stringify({ level: 40, time: Date.now(), name: 'code-cache', msg: message }));
runWithCodeCache({ bundle: join(here, 'main.cjs'), directory: config.codeCacheDir, writeAfterMs: 15_000, warn });
