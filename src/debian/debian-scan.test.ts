import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDependsFor, modeOf, targetArchs, waitFor } from './source-relations.ts';
import type { DebianBuildMode, DebianOptions } from './debian-spec.ts';
import { lazyPackages } from './lazy-index.ts';
import { formatRelation, formatRelations, parseRelations } from './relation.ts';
import { parseSources, type SourcePackage } from './sources-index.ts';

/** A source package from a few Sources fields (`Field: value` lines). */
function source(fields: readonly string[], name = 'src'): SourcePackage {
  const text = [`Package: ${name}`, 'Version: 1.0-1', ...fields, `Directory: pool/main/s/${name}`, 'Checksums-Sha256:', ` ${'d'.repeat(64)} 1 ${name}_1.0-1.dsc`].join('\n');
  const s = parseSources(text, 'test Sources').all[0]!;
  assert.deepEqual(s.problems, []);
  return s;
}

const OPTS: DebianOptions = { profiles: [], nocheck: false, mode: 'binary' };

test('targetArchs: any, all, wildcards, explicit lists, in the run\'s order', () => {
  const cases: readonly (readonly [string, readonly string[], readonly string[]])[] = [
    ['any', ['amd64', 'riscv64'], ['amd64', 'riscv64']],
    ['any', ['riscv64', 'amd64'], ['riscv64', 'amd64']],
    ['all', ['amd64', 'riscv64'], ['all']],
    // A source for another arch that also builds arch-all packages: its -A part is built here.
    ['i386 all', ['amd64'], ['all']],
    ['all', ['riscv64'], ['all']],
    ['linux-any', ['amd64', 'hurd-i386', 'riscv64'], ['amd64', 'riscv64']],
    ['any all', ['amd64', 'riscv64'], ['amd64', 'riscv64']],
    ['all any', ['amd64'], ['amd64']],
    ['amd64 arm64', ['amd64', 'riscv64'], ['amd64']],
    ['riscv64 all', ['amd64', 'riscv64'], ['riscv64']],
    ['riscv64', ['amd64'], []],
    ['any-amd64', ['amd64', 'x32', 'i386'], ['amd64', 'x32']],
    ['hurd-any kfreebsd-any', ['amd64'], []],
  ];
  for (const [arch, archs, want] of cases) {
    assert.deepEqual(targetArchs(source([`Architecture: ${arch}`]), archs), want, `Architecture: ${arch} for ${archs.join(',')}`);
  }
});

test('modeOf: -b where the indep packages are built, -B elsewhere, -A for all-only sources, a forced mode wins', () => {
  const run = (archs: readonly string[], mode: DebianBuildMode = 'binary') => ({ archs, options: { ...OPTS, mode } });
  const cases: readonly (readonly [string, string, readonly string[], DebianBuildMode, DebianBuildMode])[] = [
    ['any all', 'amd64', ['amd64', 'riscv64'], 'binary', 'binary'],
    ['any all', 'riscv64', ['amd64', 'riscv64'], 'binary', 'binary-arch'],
    ['any', 'amd64', ['amd64', 'riscv64'], 'binary', 'binary-arch'],
    ['any', 'riscv64', ['amd64', 'riscv64'], 'binary', 'binary-arch'],
    ['all', 'all', ['amd64', 'riscv64'], 'binary', 'binary-indep'],
    ['all', 'all', ['amd64'], 'binary-arch', 'binary-indep'],
    ['any all', 'amd64', ['amd64'], 'binary-arch', 'binary-arch'],
    ['any all', 'riscv64', ['amd64', 'riscv64'], 'binary-indep', 'binary-indep'],
    // The run's first arch does not build this source: its indep packages are built
    // with -b on the first arch that does, or they would never be built at all.
    ['riscv64 all', 'riscv64', ['amd64', 'riscv64'], 'binary', 'binary'],
    ['linux-any all', 'riscv64', ['hurd-i386', 'riscv64', 'arm64'], 'binary', 'binary'],
    ['linux-any all', 'arm64', ['hurd-i386', 'riscv64', 'arm64'], 'binary', 'binary-arch'],
  ];
  for (const [arch, target, archs, forced, want] of cases) {
    assert.equal(modeOf(source([`Architecture: ${arch}`]), target, run(archs, forced)), want, `Architecture: ${arch}, ${target} of ${archs.join(',')} (${forced})`);
  }
  // Every indep package is built exactly once per run, whatever the archs.
  for (const [arch, archs] of [['any all', ['amd64', 'riscv64']], ['riscv64 all', ['amd64', 'riscv64']], ['all', ['riscv64', 'amd64']], ['amd64 all', ['riscv64', 'amd64', 'arm64']]] as const) {
    const src = source([`Architecture: ${arch}`]);
    const modes = targetArchs(src, archs).map((a) => modeOf(src, a, run(archs)));
    assert.equal(modes.filter((m) => m !== 'binary-arch').length, 1, `${arch} on ${archs.join(',')}: ${modes.join(' ')}`);
  }
});

