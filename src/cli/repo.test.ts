import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aptFileUri } from './repo.ts';

test('aptFileUri: what apt splits on or decodes is percent-encoded, / and the rest kept', () => {
  const rows: [string, string][] = [
    ['/srv/kiln/repo', 'file:/srv/kiln/repo'],
    ['/tmp/x/my repo', 'file:/tmp/x/my%20repo'],
    ['/tmp/100%/r', 'file:/tmp/100%25/r'],
    ['/tmp/a#b/c"d/[e]', 'file:/tmp/a%23b/c%22d/%5Be%5D'],
    ['/tmp/tab\there/new\nline', 'file:/tmp/tab%09here/new%0Aline'],
    ['/tmp/dépôt', 'file:/tmp/d%C3%A9p%C3%B4t'],
    // Kept: apt reads them as they are in a file: path.
    ['/tmp/a+b/c~d/e:f@g=h,i;j(k)&l\'m!n$o*', 'file:/tmp/a+b/c~d/e:f@g=h,i;j(k)&l\'m!n$o*'],
  ];
  for (const [dir, want] of rows) assert.equal(aptFileUri(dir), want, dir);
  // One word: nothing apt splits a line at is left.
  assert.doesNotMatch(aptFileUri('/a b\tc\rd\ve\ff'), /\s/);
});
