import { isAbsolute } from 'node:path';

/** The app loader's one setting, read before the app (and its own configuration) loads. */
export interface LoaderConfig {
  /**
   * CODE_CACHE_DIR: where V8 code caches are kept (see code-cache.ts). Unset: beside the bundle,
   * when this user may write there (undefined); empty: no cache (null).
   */
  readonly codeCacheDir: string | null | undefined;
}

/** Reads the loader's setting; a relative path stops the start with the setting's name. */
export function loadLoaderConfig(env: NodeJS.ProcessEnv = process.env): LoaderConfig {
  const dir = env.CODE_CACHE_DIR;
  if (dir === undefined) return { codeCacheDir: undefined };
  if (dir === '') return { codeCacheDir: null };
  if (!isAbsolute(dir) || dir.includes('\0')) throw new Error(`CODE_CACHE_DIR must be an absolute path (or empty: no code cache), got ${JSON.stringify(dir)}`);
  return { codeCacheDir: dir };
}
