import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import type { CodeCacheStatus } from '../../scripts/app-loader/code-cache.js';
import { loadLoaderConfig } from '../../scripts/app-loader/config.js';

/**
 * One process of the app: loads the bundle through the loader and reports what happened. A process
 * each, as in production: V8 keeps what it compiled per process, and would answer a second compile
 * of the same source from memory without ever reading the cache.
 */
const processScript = `
import { runWithCodeCache } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../scripts/app-loader/code-cache.js')).href)};
const [options, write] = [JSON.parse(process.argv[2]), process.argv[3] === 'write'];
const warnings = [];
const run = runWithCodeCache({ ...options, writeAfterMs: 3_600_000, warn: (m) => warnings.push(m) });
const written = write ? [await run.write(), await run.write()] : [];
const imported = await globalThis.codeCacheImport;
console.log(JSON.stringify({ status: run.status, file: run.file, ran: globalThis.codeCacheProbe ?? [], imported, written, warnings }));
`;

interface ProcessReport {
  status: CodeCacheStatus;
  file?: string;
  ran: string[];
  imported: string;
  written: boolean[];
  warnings: string[];
}

/**
 * A bundle that records which build ran, through the names a CommonJS module sees (and strict, as
 * the real bundle's banner makes it), and loads a module the way the real bundle's optional
 * packages are loaded.
 */
const bundleSource = (build: string) =>
  `'use strict'; const { sep } = require('node:path');
(globalThis.codeCacheProbe ??= []).push(exports === module.exports && __filename.endsWith(sep + 'main.cjs') && __dirname.endsWith('demo') && this === module.exports && (function () { return this; })() === undefined ? ${JSON.stringify(build)} : 'wrong names');
globalThis.codeCacheImport = Promise.resolve().then(() => typeof require('node:os').cpus);\n`;

/**
 * The app loader's V8 code cache (scripts/app-loader): a restarted app finds the cache its
 * predecessor wrote, and never runs code from a cache that is not its own bundle's.
 */
