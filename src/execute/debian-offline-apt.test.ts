import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localPackages, stagedDebs, stagedKey, writeCutArchive } from './debian-offline-apt.ts';

test('staged packages are told apart by name, version (no epoch) and arch: a cross build stages arm64 .debs beside the archive\'s amd64 ones', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-offline-apt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const f of ['libfoo-dev_1.0-1_arm64.deb', 'foo-common_1.0-1_all.deb', 'zlib1g_1.2.13.dfsg-1_arm64.deb', 'not-a-deb.txt', 'odd_name.deb']) await writeFile(join(dir, f), '');
  assert.deepEqual([...await stagedDebs(dir)].sort(), ['foo-common=1.0-1:all', 'libfoo-dev=1.0-1:arm64', 'zlib1g=1.2.13.dfsg-1:arm64']);
  await writeFile(join(dir, 'Packages'), 'Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: arm64\n\nPackage: foo-common\nVersion: 1.0-1\nArchitecture: all\n');
  assert.deepEqual([...await localPackages(join(dir, 'Packages'))].sort(), ['foo-common=1.0-1:all', 'zlib1g=1.2.13.dfsg-1:arm64']);
  assert.equal(stagedKey('zlib1g', '1:1.2.13.dfsg-1', 'arm64'), 'zlib1g=1.2.13.dfsg-1:arm64');

  // The archive's stanza of a staged name=version:arch is left out; the same name and version of another arch stays.
  const archive = join(dir, 'archive');
  await writeCutArchive(archive, [
    'Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64',
    'Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: arm64',
    'Package: make\nVersion: 4.3-4.1\nArchitecture: amd64',
  ], await stagedDebs(dir));
  const kept = (await readFile(join(archive, 'Packages'), 'utf8')).split('\n\n').map((st) => st.trim());
  assert.deepEqual(kept, ['Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64', 'Package: make\nVersion: 4.3-4.1\nArchitecture: amd64']);
});
