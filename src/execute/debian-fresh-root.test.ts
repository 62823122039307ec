import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unresolvableOf } from './debian-fresh-root.ts';

test('unresolvableOf: the indexes of the arguments the simulation marked as unresolvable; other lines are not read', () => {
  const out = ['Inst hello (2.10-3 Debian:12 [amd64])', 'kiln-fresh-root: unresolvable 2', 'E: Unable to satisfy dependencies', 'kiln-fresh-root: unresolvable 0', 'apt said: kiln-fresh-root: unresolvable 5'].join('\n');
  assert.deepEqual(unresolvableOf(out), [2, 0]);
  assert.deepEqual(unresolvableOf(''), []);
});
