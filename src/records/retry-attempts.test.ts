import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryOf, retryText } from './retry-attempts.ts';

test('retryOf: a built row\'s retry: warning, a failed row\'s cause; nothing for a first-attempt build', () => {
  for (const [state, row, want] of [
    ['built', { warnings: ['retry: built on attempt 2, after attempt 1: the build script exited with status 1'] }, { attempt: 2, earlier: 'attempt 1: the build script exited with status 1' }],
    ['built', { warnings: ['check: x', 'retry: built on attempt 3, after attempt 1: a; attempt 2: b'] }, { attempt: 3, earlier: 'attempt 1: a; attempt 2: b' }],
    ['built', { warnings: ['check: x'] }, undefined],
    ['built', { warnings: null }, undefined],
    ['failed', { cause: 'the build script exited with status 1 (attempt 3; the 2 earlier ones failed too: x; y)' }, { attempt: 3, earlier: 'x; y' }],
    ['failed', { cause: 'the build script exited with status 1 (attempt 2; the earlier one failed too: x)' }, { attempt: 2, earlier: 'x' }],
    ['failed', { cause: 'the build script exited with status 1' }, undefined],
    ['cancelled', { warnings: ['retry: built on attempt 2, after attempt 1: x'] }, undefined],
  ] as const) {
    assert.deepEqual(retryOf(state, row), want, `${state} ${JSON.stringify(row)}`);
  }
  assert.equal(retryText({ attempt: 3, earlier: 'attempt 1: a; attempt 2: b' }), 'built on attempt 3 (attempt 1 failed: a; attempt 2 failed: b)');
});
