import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callerDebianOptions } from './build.ts';

test('callerDebianOptions: names the DEB_BUILD_* settings sbuild would pass and kiln does not', () => {
  assert.equal(callerDebianOptions({}), undefined);
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: '  ' }), undefined, 'blank is unset');
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: 'nocheck noopt' }), 'DEB_BUILD_OPTIONS="nocheck noopt"');
  assert.equal(callerDebianOptions({ DEB_BUILD_OPTIONS: 'nocheck', DEB_BUILD_PROFILES: 'nodoc' }), 'DEB_BUILD_OPTIONS="nocheck" and DEB_BUILD_PROFILES="nodoc"');
});