test('buildDependsFor: Build-Depends plus -Arch and/or -Indep by mode, reduced for the arch and profiles', () => {
  const src = source([
    'Architecture: any all',
    'Build-Depends: debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>, gcc-cross <cross>',
    'Build-Depends-Arch: libarch-dev [amd64], libseccomp-dev [linux-any]',
    'Build-Depends-Indep: doxygen <!nodoc>, python3-sphinx',
  ]);
  const cases: readonly (readonly [string, DebianBuildMode, Partial<DebianOptions>, string])[] = [
    ['amd64', 'binary', {}, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>, libarch-dev [amd64], libseccomp-dev [linux-any], doxygen <!nodoc>, python3-sphinx'],
    ['amd64', 'binary-arch', {}, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>, libarch-dev [amd64], libseccomp-dev [linux-any]'],
    ['amd64', 'binary-indep', {}, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>, doxygen <!nodoc>, python3-sphinx'],
    ['riscv64', 'binary-arch', {}, 'debhelper-compat (= 13), libfoo-compat-dev, check <!nocheck>, libseccomp-dev [linux-any]'],
    ['amd64', 'binary', { nocheck: true }, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, libarch-dev [amd64], libseccomp-dev [linux-any], doxygen <!nodoc>, python3-sphinx'],
    ['amd64', 'binary-indep', { profiles: ['nodoc', 'nocheck'] }, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, python3-sphinx'],
    ['amd64', 'binary-arch', { profiles: ['cross'] }, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>, gcc-cross <cross>, libarch-dev [amd64], libseccomp-dev [linux-any]'],
    ['hurd-i386', 'binary-arch', {}, 'debhelper-compat (= 13), libfoo-dev [!riscv64] | libfoo-compat-dev, check <!nocheck>'],
  ];
  for (const [arch, mode, o, want] of cases) {
    assert.equal(formatRelations(buildDependsFor(src, arch, mode, { ...OPTS, ...o })), want, `${arch} ${mode} ${JSON.stringify(o)}`);
  }
});

test('waitFor: the first satisfiable alternative decides; it waits only on another source\'s binary of this run', () => {
  const u = lazyPackages([
    'Package: libfoo-dev\nVersion: 1.0-1\nArchitecture: amd64',
    'Package: libalt-dev\nVersion: 1\nArchitecture: amd64',
    'Package: docs-tool\nVersion: 1\nArchitecture: all',
    'Package: armonly\nVersion: 1\nArchitecture: arm64',
    'Package: virt-provider\nVersion: 1\nArchitecture: amd64\nProvides: virt, vvirt (= 2.0)',
    'Package: arm-provider\nVersion: 1\nArchitecture: arm64\nProvides: armvirt',
    'Package: mybin-dev\nVersion: 0.9-1\nArchitecture: amd64',
  ].map((s) => `${s}\nFilename: pool/x.deb\nSize: 1\nSHA256: ${'e'.repeat(64)}`).join('\n\n') + '\n', 'P');
  const run = new Map([
    ['libfoo-dev', { source: 'foo', version: '2.0-1' }],
    ['libnew-dev', { source: 'new', version: '1:3.0-1' }],
    ['mybin-dev', { source: 'me', version: '1.0-1' }],
    ['mytool', { source: 'me', version: '1.0-1' }],
  ]);
  const cases: readonly (readonly [string, string | undefined])[] = [
    ['libfoo-dev', 'libfoo-dev'], // the run builds a newer one: wait for it
    ['libfoo-dev (>= 1.5)', 'libfoo-dev (>= 1.5)'], // the constraint is kept
    ['libnew-dev (>> 2.0)', 'libnew-dev (>> 2.0)'], // checked against the run's version (epoch 1)
    ['libfoo-dev (>= 3)', undefined], // the run's 2.0-1 is too old and so is the archive's: nothing to wait for
    ['libfoo-dev (<< 2)', undefined], // the run's is too new, the archive's 1.0-1 fits
    ['libfoo-dev (>= 3) | libalt-dev', undefined],
    ['libalt-dev | libfoo-dev', undefined], // the archive satisfies the first alternative
    ['nope | libfoo-dev', 'libfoo-dev'],
    ['docs-tool | libfoo-dev', undefined], // arch all counts
    ['armonly | libfoo-dev', 'libfoo-dev'], // another arch's package does not
    ['virt | libfoo-dev', undefined], // a provider counts
    ['vvirt (>= 2) | libfoo-dev', undefined], // a versioned Provides that fits
    ['vvirt (>= 3) | libfoo-dev', 'libfoo-dev'], // one that does not fit
    ['virt (>= 1) | libfoo-dev', 'libfoo-dev'], // an unversioned Provides never satisfies a versioned relation
    ['armvirt | libfoo-dev', 'libfoo-dev'], // a provider of another arch does not count
    ['mytool', undefined], // own binaries never make a wait
    ['mytool | libfoo-dev', 'libfoo-dev'], // not in the archive: the next alternative decides
    ['mybin-dev | libfoo-dev', undefined], // the archive has an older one that apt installs
    ['mybin-dev (>= 1) | libfoo-dev', 'libfoo-dev'], // ... unless it is too old
    ['nope', undefined],
  ];
  for (const [field, want] of cases) {
    const g = parseRelations(field).groups[0]!;
    const w = waitFor(g, 'me', run, u, 'amd64');
    assert.equal(w === undefined ? undefined : formatRelation(w), want, field);
  }
  // The source building libfoo-dev itself never waits on it.
  assert.equal(waitFor(parseRelations('libfoo-dev').groups[0]!, 'foo', run, u, 'amd64'), undefined);
});
