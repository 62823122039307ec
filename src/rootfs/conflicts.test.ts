import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberType } from '../envs/tar-scan.ts';
import { findConflicts } from './conflicts.ts';

const pkg = (name: string, members: Record<string, MemberType>) => ({ name, members: Object.entries(members).map(([n, type]) => ({ name: n, type })) });

const cases: readonly { name: string; packages: ReturnType<typeof pkg>[]; want: string[] }[] = [
  {
    name: 'shared directories are fine',
    packages: [pkg('a', { 'usr/': 'dir', 'usr/bin/': 'dir', 'usr/bin/a': 'file' }), pkg('b', { 'usr/': 'dir', 'usr/bin/': 'dir', 'usr/bin/b': 'file' })],
    want: [],
  },
  {
    name: 'the same file in two packages',
    packages: [pkg('a', { 'etc/': 'dir', 'etc/app.conf': 'file' }), pkg('b', { 'etc/': 'dir', './etc/app.conf': 'file' })],
    want: ['etc/app.conf: a, b'],
  },
  {
    name: 'a link and a file, a directory and a link',
    packages: [pkg('a', { 'lib': 'symlink', 'bin/sh': 'file' }), pkg('b', { 'lib/': 'dir', 'bin/sh': 'symlink' })],
    want: ['bin/sh: a, b', 'lib: a, b'],
  },
  {
    name: 'a file under what another package ships as a link, without a directory entry of its own (tar would write through the link)',
    packages: [pkg('a', { 'usr/': 'dir', 'usr/lib': 'symlink' }), pkg('b', { 'usr/lib/libx.so': 'file' })],
    want: ['usr/lib/libx.so: a, b'],
  },
  {
    name: 'a file under another package\'s file; a package\'s own link with files under it is its own business',
    packages: [pkg('a', { 'opt': 'file', 'own': 'symlink', 'own/x': 'file' }), pkg('b', { 'opt/tool': 'file' })],
    want: ['opt/tool: a, b'],
  },
  {
    name: 'three packages: the first two are named',
    packages: [pkg('a', { x: 'file' }), pkg('b', { x: 'hardlink' }), pkg('c', { x: 'file' })],
    want: ['x: a, b'],
  },
  {
    name: 'the root member itself is no conflict',
    packages: [pkg('a', { './': 'dir' }), pkg('b', { '.': 'dir' })],
    want: [],
  },
];

for (const c of cases) {
  test(`findConflicts: ${c.name}`, () => {
    assert.deepEqual(findConflicts(c.packages).map((x) => `${x.path}: ${x.first}, ${x.second}`), c.want);
  });
}

test('findConflicts: a reserved path (kiln\'s own installed.json) conflicts with the package that ships it, as anything', () => {
  const packages = [pkg('a', { 'var/': 'dir', 'var/lib/': 'dir' }), pkg('b', { './var/lib/kiln/installed.json': 'file' }), pkg('c', { 'var/lib/kiln/installed.json/': 'dir' })];
  assert.deepEqual(findConflicts(packages, ['var/lib/kiln/installed.json'], 'kiln rootfs').map((x) => `${x.path}: ${x.first}, ${x.second}`), ['var/lib/kiln/installed.json: kiln rootfs, b']);
  assert.deepEqual(findConflicts(packages.slice(0, 2)), [], 'without it reserved, one package shipping it is no conflict');
});
