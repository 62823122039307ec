import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { isKilnError } from '../errors.ts';
import { buildDeb } from './deb-test-helpers.ts';
import { collectExtraPackages, extraPackageStanza, mergeExtraPackages, type ExtraPackageInput } from './extra-packages.ts';
import { extraArchsOf, extraPackageParts, extraPackagesKey, stagedDebName, usableExtraPackages, type ExtraPackage } from './extra-package-use.ts';
import { lazyPackages } from './lazy-index.ts';

const flag = (path: string, given = path): ExtraPackageInput => ({ path, where: `--extra-package ${given}`, code: 'usage' });

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isKilnError(e), String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.ok(e.hint !== undefined && e.hint.length > 0);
    return true;
  });
}

test('collectExtraPackages: a .deb, and a folder of them (every *.deb, in name order), read for name, version, arch, sha256', async () => {
  await using dir = await tmpDir();
  const one = await buildDeb(dir.path, 'kiln-extra-dep', { control: { Package: 'kiln-extra-dep', Version: '1:1.0-1', Architecture: 'all', Provides: 'kiln-virtual' }, files: { 'usr/share/doc/kiln-extra-dep/x': 'x\n' } });
  await mkdir(join(dir.path, 'more'));
  await buildDeb(join(dir.path, 'more'), 'b', { control: { Package: 'libb1', Version: '2.0-1', Architecture: 'amd64' }, files: {} });
  await buildDeb(join(dir.path, 'more'), 'a', { control: { Package: 'liba1', Version: '3.0-1', Architecture: 'arm64' }, files: {} });
  await writeFile(join(dir.path, 'more', 'README'), 'not a package\n');
  const got = await collectExtraPackages([flag(one, 'kiln-extra-dep.deb'), flag(join(dir.path, 'more'), 'more/')]);
  assert.deepEqual(got.map((p) => [p.package, p.version, p.architecture, p.where]), [
    ['kiln-extra-dep', '1:1.0-1', 'all', '--extra-package kiln-extra-dep.deb'],
    ['liba1', '3.0-1', 'arm64', '--extra-package more/'],
    ['libb1', '2.0-1', 'amd64', '--extra-package more/'],
  ]);
  assert.match(got[0]!.sha256, /^[0-9a-f]{64}$/);
  assert.ok(got[0]!.size > 0);
  assert.match(got[0]!.control, /^Package: kiln-extra-dep\n[\s\S]*Provides: kiln-virtual/);
  // The same file twice (its folder and itself): taken once.
  const twice = await collectExtraPackages([flag(join(dir.path, 'more')), flag(join(dir.path, 'more', 'a.deb'))]);
  assert.equal(twice.length, 2);
});

