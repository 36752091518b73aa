import { isAbsolute } from 'node:path';

/** The app loader's one setting, read before the app (and its own configuration) loads. */
export interface LoaderConfig {
  /** CODE_CACHE_DIR: where V8 code caches are kept (default: next to the bundle). */
  readonly codeCacheDir: string | undefined;
}

/** Reads the loader's setting; a relative or empty path stops the start with its name. */
export function loadLoaderConfig(env: NodeJS.ProcessEnv = process.env): LoaderConfig {
  const dir = env.CODE_CACHE_DIR;
  if (dir === undefined) return { codeCacheDir: undefined };
  if (dir === '' || !isAbsolute(dir) || dir.includes('\0')) throw new Error(`CODE_CACHE_DIR must be an absolute path, got ${JSON.stringify(dir)}`);
  return { codeCacheDir: dir };
}
