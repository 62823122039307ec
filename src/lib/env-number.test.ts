import { test } from 'node:test';
import assert from 'node:assert/strict';
import { positiveFromEnv } from './env-number.ts';

test('positiveFromEnv: a number above 0 (whole, when asked), else the default', () => {
  const rows: [string | undefined, boolean, number][] = [
    [undefined, false, 7], ['', false, 7], ['0', false, 7], ['-5', false, 7], ['abc', false, 7],
    ['250', false, 250], ['1.5', false, 1.5], ['1.5', true, 7], ['50', true, 50],
  ];
  for (const [value, integer, want] of rows) {
    assert.equal(positiveFromEnv('X', 7, { integer, env: value === undefined ? {} : { X: value } }), want, `${value} ${integer}`);
  }
});