test('collectExtraPackages: a missing path, a folder without .debs, a file that is not a .deb, two files of one name=version:arch: said naming where and what to do', async () => {
  await using dir = await tmpDir();
  await rejectsWith(collectExtraPackages([flag(join(dir.path, 'nope.deb'), 'nope.deb')]), 'usage', /^--extra-package nope\.deb: \/.*\/nope\.deb does not exist$/);
  await mkdir(join(dir.path, 'empty'));
  await writeFile(join(dir.path, 'empty', 'notes.txt'), 'x');
  await rejectsWith(collectExtraPackages([{ path: join(dir.path, 'empty'), where: '/t/debian.toml: extra-packages[0]', code: 'config-invalid' }]), 'config-invalid', /^\/t\/debian\.toml: extra-packages\[0\]: the folder .*empty holds no \.deb files$/);
  await writeFile(join(dir.path, 'bad.deb'), 'this is no ar archive\n');
  await rejectsWith(collectExtraPackages([flag(join(dir.path, 'bad.deb'), 'bad.deb')]), 'usage', /^--extra-package bad\.deb: .*bad\.deb is not a valid \.deb \(/);
  await mkdir(join(dir.path, 'x'));
  await mkdir(join(dir.path, 'y'));
  await buildDeb(join(dir.path, 'x'), 'p', { control: { Package: 'pp', Version: '1', Architecture: 'amd64' }, files: { a: 'one' } });
  await buildDeb(join(dir.path, 'y'), 'p', { control: { Package: 'pp', Version: '1', Architecture: 'amd64' }, files: { a: 'two' } });
  await rejectsWith(collectExtraPackages([flag(join(dir.path, 'x'), 'x'), flag(join(dir.path, 'y'), 'y')]), 'usage', /^--extra-package y: .*y\/p\.deb and .*x\/p\.deb \(--extra-package x\) are both pp 1 \(amd64\), with other contents$/);
});

const pkg = (name: string, version: string, arch: string, sha = 'c'.repeat(64), extra = ''): ExtraPackage => ({
  path: `/debs/${name}_${version}_${arch}.deb`, where: '--extra-package /debs', package: name, version, architecture: arch, sha256: sha, size: 123,
  control: `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}${extra}\nDescription: test\n more`,
});

test('mergeExtraPackages: the extra stanzas are added, the suite\'s of the same names left out (apt prefers the extra ones); an index with none of the names is kept as it is', () => {
  const stanza = (name: string, version: string) => `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nFilename: pool/${name}_${version}.deb\nSize: 1\nSHA256: ${'a'.repeat(64)}`;
  const base = `${[stanza('libc6', '2.36-9'), stanza('libfoo1', '1.0-1'), stanza('libfoo1', '1.1-1')].join('\n\n')}\n`;
  const merged = lazyPackages(mergeExtraPackages(base, [pkg('libfoo1', '0.9-1kiln1', 'amd64', 'd'.repeat(64), '\nDepends: libc6 (>= 2.36)'), pkg('kiln-extra-dep', '1.0', 'all')]), 'test');
  assert.deepEqual(merged.versions('libfoo1').map((p) => [p.version, p.filename, p.sha256, p.size]), [['0.9-1kiln1', `kiln-extra-packages/${'d'.repeat(16)}/libfoo1_0.9-1kiln1_amd64.deb`, 'd'.repeat(64), 123]]);
  assert.deepEqual(merged.versions('libfoo1')[0]!.depends, [[{ name: 'libc6', constraint: { op: '>=', version: '2.36' } }]]);
  assert.deepEqual(merged.versions('libc6').map((p) => p.version), ['2.36-9']);
  assert.deepEqual(merged.versions('kiln-extra-dep').map((p) => p.architecture), ['all']);
  // None of the names in the suite: the suite's text is kept, the stanza appended.
  const kept = mergeExtraPackages(base, [pkg('kiln-extra-dep', '1.0', 'all')]);
  assert.ok(kept.startsWith(base.trimEnd()));
  assert.equal(mergeExtraPackages(base, []), base);
  // A name that only begins like a suite package's (libc6-dev) leaves libc6 alone.
  assert.deepEqual(lazyPackages(mergeExtraPackages(base, [pkg('libc6-dev', '9', 'amd64')]), 't').versions('libc6').length, 1);
});

test('extraPackageStanza: index fields a control file should not have are replaced by kiln\'s', () => {
  const s = extraPackageStanza(pkg('p', '1', 'amd64', 'e'.repeat(64), '\nSHA256: 00\nFilename: elsewhere.deb'));
  assert.equal(s.match(/^SHA256:/gm)?.length, 1);
  assert.match(s, /^Filename: kiln-extra-packages\/eeeeeeeeeeeeeeee\/p_1_amd64\.deb$/m);
  assert.match(s, /^Description: test\n more$/m);
});

test('which extra packages a job uses: its build arch\'s (an all job: the primary arch\'s; a cross job: the build arch\'s too) and all; its key and parts', () => {
  const list = [pkg('a', '1', 'amd64', '1'.repeat(64)), pkg('b', '1', 'arm64', '2'.repeat(64)), pkg('c', '1:2', 'all', '3'.repeat(64)), pkg('a', '1', 'riscv64', '4'.repeat(64))];
  const names = (archs: string[]) => usableExtraPackages(list, archs).map((p) => `${p.package}:${p.architecture}`);
  assert.deepEqual(extraArchsOf({ primaryArch: 'amd64' }, 'all'), ['amd64']);
  assert.deepEqual(extraArchsOf({ primaryArch: 'amd64' }, 'arm64'), ['arm64']);
  assert.deepEqual(extraArchsOf({ primaryArch: 'amd64', cross: 'amd64' }, 'riscv64'), ['riscv64', 'amd64']);
  assert.deepEqual(extraArchsOf({ primaryArch: 'amd64', cross: 'amd64' }, 'amd64'), ['amd64']);
  assert.deepEqual(names(['amd64']), ['a:amd64', 'c:all']);
  assert.deepEqual(names(['riscv64', 'amd64']), ['a:amd64', 'c:all', 'a:riscv64']);
  assert.deepEqual(extraPackagesKey(usableExtraPackages(list, ['amd64'])), [`a=1:amd64#${'1'.repeat(64)}`, `c=1:2:all#${'3'.repeat(64)}`]);
  assert.deepEqual(extraPackageParts(usableExtraPackages(list, ['riscv64', 'amd64'])), { 'extra-package:a': `1#${'1'.repeat(16)} 1#${'4'.repeat(16)}`, 'extra-package:c': `1:2#${'3'.repeat(16)}` });
  assert.equal(stagedDebName(pkg('c', '1:2.0-1', 'all')), 'c_2.0-1_all.deb');
});
