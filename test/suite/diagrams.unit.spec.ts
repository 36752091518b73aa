import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SUITE_MACHINES, staleDiagrams } from '../../scripts/diagrams.js';
import { DeliverySaga } from '../../apps/workflow/src/saga/delivery-saga.machine.js';

describe('generated machine diagrams', () => {
  it('are checked in and match every suite machine declaration (npm run diagrams)', async () => {
    assert.deepEqual(await staleDiagrams(), []);
    assert.equal(SUITE_MACHINES.length, 7);
  });

  it('draw only declared per-event transitions', () => {
    const mermaid = DeliverySaga.toMermaid();
    assert.doesNotMatch(mermaid, /PackagePending --> DronePending: Reschedule/);
    assert.match(mermaid, /PackagePending --> DronePending: PackageLinked/);
    assert.match(mermaid, /PackagePending --> PackagePending: Reschedule/);
  });
});
