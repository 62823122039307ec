import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { buildDeb } from '../debian/deb-test-helpers.ts';
import { collectExtraPackages } from '../debian/extra-packages.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { stagedDebs } from './debian-offline-apt.ts';
import { stageExtraPackages } from './debian-build-extra.ts';

test('stageExtraPackages: the job\'s arch\'s and all .debs copied into the run\'s repository under dpkg\'s names, the rest said; the run\'s own kept; a file changed since the plan refused', async () => {
  await using dir = await tmpDir();
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  await buildDeb(debs, 'x1', { control: { Package: 'libx1', Version: '1:2.0-1', Architecture: 'amd64' }, files: {} });
  await buildDeb(debs, 'x2', { control: { Package: 'x-data', Version: '2.0-1', Architecture: 'all' }, files: {} });
  await buildDeb(debs, 'x3', { control: { Package: 'libx1', Version: '1:2.0-1', Architecture: 'arm64' }, files: {} });
  await buildDeb(debs, 'x4', { control: { Package: 'mine', Version: '1', Architecture: 'amd64' }, files: {} });
  const extraPackages = await collectExtraPackages([{ path: debs, where: '--extra-package debs', code: 'usage' }]);
  const d = { primaryArch: 'amd64', suite: { extraPackages } } as unknown as NonNullable<PackageSpec['debian']>;
  const runDebs = join(dir.path, 'sysroot');
  await mkdir(runDebs);
  await writeFile(join(runDebs, 'mine_1_amd64.deb'), 'this run built it');
  const notes: string[] = [];
  const got = await stageExtraPackages(d, 'amd64', runDebs, (t) => notes.push(t));
  assert.ok(!('problem' in got));
  assert.deepEqual([...got.keys()].sort(), ['libx1=2.0-1:amd64', 'x-data=2.0-1:all']);
  assert.deepEqual((await readdir(runDebs)).sort(), ['libx1_2.0-1_amd64.deb', 'mine_1_amd64.deb', 'x-data_2.0-1_all.deb']);
  // Read back as staged packages: the cut archive leaves out the index's stanzas of them.
  assert.ok((await stagedDebs(runDebs)).has('libx1=2.0-1:amd64'));
  assert.match(notes.join('\n'), /^extra package mine 1 \[amd64\] \(\S+x4\.deb\): not offered, this run built mine 1 itself$/m);
  assert.match(notes.join('\n'), /^extra packages \(--extra-package\) offered to apt, preferred over the archive's packages of the same names: libx1 1:2\.0-1 \[amd64\] \(\S+x1\.deb, sha256 [0-9a-f]{12}\), x-data 2\.0-1 \[all\]/m);
  assert.match(notes.join('\n'), /^extra packages not used for amd64 \(of another arch\): \S+x3\.deb \(arm64\)$/m);
  // Nothing given: nothing done, nothing said.
  const none: string[] = [];
  assert.equal((await stageExtraPackages({ primaryArch: 'amd64', suite: {} } as unknown as NonNullable<PackageSpec['debian']>, 'amd64', runDebs, (t) => none.push(t)) as Map<string, unknown>).size, 0);
  assert.deepEqual(none, []);
  // Rebuilt after the plan read it: the job fails rather than build under a key that names the old file.
  await buildDeb(debs, 'x2', { control: { Package: 'x-data', Version: '2.0-1', Architecture: 'all' }, files: { a: 'new' } });
  const changed = await stageExtraPackages(d, 'amd64', join(dir.path, 'sysroot2'), () => undefined);
  assert.ok('problem' in changed);
  assert.match(changed.problem, /^the extra package \S+x2\.deb \(--extra-package debs\) changed since the run planned \(sha256 [0-9a-f]{12}, now [0-9a-f]{12}\): build again/);
});
