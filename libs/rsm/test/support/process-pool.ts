import { spawn, type ChildProcess } from 'node:child_process';
import { inheritedEnv } from './config.js';

/** A child process started by a test, with a promise for its first line containing `ready`. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `node script` with `env` (added to this process's environment), resolving `ready` when it prints
 * `ready`. Loading the library takes seconds on a loaded 2-core machine, several workers start at
 * once, so readiness gets a generous 90 s.
 */
export function spawnNode(name: string, script: string, env: Record<string, string>, readyTimeoutMs = 90_000): Child {
  const child = spawn(process.execPath, [script], { env: { ...inheritedEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after ${readyTimeoutMs} ms: ${stderr}`)), readyTimeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${String(code)} before ready: ${stderr}`));
    });
  });
  ready.catch(() => undefined);
  return { name, process: child, ready, exited };
}

export function sigkill(child: Child): Promise<number | null> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  return child.exited;
}
