import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoppedRuns } from './coordinator-words.ts';

test('StoppedRuns: a run stopped whole is remembered for a while, then forgotten', () => {
  const s = new StoppedRuns(1000);
  assert.equal(s.has('r1', 0), false);
  s.stop('r1', 0);
  assert.equal(s.has('r1', 999), true, 'a job of it taken just after is stopped');
  assert.equal(s.has('r2', 999), false, 'other runs go on');
  assert.equal(s.has('r1', 1001), false, 'forgotten after its memory');
  s.stop('r2', 2000);
  assert.equal(s.size, 1, 'old entries go when new ones come');
});
