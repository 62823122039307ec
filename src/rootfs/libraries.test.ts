import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { elf32be } from '../../test/helpers/elf.ts';
import { resolveInRoot } from '../envs/root-info.ts';
import { missingLibraries, missingText } from './libraries.ts';

const existsInRoot = async (root: string, abs: string): Promise<boolean> => (await resolveInRoot(root, abs)) !== undefined;

test('missingText: a library names the files and packages that need it; a loader says the programs cannot start', () => {
  const by = [{ file: 'usr/bin/a', pkg: 'a' }, { file: 'usr/bin/b', pkg: 'b' }, { file: 'usr/bin/c', pkg: 'b' }, { file: 'usr/bin/d', pkg: 'b' }];
  assert.equal(missingText({ name: 'libz.so.1', kind: 'library', neededBy: by.slice(0, 1) }), 'libz.so.1, needed by 1 file(s) of a (usr/bin/a), is in no package of the root: add the package that ships it to the root, or to the depends of its recipe');
  assert.equal(missingText({ name: 'libz.so.1', kind: 'library', neededBy: by }), 'libz.so.1, needed by 4 file(s) of a, b (usr/bin/a, usr/bin/b, usr/bin/c, …), is in no package of the root: add the package that ships it to the root, or to the depends of their recipes');
  assert.match(missingText({ name: '/lib/ld-linux-riscv64-lp64d.so.1', kind: 'interpreter', neededBy: by.slice(0, 1) }), /^the program loader \/lib\/ld-linux-riscv64-lp64d\.so\.1, which 1 file\(s\) of a \(usr\/bin\/a\) start with, is in no package of the root: those programs cannot start there/);
});

test('resolveInRoot, as the library check uses it: links are followed inside the root (an absolute target from its top), never out of it', async () => {
  await using dir = await tmpDir();
  const root = join(dir.path, 'root');
  await mkdir(join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  await writeFile(join(root, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), '');
  // usrmerge: /lib64 -> usr/lib64 (relative), whose loader is an absolute link.
  await mkdir(join(root, 'usr/lib64'));
  await symlink('usr/lib64', join(root, 'lib64'));
  await symlink('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
  assert.equal(await existsInRoot(root, '/lib64/ld-linux-x86-64.so.2'), true);
  // An absolute link to a host file the root lacks: not followed out of the root.
  await writeFile(join(dir.path, 'host-only'), '');
  await symlink(join(dir.path, 'host-only'), join(root, 'escape'));
  assert.equal(await existsInRoot(root, '/escape'), false);
  await symlink('../../../..', join(root, 'usr/lib/up'));
  assert.equal(await existsInRoot(root, '/usr/lib/up/usr/lib64'), true, '.. stops at the top of the root');
  await symlink('loop', join(root, 'loop'));
  assert.equal(await existsInRoot(root, '/loop'), false);
  assert.equal(await existsInRoot(root, '/nope/x'), false);
});

test('missingLibraries: a root\'s programs against what it has: in its library folders, a RUNPATH folder, a NEEDED path ($ORIGIN), a library elsewhere in the root', async () => {
  await using dir = await tmpDir();
  const root = join(dir.path, 'root');
  const files: Record<string, Buffer | string> = {
    // Needs a library the root has in usr/lib, one in a multiarch folder, one nowhere.
    'usr/bin/app': elf32be({ needed: ['libz.so.1', 'libc.so.6', 'libnope.so.3'] }),
    // Finds its private library through its RUNPATH; a NEEDED path with $ORIGIN.
    'opt/tool/bin/tool': elf32be({ needed: ['libtool-private.so', '$ORIGIN/../lib/libpath.so'], runpath: '$ORIGIN/../lib' }),
    'opt/tool/lib/libtool-private.so': 'x'.repeat(64),
    'opt/tool/lib/libpath.so': 'x'.repeat(64),
    // Needs one that only another program's RUNPATH brings in (as systemd's): not said.
    'usr/lib/sd/libcore.so': elf32be({ needed: ['libshared.so'], soname: 'libcore.so' }),
    'usr/lib/sd-private/libshared.so': 'x'.repeat(64),
    'usr/lib/libz.so.1': 'x'.repeat(64),
    'lib/powerpc-linux-gnu/libc.so.6': 'x'.repeat(64),
    'lib/ld.so.1': 'x'.repeat(64),
    // A script, and a file too small to be ELF.
    'usr/bin/script': '#!/bin/sh\necho hi\n',
    'etc/tiny': 'x',
  };
  const members: { path: string; type: string; size: number }[] = [];
  for (const [path, data] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), data);
    members.push({ path, type: 'file', size: Buffer.byteLength(data) });
  }
  const missing = await missingLibraries(root, [{ pkg: 'all', members: members.filter((m) => !m.path.startsWith('usr/bin/app')) }, { pkg: 'app', members: members.filter((m) => m.path === 'usr/bin/app') }]);
  assert.deepEqual(missing, [{ name: 'libnope.so.3', kind: 'library', neededBy: [{ file: 'usr/bin/app', pkg: 'app' }] }]);
  // Without the loader, every program says so.
  await rm(join(root, 'lib/ld.so.1'));
  const noLoader = await missingLibraries(root, [{ pkg: 'all', members }]);
  assert.deepEqual(noLoader[0], { name: '/lib/ld.so.1', kind: 'interpreter', neededBy: [{ file: 'usr/bin/app', pkg: 'all' }, { file: 'opt/tool/bin/tool', pkg: 'all' }, { file: 'usr/lib/sd/libcore.so', pkg: 'all' }] });
});
