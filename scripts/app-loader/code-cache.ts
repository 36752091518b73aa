/**
 * Runs an app's CommonJS bundle with a V8 code cache. Compiling the bundle (about 10 MB) and the
 * functions a start runs is a third of an app's start-up CPU; a process that finds a cache written
 * by an earlier process of the same bundle skips most of it. On a busy node that CPU is what a
 * restarted pod waits for, while the deliveries behind it wait for the pod.
 *
 * The first process of a bundle runs without a cache and writes one `writeAfterMs` after its start:
 * by then it has started and usually served, so the cache holds the bytecode of the request paths
 * too. V8 trusts a cache: it compares it with the source by length only (another source of the
 * same length runs the cached code), and a release build does not check its body. So a cache is
 * named after a checksum of its bundle taken as the bundle is read, carries a checksum of its own
 * bytes, and is used only from a directory this user owns and nobody else may write.
 *
 * Where: `CODE_CACHE_DIR`, or by default beside the bundle, and there only when this user may write
 * the bundle's directory (then a cache lets it change nothing it could not change already). In the
 * image the code is root's, so the cache is off unless an operator chooses a directory: a writable
 * cache would let an intruder's code outlive a container restart.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants as fs, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script, constants } from 'node:vm';
import { crc32 } from 'node:zlib';

export interface CodeCacheOptions {
  /** The CommonJS bundle, an absolute path. */
  readonly bundle: string;
  /** `CODE_CACHE_DIR`: where caches are kept (this user's subdirectory of it); undefined: beside the bundle, if this user may write there; null: off. */
  readonly directory: string | null | undefined;
  /** How long after its start the first process of a bundle writes the cache. */
  readonly writeAfterMs: number;
  /** Where a cache that cannot be used or written is reported (one line each). */
  readonly warn: (message: string) => void;
}

/**
 * What became of the cache: `used` (found and taken by V8), `absent`, `rejected` (by V8: another V8
 * or flags), `corrupt` (its checksum does not match), `unusable` (the directory is not private) or
 * `off` (no directory: turned off, or the bundle's directory is not this user's to write).
 */
export type CodeCacheStatus = 'used' | 'absent' | 'rejected' | 'corrupt' | 'unusable' | 'off';

export interface CodeCacheRun {
  readonly status: CodeCacheStatus;
  /** The cache file of this bundle, this Node and this architecture, when there is a usable directory. */
  readonly file: string | undefined;
  /** Writes the cache now (the timer does it after `writeAfterMs`): true when written. Once per process. */
  write(): Promise<boolean>;
}

/** Part of every cache's name: a change of how caches are made or read leaves the old ones unread. */
const FORMAT = 1;
/** A cache file: this magic, the CRC-32 of the V8 data (big-endian), then the data. */
const MAGIC = Buffer.from('RSMC');
const HEADER = MAGIC.length + 4;
/** The sticky bit of a directory's mode: only a file's owner may remove or rename it. */
const STICKY = 0o1000;

/** `rsm-bundle.<app>.`: app names hold no dot, so one app's prefix is never another's. */
const prefix = (app: string) => `rsm-bundle.${app}.`;

