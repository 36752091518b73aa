// The README's "Tests" section is what a newcomer reads to learn what is checked: it must name every
// test file, so that a new one cannot land without a line saying what it proves.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');

describe('README', () => {
  it('names every test file in its Tests section', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Tests\n');
    const end = readme.indexOf('\n## ', start + 1);
    assert.ok(start >= 0 && end > start, 'README has a "## Tests" section followed by another section');
    const section = readme.slice(start, end);
    const specs = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.spec.ts'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file !== '' && !file.startsWith('node_modules/'));
    assert.ok(specs.length > 20, `found ${specs.length} spec files`);
    const missing = specs.filter((file) => !section.includes(basename(file)));
    assert.deepEqual(missing, [], 'each test file needs a line in the README "Tests" section saying what it checks');
  });
});