describe('app loader: V8 code cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'code-cache-'));
  const app = join(root, 'apps', 'demo');
  mkdirSync(app, { recursive: true });
  const bundle = join(app, 'main.cjs');
  const cacheDir = join(root, 'cache');
  mkdirSync(cacheDir, { mode: 0o755 });
  const own = join(cacheDir, `rsm-code-cache-${process.getuid?.() ?? 'user'}`);
  const script = join(root, 'process.mjs');
  writeFileSync(script, processScript);
  /** `directory`: CODE_CACHE_DIR as the loader reads it (null: empty, off; 'default': unset); the test's directory by default. */
  const run = (o: { directory?: string | null; write?: boolean } = {}): ProcessReport => {
    const directory = o.directory === 'default' ? {} : { directory: o.directory === undefined ? cacheDir : o.directory };
    const child = spawnSync(process.execPath, [script, JSON.stringify({ bundle, ...directory }), o.write === true ? 'write' : ''], { encoding: 'utf8' });
    assert.equal(child.stderr, '', 'nothing on stderr (no warning of Node\'s)');
    assert.equal(child.status, 0);
    return JSON.parse(child.stdout) as ProcessReport;
  };
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes a private cache once, and the next process of the bundle uses it', () => {
    writeFileSync(bundle, bundleSource('A'));
    const first = run({ write: true });
    assert.deepEqual([first.status, first.ran, first.imported], ['absent', ['A'], 'function']);
    assert.deepEqual(first.written, [true, false], 'written once per process');
    assert.equal(statSync(own).mode & 0o777, 0o700);
    assert.equal(statSync(first.file as string).mode & 0o777, 0o600);
    const second = run();
    assert.deepEqual([second.status, second.ran, second.imported, second.file], ['used', ['A'], 'function', first.file]);
  });

  it('a new build of the same length never runs the old build\'s cache, and replaces it', () => {
    // V8 would take A's cache for B (it compares lengths) and run A: the name keeps them apart.
    writeFileSync(bundle, bundleSource('B'));
    const next = run({ write: true });
    assert.deepEqual([next.status, next.ran, next.written], ['absent', ['B'], [true, false]]);
    assert.deepEqual(readdirSync(own), [next.file?.slice(own.length + 1)], 'the old build\'s cache is removed');
  });

  it('a damaged cache is never handed to V8, and one V8 refuses is not used: both are written again', () => {
    const { file } = run();
    const good = readFileSync(file as string);
    // A flipped byte in the V8 data, past the header V8 would check.
    const damaged = Buffer.from(good);
    damaged[damaged.length - 100] = (damaged[damaged.length - 100] ?? 0) ^ 0xff;
    writeFileSync(file as string, damaged, { mode: 0o600 });
    const corrupt = run({ write: true });
    assert.deepEqual([corrupt.status, corrupt.ran, corrupt.written], ['corrupt', ['B'], [true, false]]);
    assert.match(corrupt.warnings.join('\n'), /checksum does not match/);
    assert.equal(run().status, 'used');
    // A well-formed file whose data is not V8's (another V8 would answer the same).
    const data = Buffer.alloc(4_096, 7);
    const header = Buffer.alloc(8);
    header.write('RSMC');
    header.writeUInt32BE(crc32(data), 4);
    writeFileSync(file as string, Buffer.concat([header, data]), { mode: 0o600 });
    const refused = run({ write: true });
    assert.deepEqual([refused.status, refused.ran, refused.written], ['rejected', ['B'], [true, false]]);
    assert.equal(run().status, 'used');
  });

  it('ignores a cache file that is a link, and a directory others may write', () => {
    const { file } = run();
    const elsewhere = join(root, 'planted.cache');
    writeFileSync(elsewhere, readFileSync(file as string), { mode: 0o600 });
    rmSync(file as string);
    symlinkSync(elsewhere, file as string);
    const linked = run();
    assert.deepEqual([linked.status, linked.ran], ['absent', ['B']]);
    assert.match(linked.warnings.join('\n'), /not a private file/);
    rmSync(file as string);

    chmodSync(own, 0o777);
    const open = run({ write: true });
    assert.deepEqual([open.status, open.ran, open.file, open.written], ['unusable', ['B'], undefined, [false, false]]);
    assert.match(open.warnings.join('\n'), /others may write it \(mode 777\)/);
    chmodSync(own, 0o700);

    // A parent others may write without the sticky bit: they could put their own directory in its place.
    chmodSync(cacheDir, 0o777);
    const shared = run();
    assert.deepEqual([shared.status, shared.ran], ['unusable', ['B']]);
    assert.match(shared.warnings.join('\n'), /not sticky/);
    chmodSync(cacheDir, 0o1777);
    assert.equal(run({ write: true }).status, 'absent', 'a sticky parent like /tmp is fine');
    chmodSync(cacheDir, 0o755);
  });

  it('runs the bundle when the directory cannot be made, when turned off, and by default beside the bundle', () => {
    const blocked = join(root, 'a-file');
    writeFileSync(blocked, '');
    const result = run({ directory: blocked });
    assert.deepEqual([result.status, result.ran], ['unusable', ['B']]);
    assert.match(result.warnings.join('\n'), /code cache not used in/);
    const off = run({ directory: null, write: true });
    assert.deepEqual([off.status, off.ran, off.written, off.warnings], ['off', ['B'], [false, false], []]);
    const beside = run({ directory: 'default', write: true });
    assert.deepEqual([beside.status, beside.written], ['absent', [true, false]]);
    assert.equal(beside.file?.startsWith(join(app, 'rsm-code-cache-')), true);
  });

  it('CODE_CACHE_DIR: absolute, or empty for none', () => {
    assert.deepEqual(loadLoaderConfig({}), { codeCacheDir: undefined });
    assert.deepEqual(loadLoaderConfig({ CODE_CACHE_DIR: '' }), { codeCacheDir: null });
    assert.deepEqual(loadLoaderConfig({ CODE_CACHE_DIR: '/var/cache/rsm' }), { codeCacheDir: '/var/cache/rsm' });
    for (const bad of ['cache', './cache']) assert.throws(() => loadLoaderConfig({ CODE_CACHE_DIR: bad }), /CODE_CACHE_DIR must be an absolute path/);
  });
});
