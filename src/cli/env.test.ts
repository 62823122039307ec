import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../errors.ts';
import { refuseWithoutRoot } from './env.ts';

test('kiln env create and import need root: said up front, with what works instead', () => {
  refuseWithoutRoot('create', 0);
  for (const verb of ['create', 'import'] as const) {
    assert.throws(() => refuseWithoutRoot(verb, 1000), (e: unknown) => isKilnError(e) && e.code === 'usage' && e.message.startsWith(`kiln env ${verb} needs root`) && /KILN_ENVS=/.test(e.hint ?? ''));
  }
});
