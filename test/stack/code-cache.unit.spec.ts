import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
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
const written = write ? [run.write(), run.write()] : [];
console.log(JSON.stringify({ status: run.status, file: run.file, ran: globalThis.codeCacheProbe ?? [], written, warnings }));
`;

interface ProcessReport {
  status: CodeCacheStatus;
  file?: string;
  ran: string[];
  written: boolean[];
  warnings: string[];
}

/** A bundle that records which build ran, through the names a CommonJS module sees. */
const bundleSource = (build: string) =>
  `const { sep } = require('node:path'); (globalThis.codeCacheProbe ??= []).push(exports === module.exports && __filename.endsWith(sep + 'main.cjs') && __dirname.endsWith('demo') ? ${JSON.stringify(build)} : 'wrong names');\n`;

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
  const run = (digest: string, o: { directory?: string; write?: boolean } = {}): ProcessReport =>
    JSON.parse(execFileSync(process.execPath, [script, JSON.stringify({ bundle, digest, directory: o.directory ?? cacheDir }), o.write === true ? 'write' : ''], { encoding: 'utf8' })) as ProcessReport;
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes a private cache once served, and the next process of the bundle uses it', () => {
    writeFileSync(bundle, bundleSource('A'));
    const first = run('digest-a', { write: true });
    assert.deepEqual([first.status, first.ran], ['absent', ['A']]);
    assert.deepEqual(first.written, [true, false], 'written once per process');
    assert.equal(statSync(own).mode & 0o777, 0o700);
    assert.equal(statSync(first.file as string).mode & 0o777, 0o600);
    const second = run('digest-a');
    assert.deepEqual([second.status, second.ran, second.file], ['used', ['A'], first.file]);
  });

  it('a new build of the same length never runs the old build\'s cache, and replaces it', () => {
    writeFileSync(bundle, bundleSource('B'));
    const next = run('digest-b', { write: true });
    assert.deepEqual([next.status, next.ran, next.written], ['absent', ['B'], [true, false]]);
    assert.deepEqual(readdirSync(own), [next.file?.slice(own.length + 1)], 'the old build\'s cache is removed');
  });

  it('a cache V8 refuses (corrupt, or from another V8) is ignored and rewritten', () => {
    const { file } = run('digest-b');
    writeFileSync(file as string, Buffer.alloc(4_096, 7), { mode: 0o600 });
    const damaged = run('digest-b', { write: true });
    assert.deepEqual([damaged.status, damaged.ran, damaged.written], ['rejected', ['B'], [true, false]]);
    assert.equal(run('digest-b').status, 'used');
  });

  it('ignores a cache file that is a link, and a directory others may write', () => {
    const { file } = run('digest-b');
    const elsewhere = join(root, 'planted.cache');
    writeFileSync(elsewhere, 'x', { mode: 0o600 });
    rmSync(file as string);
    symlinkSync(elsewhere, file as string);
    const linked = run('digest-b');
    assert.deepEqual([linked.status, linked.ran], ['absent', ['B']]);
    assert.match(linked.warnings.join('\n'), /not a private file/);
    rmSync(file as string);

    chmodSync(own, 0o777);
    const open = run('digest-b', { write: true });
    assert.deepEqual([open.status, open.ran, open.file, open.written], ['unusable', ['B'], undefined, [false, false]]);
    assert.match(open.warnings.join('\n'), /others may write it \(mode 777\)/);
    chmodSync(own, 0o700);
  });

  it('runs the bundle when the directory cannot be made', () => {
    const blocked = join(root, 'a-file');
    writeFileSync(blocked, '');
    const result = run('digest-b', { directory: blocked });
    assert.deepEqual([result.status, result.ran], ['unusable', ['B']]);
    assert.match(result.warnings.join('\n'), /code cache not used in/);
  });

  it('CODE_CACHE_DIR must be an absolute path', () => {
    assert.deepEqual(loadLoaderConfig({}), { codeCacheDir: undefined });
    assert.deepEqual(loadLoaderConfig({ CODE_CACHE_DIR: '/var/cache/rsm' }), { codeCacheDir: '/var/cache/rsm' });
    for (const bad of ['', 'cache', './cache']) assert.throws(() => loadLoaderConfig({ CODE_CACHE_DIR: bad }), /CODE_CACHE_DIR must be an absolute path/);
  });
});
