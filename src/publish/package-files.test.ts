import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { packageFileName, syncPackageFiles } from './package-files.ts';

test('packageFileName: name_version-release_arch.tar.zst, without an epoch', () => {
  assert.equal(packageFileName({ name: 'zlib', version: '1.2.13', release: 1, arch: 'amd64' }), 'zlib_1.2.13-1_amd64.tar.zst');
  assert.equal(packageFileName({ name: 'libfoo', version: '2:1.0~rc1', release: 3, arch: 'all' }), 'libfoo_1.0~rc1-3_all.tar.zst');
});

test('syncPackageFiles: one hard link per archive; a new version replaces the old file; what left the index goes; no archive, no file', async () => {
  await using dir = await tmpDir();
  const cache = join(dir.path, 'cache');
  const packages = join(dir.path, 'packages');
  await mkdir(cache);
  const archive = async (name: string): Promise<string> => {
    const p = join(cache, `${name}.tar.zst`);
    await writeFile(p, name);
    return p;
  };
  const zlib1 = await archive('zlib-1');
  const png = await archive('png');
  const entry = (name: string, version: string, path: string) => ({ name, version, release: 1, arch: 'amd64', path });

  const first = syncPackageFiles(packages, [entry('zlib', '1.2.13', zlib1), entry('libpng', '1.6.39', png), entry('empty', '1', join(cache, 'meta-only'))]);
  assert.deepEqual(Object.fromEntries(first), { 'zlib@amd64': 'All/zlib_1.2.13-1_amd64.tar.zst', 'libpng@amd64': 'All/libpng_1.6.39-1_amd64.tar.zst' });
  assert.deepEqual(readdirSync(join(packages, 'All')).sort(), ['libpng_1.6.39-1_amd64.tar.zst', 'zlib_1.2.13-1_amd64.tar.zst']);
  assert.equal(statSync(join(packages, 'All', 'zlib_1.2.13-1_amd64.tar.zst')).ino, statSync(zlib1).ino, 'a hard link, no copy');

  const zlib2 = await archive('zlib-2');
  syncPackageFiles(packages, [entry('zlib', '1.3', zlib2)]);
  assert.deepEqual(readdirSync(join(packages, 'All')), ['zlib_1.3-1_amd64.tar.zst']);
  assert.equal(statSync(join(packages, 'All', 'zlib_1.3-1_amd64.tar.zst')).ino, statSync(zlib2).ino);
  // The same version rebuilt to another archive: the file follows it.
  const zlib2b = await archive('zlib-2b');
  syncPackageFiles(packages, [entry('zlib', '1.3', zlib2b)]);
  assert.equal(statSync(join(packages, 'All', 'zlib_1.3-1_amd64.tar.zst')).ino, statSync(zlib2b).ino);

  syncPackageFiles(packages, []);
  assert.deepEqual(readdirSync(join(packages, 'All')), []);
  await using fresh = await tmpDir();
  syncPackageFiles(fresh.path, []);
  assert.equal(existsSync(join(fresh.path, 'All')), false, 'nothing to hold: no folder made');
});

test('syncPackageFiles: an archive gone from the cache (another kiln\'s gc) gets no file and no error; a folder in All/ is removed', async () => {
  await using dir = await tmpDir();
  const packages = join(dir.path, 'packages');
  await mkdir(join(packages, 'All', 'stray-folder'), { recursive: true });
  const present = join(dir.path, 'present.tar.zst');
  await writeFile(present, 'x');
  const files = syncPackageFiles(packages, [
    { name: 'gone', version: '1', release: 1, arch: 'amd64', path: join(dir.path, 'gone.tar.zst') },
    { name: 'here', version: '1', release: 1, arch: 'amd64', path: present },
  ]);
  assert.deepEqual(Object.fromEntries(files), { 'here@amd64': 'All/here_1-1_amd64.tar.zst' });
  assert.deepEqual(readdirSync(join(packages, 'All')), ['here_1-1_amd64.tar.zst']);
});
