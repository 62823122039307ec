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

test('rollbackLines: restored (was OLD, or another build), restored after a removal, removed; .udebs named', async () => {
  const { rollbackLines } = await import('./repo.ts');
  const c = (outcome: 'restored' | 'removed', pkg: string, version: string, filename: string, previous?: string) =>
    ({ component: 'main', package: pkg, version, architecture: 'amd64', filename, outcome, ...(previous === undefined ? {} : { previous }) });
  assert.deepEqual(rollbackLines({ suite: 'bookworm', changes: [
    c('restored', 'hello', '2.10-3', 'pool/main/h/hello/hello_2.10-3_amd64.deb', '2.10-4'),
    c('restored', 'bar', '1', 'pool/main/b/bar/bar_1_amd64.deb'),
    c('removed', 'foo', '1.0', 'pool/main/f/foo/foo_1.0_amd64.deb'),
    c('restored', 'kz-udeb', '3', 'pool/main/k/kz/kz-udeb_3_amd64.udeb', '3'),
  ] }), [
    'restored hello 2.10-3 amd64 (was 2.10-4) (bookworm/main)',
    'restored bar 1 amd64 (bookworm/main)',
    'removed foo 1.0 amd64 (bookworm/main)',
    'restored kz-udeb 3 amd64 (.udeb) (was another build of 3) (bookworm/main)',
  ]);
});
