import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { KilnError } from '../errors.ts';
import { checkOut, placeOut } from './place.ts';

const isKiln = (code: string, message: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof KilnError, String(e));
  assert.equal(e.code, code);
  assert.match(e.message, message);
  assert.ok(e.hint !== undefined && e.hint !== '');
  return true;
};

test('checkOut refuses OUT that is, holds or is inside the state dir or the cache (real paths), and /', async () => {
  await using d = await tmpDir('kiln-rootfs-place-');
  const project = join(d.path, 'project');
  const state = join(project, '.kiln');
  const cache = join(d.path, 'cache');
  await mkdir(state, { recursive: true });
  await mkdir(cache);
  await symlink(project, join(d.path, 'via-link'));
  const keep = [{ path: state, what: 'the state directory' }, { path: cache, what: 'the cache' }];
  const cases: readonly [string, RegExp][] = [
    [project, /the output path holds the state directory .*, which --force would remove/],
    [join(d.path, 'via-link'), /the output path holds the state directory/],
    [state, /the output path is the state directory/],
    [join(state, 'rootfs'), /the output path is inside the state directory/],
    [join(d.path, 'via-link/.kiln/x/y'), /the output path is inside the state directory/],
    [cache, /the output path is the cache/],
    [d.path, /the output path holds the state directory/],
    ['/', /the output path is \/ /],
  ];
  for (const [out, message] of cases) {
    await assert.rejects(checkOut(out, true, keep), isKiln('usage', message), out);
  }
  assert.equal(await checkOut(join(d.path, 'rootfs'), false, keep), false);
  await mkdir(join(project, 'rootfs'));
  assert.equal(await checkOut(join(project, 'rootfs'), true, keep), true, 'beside the state dir is fine');
});

test('checkOut refuses OUT that is or holds the current folder (--force would remove it from under the user), not one inside it', async () => {
  await using d = await tmpDir('kiln-rootfs-place-');
  const here = join(d.path, 'work', 'here');
  await mkdir(here, { recursive: true });
  const before = process.cwd();
  process.chdir(here);
  try {
    await assert.rejects(checkOut(here, true, []), isKiln('usage', /the output path is the current folder .*, which --force would remove/));
    await assert.rejects(checkOut('.', true, []), isKiln('usage', /the output path is the current folder/));
    await assert.rejects(checkOut(join(d.path, 'work'), true, []), isKiln('usage', /the output path holds the current folder/));
    assert.equal(await checkOut(join(here, 'rootfs'), true, []), false, 'a new folder inside it is the usual case');
  } finally {
    process.chdir(before);
  }
});

test('checkOut refuses to --force a mount point (the rename would fail after all the work)', { skip: process.getuid?.() !== 0 ? 'needs root (mount)' : false }, async (t) => {
  await using d = await tmpDir('kiln-rootfs-place-');
  const mnt = join(d.path, 'mnt');
  await mkdir(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', 'kiln-test', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount a tmpfs here: ${m.stderr.trim()}`);
  try {
    await assert.rejects(checkOut(mnt, true), isKiln('path-unusable', /mnt is a mount point: --force cannot replace it/));
    assert.equal(await checkOut(join(mnt, 'rootfs'), true), false, 'a folder inside it is fine');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('checkOut refuses OUT in a folder kiln cannot write to at once, before any archive is read (a read-only file system here)', { skip: process.getuid?.() !== 0 ? 'needs root (mount)' : false }, async (t) => {
  await using d = await tmpDir('kiln-rootfs-place-');
  const mnt = join(d.path, 'ro');
  await mkdir(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'kiln-test', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount a tmpfs here: ${m.stderr.trim()}`);
  try {
    await assert.rejects(checkOut(join(mnt, 'rootfs'), false), isKiln('path-unusable', /rootfs: kiln cannot write in its directory .*ro \(a read-only file system\)/));
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('placeOut: a rename that fails is a path-unusable error naming OUT, and the old OUT stays', async () => {
  await using d = await tmpDir('kiln-rootfs-place-');
  const made = join(d.path, 'made');
  await mkdir(made);
  const out = join(d.path, 'out');
  await writeFile(out, 'a file in the way');
  // OUT's folder is gone (ENOENT); then what was made is gone, and the old OUT comes back.
  await assert.rejects(placeOut(made, join(d.path, 'nosuch/out'), join(d.path, 'aside'), false), isKiln('path-unusable', /cannot put the root in place at .*nosuch\/out/));
  await assert.rejects(placeOut(join(d.path, 'gone'), out, join(d.path, 'aside'), true), isKiln('path-unusable', /cannot put the root in place at .*out/));
  assert.equal(readFileSync(out, 'utf8'), 'a file in the way', 'the old OUT was moved back');
});