/** Compiles and runs the bundle, with the cache when there is a usable one. */
export function runWithCodeCache(o: CodeCacheOptions): CodeCacheRun {
  const bytes = readFileSync(o.bundle);
  const app = basename(dirname(o.bundle));
  const directory = o.directory === null ? null : o.directory === undefined ? besideBundle(dirname(o.bundle), o.warn) : ownDirectory(o.directory, o.warn);
  const name = `${prefix(app)}${FORMAT}.${crc32(bytes).toString(16)}-${bytes.length}.${process.version}.${process.arch}.cache`;
  const file = typeof directory === 'string' ? join(directory, name) : undefined;
  const cached = file === undefined ? undefined : readCache(file, o.warn);
  // The CommonJS wrapper, as Node writes it: the bundle sees the same five names as under `require`.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${bytes.toString('utf8')}\n})`, {
    filename: o.bundle,
    ...(cached instanceof Buffer ? { cachedData: cached } : {}),
    // The bundle has no import() of its own (the build turns them into require); a safety net.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const status: CodeCacheStatus =
    directory === null ? 'off'
    : directory === undefined ? 'unusable'
    : cached === 'corrupt' ? 'corrupt'
    : cached === undefined ? 'absent'
    : script.cachedDataRejected === true ? 'rejected'
    : 'used';
  let written = false;
  const write = async (): Promise<boolean> => {
    if (file === undefined || written) return false;
    written = true;
    const data = script.createCachedData();
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header);
    header.writeUInt32BE(crc32(data), MAGIC.length);
    // A name no other process picks (pid 1 in every container), created here and nowhere else.
    const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        const { bytesWritten } = await handle.writev([header, data]);
        if (bytesWritten !== header.length + data.length) throw new Error(`wrote ${bytesWritten} of ${header.length + data.length} bytes`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
      removeOtherBuilds(dirname(file), app, name);
      return true;
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      o.warn(`code cache not written to ${file}: ${(error as Error).message}`);
      return false;
    }
  };
  if (status === 'absent' || status === 'rejected' || status === 'corrupt') setTimeout(() => void write(), o.writeAfterMs).unref();
  const module = { exports: {} as unknown, id: '.', filename: o.bundle, loaded: false };
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(o.bundle), module, o.bundle, dirname(o.bundle));
  module.loaded = true;
  return { status, file, write };
}

/** The default: beside the bundle, when this user may write there; otherwise off (null), and quietly. */
function besideBundle(bundleDir: string, warn: (message: string) => void): string | null | undefined {
  try {
    accessSync(bundleDir, fs.W_OK);
  } catch {
    return null;
  }
  return ownDirectory(bundleDir, warn);
}

/**
 * This user's subdirectory of `parent`, created private: `undefined` (with a warning) when it is
 * not a directory this user owns and only this user may write, or when others may replace it (a
 * parent they may write without the sticky bit): anyone who can write a cache chooses the code
 * this process runs.
 */
function ownDirectory(parent: string, warn: (message: string) => void): string | undefined {
  const uid = process.getuid?.();
  const directory = join(parent, `rsm-code-cache-${uid ?? 'user'}`);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const above = statSync(parent);
    if ((above.mode & 0o022) !== 0 && (above.mode & STICKY) === 0) throw new Error(`others may write ${parent} (mode ${(above.mode & 0o777).toString(8)}, not sticky)`);
    const stat = lstatSync(directory);
    const refusal = !stat.isDirectory() ? 'not a directory' : notPrivate(stat);
    if (refusal !== undefined) throw new Error(refusal);
    return directory;
  } catch (error) {
    warn(`code cache not used in ${directory}: ${(error as Error).message}`);
    return undefined;
  }
}

/** Why a cache file or directory is not this user's alone (undefined: it is): the same test for both. */
function notPrivate(stat: Stats): string | undefined {
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) return `owned by uid ${stat.uid}, not this process's ${uid}`;
  if ((stat.mode & 0o022) !== 0) return `others may write it (mode ${(stat.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * The V8 data of a cache file, when it exists, is a regular file of this user's that only this user
 * may write (opened without following a link), and its checksum matches; `corrupt` when it does not.
 */
function readCache(file: string, warn: (message: string) => void): Buffer | 'corrupt' | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, fs.O_RDONLY | fs.O_NOFOLLOW);
    const stat = fstatSync(fd);
    const refusal = !stat.isFile() ? 'not a regular file' : notPrivate(stat);
    if (refusal !== undefined) {
      warn(`code cache ${file} ignored: not a private file of this user (${refusal})`);
      return undefined;
    }
    const bytes = readFileSync(fd);
    const data = bytes.subarray(HEADER);
    if (bytes.length <= HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC) || bytes.readUInt32BE(MAGIC.length) !== crc32(data)) {
      warn(`code cache ${file} ignored: its checksum does not match (it is written again)`);
      return 'corrupt';
    }
    return data;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') warn(`code cache ${file} ignored: not a private file of this user`);
    else if (code !== 'ENOENT') warn(`code cache ${file} not read: ${(error as Error).message}`);
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
