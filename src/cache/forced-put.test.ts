import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overExisting, type OverExisting } from './forced-put.ts';

test('overExisting: what a forced rebuild does with a sound stored entry', () => {
  const rows: [string, { outputHash: string; warnings?: string[] }, { outputHash: string; warnings: string[] }, boolean, OverExisting][] = [
    ['the same output and warnings', { outputHash: 'a' }, { outputHash: 'a', warnings: [] }, true, 'keep'],
    ['the same output, other warnings (a newer kiln\'s checks)', { outputHash: 'a', warnings: ['x'] }, { outputHash: 'a', warnings: [] }, false, 'rewrite-warnings'],
    ['another output, --force', { outputHash: 'a' }, { outputHash: 'b', warnings: ['y'] }, true, 'replace'],
    ['another output, --twice (compares, stores nothing)', { outputHash: 'a' }, { outputHash: 'b', warnings: [] }, false, 'keep'],
    ['another output, clean where the stored one was warned of (--fail-on-warnings)', { outputHash: 'a', warnings: ['x'] }, { outputHash: 'b', warnings: [] }, false, 'replace'],
    ['another output, warned too, not --force', { outputHash: 'a', warnings: ['x'] }, { outputHash: 'b', warnings: ['y'] }, false, 'keep'],
  ];
  for (const [name, stored, built, replace, want] of rows) assert.equal(overExisting(stored, built, replace), want, name);
});
