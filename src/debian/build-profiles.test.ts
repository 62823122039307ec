import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debianProfileNote } from './build-profiles.ts';

test('debianProfileNote: registered profiles and pkg.SOURCE.NAME pass; anything else is named, with the nearest', () => {
  for (const ok of ['nocheck', 'nodoc', 'stage1', 'cross', 'pkg.gcc.nojit']) assert.equal(debianProfileNote(ok), undefined, ok);
  assert.match(debianProfileNote('nochek') ?? '', /^--profiles nochek: not one of Debian's build profiles \(did you mean "nocheck"\?\)/);
  assert.match(debianProfileNote('bogus') ?? '', /^--profiles bogus: not one of Debian's build profiles nor a package's own/);
  assert.match(debianProfileNote('pkg.foo') ?? '', /not one of/);
});
