/**
 * `dist/apps/<app>/main.mjs`: runs the app's bundle (`main.cjs` beside it) with a V8 code cache
 * (see code-cache.ts). `npm run build` bundles this file once per app, with the bundle's digest.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWithCodeCache } from './code-cache.js';
import { loadLoaderConfig } from './config.js';

declare const RSM_BUNDLE_DIGEST: string;

let config;
try {
  config = loadLoaderConfig();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const here = dirname(fileURLToPath(import.meta.url));
const warn = (message: string) => console.error(JSON.stringify({ level: 40, time: Date.now(), name: 'code-cache', msg: message }));
runWithCodeCache({ bundle: join(here, 'main.cjs'), digest: RSM_BUNDLE_DIGEST, directory: config.codeCacheDir ?? here, writeAfterMs: 15_000, warn });
