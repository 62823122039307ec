import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKilnError } from '../errors.ts';
import { stateLayout } from './state-layout.ts';

test('state and cache paths: flag, then variable, then default; an empty variable is unset, an empty flag refused', () => {
  const cwd = '/work';
  assert.equal(stateLayout({ cwd, env: {} }).root, '/work/.kiln');
  assert.equal(stateLayout({ cwd, env: { KILN_STATE: '' } }).root, '/work/.kiln');
  assert.equal(stateLayout({ cwd, env: { KILN_STATE: 's' } }).root, '/work/s');
  assert.equal(stateLayout({ cwd, state: 'f', env: { KILN_STATE: 's' } }).root, '/work/f');
  assert.equal(stateLayout({ cwd, env: { KILN_CACHE: '' } }).cache, '/work/.kiln/cache');
  assert.equal(stateLayout({ cwd, env: { KILN_CACHE: '/c' } }).cache, '/c');
  for (const o of [{ state: '' }, { cache: '' }]) {
    assert.throws(() => stateLayout({ cwd, env: {}, ...o }), (e) => isKilnError(e) && e.code === 'usage' && /the path is empty/.test(e.message));
  }
});
