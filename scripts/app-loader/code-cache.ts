/**
 * Runs an app's CommonJS bundle with a V8 code cache. Compiling the bundle (about 10 MB) and the
 * functions a start runs is a third of an app's start-up CPU; a process that finds a cache written
 * by an earlier process of the same bundle skips most of it. On a busy node that CPU is what a
 * restarted pod waits for, while the deliveries behind it wait for the pod.
 *
 * The first process of a bundle runs without a cache and writes one once it has served for a
 * while: the cache then also holds the bytecode of the request paths, not only of the start. V8
 * checks a cache against the source's length only, so a cache from another bundle of the same
 * length would run that bundle's code: every cache is named after a digest of its bundle (taken at
 * build time), and a directory is used only when this user owns it and nobody else may write it.
 * A cache that cannot be read, written or used costs only the time it would have saved.
 */
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script, constants } from 'node:vm';

export interface CodeCacheOptions {
  /** The CommonJS bundle, an absolute path. */
  readonly bundle: string;
  /** A digest of the bundle's content, computed when it was built. */
  readonly digest: string;
  /** Where caches are kept: this user's own subdirectory of it is used. */
  readonly directory: string;
  /** How long the first process of a bundle runs before it writes the cache. */
  readonly writeAfterMs: number;
  /** Where a cache that cannot be used or written is reported (one line). */
  readonly warn: (message: string) => void;
}

/** What became of the cache: `used` (found and accepted), `absent`, `rejected` (by V8) or `unusable` (the directory). */
export type CodeCacheStatus = 'used' | 'absent' | 'rejected' | 'unusable';

export interface CodeCacheRun {
  readonly status: CodeCacheStatus;
  /** The cache file of this bundle, this Node and this architecture, when the directory is usable. */
  readonly file: string | undefined;
  /** Writes the cache now (the timer does it after `writeAfterMs`): true when written. */
  write(): boolean;
}

/** `rsm-bundle.<app>.`: app names hold no dot, so one app's prefix is never another's. */
const prefix = (app: string) => `rsm-bundle.${app}.`;

/** Compiles and runs the bundle, with the cache when there is a usable one. */
export function runWithCodeCache(o: CodeCacheOptions): CodeCacheRun {
  const source = readFileSync(o.bundle, 'utf8');
  const directory = ownDirectory(o.directory, o.warn);
  const app = basename(dirname(o.bundle));
  const name = `${prefix(app)}${o.digest}.${process.version}.${process.arch}.cache`;
  const file = directory === undefined ? undefined : join(directory, name);
  const cached = file === undefined ? undefined : readOwnFile(file, o.warn);
  // The CommonJS wrapper, as Node writes it: the bundle sees the same five names as under `require`.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
    filename: o.bundle,
    ...(cached !== undefined ? { cachedData: cached } : {}),
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const status: CodeCacheStatus = directory === undefined ? 'unusable' : cached === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'used';
  let written = false;
  const write = (): boolean => {
    if (file === undefined || written) return false;
    written = true;
    try {
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
      renameSync(temporary, file);
      removeOtherBuilds(directory as string, app, name);
      return true;
    } catch (error) {
      o.warn(`code cache not written to ${file}: ${(error as Error).message}`);
      return false;
    }
  };
  if (status === 'absent' || status === 'rejected') setTimeout(write, o.writeAfterMs).unref();
  const module = { exports: {} as unknown, id: '.', filename: o.bundle, loaded: false };
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(o.bundle), module, o.bundle, dirname(o.bundle));
  module.loaded = true;
  return { status, file, write };
}

/**
 * This user's subdirectory of `parent`, created private: `undefined` (with a warning) when it is
 * not a directory this user owns and only this user may write, since anyone who can write a cache
 * chooses the code this process runs.
 */
function ownDirectory(parent: string, warn: (message: string) => void): string | undefined {
  const uid = process.getuid?.();
  const directory = join(parent, `rsm-code-cache-${uid ?? 'user'}`);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const stat = lstatSync(directory);
    if (!stat.isDirectory()) throw new Error('not a directory');
    if (uid !== undefined && stat.uid !== uid) throw new Error(`owned by uid ${stat.uid}, not this process's ${uid}`);
    if ((stat.mode & 0o022) !== 0) throw new Error(`others may write it (mode ${(stat.mode & 0o777).toString(8)})`);
    return directory;
  } catch (error) {
    warn(`code cache not used in ${directory}: ${(error as Error).message}`);
    return undefined;
  }
}

/** The file's bytes when it exists, is a regular file and is this user's (not a link planted there). */
function readOwnFile(file: string, warn: (message: string) => void): Buffer | undefined {
  let fd: number | undefined;
  try {
    const link = lstatSync(file);
    fd = openSync(file, 'r');
    const stat = fstatSync(fd);
    const uid = process.getuid?.();
    if (link.isSymbolicLink() || !stat.isFile() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) {
      warn(`code cache ${file} ignored: not a private file of this user`);
      return undefined;
    }
    return readFileSync(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warn(`code cache ${file} not read: ${(error as Error).message}`);
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Removes this app's caches of other builds and Node versions, and files a killed writer left, so
 * that the directory does not only grow.
 */
function removeOtherBuilds(directory: string, app: string, keep: string): void {
  for (const entry of readdirSync(directory)) {
    if (entry === keep || !entry.startsWith(prefix(app))) continue;
    const path = join(directory, entry);
    try {
      // A file another process of this app is writing right now is left to it.
      if (entry.endsWith('.tmp') && Date.now() - lstatSync(path).mtimeMs < 60_000) continue;
      rmSync(path, { force: true });
    } catch {
      // gone already, or another process's to remove
    }
  }
}
