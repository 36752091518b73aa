import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prefersMinimal } from '../../libs/service-kit/src/prefer.js';

/** The `Prefer: return=minimal` a device sends so that a confirmation is not read back (RFC 7240). */
describe('prefersMinimal', () => {
  it('reads return=minimal among preferences, in any case, quoted or with parameters', () => {
    for (const header of ['return=minimal', 'RETURN=Minimal', 'return="minimal"', 'respond-async, return=minimal', ' return = minimal ; x=1', 'wait=5,return=minimal', ['handling=lenient', 'return=minimal']]) {
      assert.equal(prefersMinimal(header), true, JSON.stringify(header));
    }
  });

  it('gives the full answer for anything else', () => {
    for (const header of [undefined, '', 'return=representation', 'return=minimalist', 'xreturn=minimal', 'return', 'return=', '"return=minimal"', 'return=minimal'.padStart(2_000, ' '), []]) {
      assert.equal(prefersMinimal(header), false, JSON.stringify(header));
    }
  });
});
