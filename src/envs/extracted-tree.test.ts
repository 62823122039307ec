import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { extractedTreeProblem, resolveOnDisk } from './extracted-tree.ts';

test('extractedTreeProblem: links followed as they are on disk; a chain or a hard-made link out is named; absolute links are the root\'s own for a root, refused for a bundle', async () => {
  await using dir = await tmpDir('kiln-extracted-');
  const tree = (name: string, make: (root: string) => void): string => {
    const root = join(dir.path, name);
    mkdirSync(root);
    make(root);
    return root;
  };
  const fine = tree('fine', (r) => {
    mkdirSync(join(r, 'usr/lib'), { recursive: true });
    symlinkSync('usr/lib', join(r, 'lib'));
    symlinkSync('../lib/os-release', join(r, 'usr/os'));
    symlinkSync('/usr/lib', join(r, 'abs'));
    symlinkSync('missing/deeper', join(r, 'dangling'));
    writeFileSync(join(r, 'usr/lib/f'), 'x');
  });
  assert.equal(extractedTreeProblem(fine, { absolute: 'root' }), undefined);
  assert.match(extractedTreeProblem(fine, { absolute: 'refuse' }) ?? '', /symlink "abs" -> "\/usr\/lib" points outside \(an absolute target\)/);
  const chain = tree('chain', (r) => {
    mkdirSync(join(r, 'c'));
    symlinkSync('..', join(r, 'c/l0'));
    symlinkSync('l0/..', join(r, 'c/l1'));
  });
  assert.match(extractedTreeProblem(chain, { absolute: 'root' }) ?? '', /symlink "c\/l1" -> "l0\/\.\." points outside the tree/);
  const viaAbsolute = tree('via-absolute', (r) => {
    symlinkSync('/', join(r, 'top'));
    symlinkSync('top/..', join(r, 'up'));
  });
  // Inside a chroot /.. is /, but a host-side reader following it would leave: refused, as the member check does.
  assert.match(extractedTreeProblem(viaAbsolute, { absolute: 'root' }) ?? '', /symlink "up" -> "top\/\.\." points outside the tree/);
});

test('resolveOnDisk: a missing part ends the lookups; climbing above the root, or 41 links round, is undefined', async () => {
  await using dir = await tmpDir('kiln-resolve-');
  const r = dir.path;
  mkdirSync(join(r, 'a'));
  symlinkSync('b', join(r, 'loop1'));
  symlinkSync('loop1', join(r, 'b'));
  assert.deepEqual(resolveOnDisk(r, ['a'], '../x/y', true), ['x', 'y']);
  assert.equal(resolveOnDisk(r, ['a'], '../../x', true), undefined);
  assert.equal(resolveOnDisk(r, [], 'loop1/x', true), undefined);
  assert.equal(resolveOnDisk(r, [], 'nothing/../../x', true), undefined);
});

test('extractedTreeProblem: a symlink whose name is not UTF-8 (read back under another name) is refused, not a crash', async () => {
  const { symlinkSync: symlinkBuf, mkdirSync: mk } = await import('node:fs');
  await using dir = await tmpDir('kiln-extracted-utf8-');
  const root = join(dir.path, 'tree');
  mk(root);
  symlinkBuf('..', Buffer.concat([Buffer.from(`${root}/l0`), Buffer.from([0xfe])]));
  assert.match(extractedTreeProblem(root, { absolute: 'root' }) ?? '', /cannot be read back by its name/);
});
