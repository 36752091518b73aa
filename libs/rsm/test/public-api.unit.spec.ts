import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

interface Edge {
  readonly url: string;
  readonly parent: string | undefined;
}

const loadEntry = fileURLToPath(new URL('./fixtures/load-entry.js', import.meta.url));

/** Every module a fresh Node process resolves when it imports `specifier`, with its importer. */
async function modulesLoadedBy(specifier: string): Promise<Edge[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [loadEntry, specifier], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Edge[];
}

/** The import chain from the entry to `url`, as short paths: readable when the assertion fails. */
function chainTo(url: string, edges: readonly Edge[]): string {
  const parentOf = new Map<string, string | undefined>();
  for (const edge of edges) if (!parentOf.has(edge.url)) parentOf.set(edge.url, edge.parent);
  const chain: string[] = [];
  for (let at: string | undefined = url; at !== undefined && chain.length < 50; at = parentOf.get(at)) chain.unshift(at.replace(/^.*?\/(dist|node_modules)\//, '$1/'));
  return chain.join(' -> ');
}

const NEST = /\/node_modules\/@nestjs\//;

describe('public entries: #rsm is plain Node, NestJS only behind #rsm/nest', () => {
  it('importing #rsm loads no @nestjs module', async () => {
    const edges = await modulesLoadedBy('#rsm');
    assert.ok(
      edges.some((e) => e.url.endsWith('/dist/libs/rsm/src/runtime/rsm-runtime.js')),
      'the recorder saw the runtime module load (else the check below proves nothing)',
    );
    // Where NestJS is entered from outside it (not NestJS's own imports).
    const nest = edges.filter((e) => NEST.test(e.url) && !NEST.test(e.parent ?? '')).map((e) => chainTo(e.url, edges));
    assert.deepEqual(nest, [], `#rsm must not load NestJS; move what imports it behind #rsm/nest:\n${nest.join('\n')}`);
  });

  it('importing #rsm/nest does load @nestjs/common (the recorder sees NestJS where it is)', async () => {
    const edges = await modulesLoadedBy('#rsm/nest');
    assert.ok(
      edges.some((e) => NEST.test(e.url)),
      'no @nestjs module recorded for #rsm/nest',
    );
  });
});
