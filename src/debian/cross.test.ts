import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossChosen, crossClosure, crossExtras, crossIndepNote, crossMode, crossStanzas, indepArchOf, indepNotBuilt, indexArchsOf, isCrossJob, jobOptions } from './cross.ts';
import { lazyPackages, type BinaryUniverse } from './lazy-index.ts';
import { formatGroup, parseRelations } from './relation.ts';
import { modeOf } from './source-relations.ts';
import { modeOfWords, targetArchsOf } from './dose-runs.ts';
import type { DebianBuildMode } from './debian-spec.ts';
import { checkCrossToolchains } from './debian-scan-steps.ts';
import { KilnError } from '../errors.ts';

test('isCrossJob: only with --cross, and not for the build arch or arch-independent jobs', () => {
  const cases: [string | undefined, string, boolean][] = [
    [undefined, 'arm64', false],
    ['amd64', 'arm64', true],
    ['amd64', 'riscv64', true],
    ['amd64', 'amd64', false],
    ['amd64', 'all', false],
  ];
  for (const [cross, arch, want] of cases) assert.equal(isCrossJob(cross, arch), want, `${cross} → ${arch}`);
});

test('indepArchOf, indexArchsOf: with --cross the build arch builds arch-independent packages and its index is read', () => {
  assert.equal(indepArchOf({ archs: ['arm64', 'amd64'] }), 'arm64');
  assert.equal(indepArchOf({ archs: ['arm64'], cross: 'amd64' }), 'amd64');
  assert.deepEqual(indexArchsOf({ archs: ['arm64'] }), ['arm64']);
  assert.deepEqual(indexArchsOf({ archs: ['arm64', 'riscv64'], cross: 'amd64' }), ['arm64', 'riscv64', 'amd64']);
  assert.deepEqual(indexArchsOf({ archs: ['amd64', 'arm64'], cross: 'amd64' }), ['amd64', 'arm64']);
});

test('modes: a cross job is -B where a native one is -b; -A and asked-for modes stay', () => {
  const src = { architecture: ['any', 'all'] };
  const opts = (mode: 'binary' | 'binary-arch' | 'binary-indep') => ({ profiles: [], nocheck: false, mode });
  const cases: [string[], string | undefined, string, string][] = [
    [['arm64'], undefined, 'arm64', 'binary'],
    [['arm64'], 'amd64', 'arm64', 'binary-arch'],
    [['arm64', 'amd64'], 'amd64', 'amd64', 'binary'],
    [['arm64', 'amd64'], 'amd64', 'arm64', 'binary-arch'],
    [['arm64'], 'amd64', 'all', 'binary-indep'],
  ];
  for (const [archs, cross, arch, want] of cases) assert.equal(modeOf(src, arch, { archs, options: opts('binary'), cross }), want, `${archs} cross ${cross} ${arch}`);
  assert.equal(crossMode('binary-indep'), 'binary-indep');
  assert.equal(crossMode('binary-arch'), 'binary-arch');
});

test('jobOptions: a cross job gets the cross and nocheck profiles and nocheck, as sbuild cross-builds; a native job the run\'s', () => {
  const o = { profiles: ['nodoc'], nocheck: false, mode: 'binary' as const };
  assert.equal(jobOptions(o, false), o);
  assert.deepEqual(jobOptions(o, true), { profiles: ['nodoc', 'cross', 'nocheck'], nocheck: true, mode: 'binary' });
  assert.deepEqual(jobOptions({ ...o, profiles: ['nocheck'] }, true).profiles, ['nocheck', 'cross']);
});

test('crossExtras: the build arch\'s cross toolchain and extras, the host arch\'s libc and libstdc++ headers', () => {
  assert.deepEqual(crossExtras('arm64', ['fakeroot']), ['crossbuild-essential-arm64:native', 'libc-dev', 'libstdc++-dev', 'fakeroot:native']);
});

/** A Packages index from `name version arch [Field: value]…` lines (fields separated by `;`). */
function universe(lines: readonly string[]): BinaryUniverse {
  const stanzas = lines.map((line) => {
    const [head, ...fields] = line.split(';').map((s) => s.trim());
    const [name, version, arch] = head!.split(' ');
    return [`Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, ...fields, `Filename: pool/${name}_${version}_${arch}.deb`, 'Size: 1', `SHA256: ${'c'.repeat(64)}`].join('\n');
  });
  return lazyPackages(stanzas.join('\n\n') + '\n', 'test Packages');
}

const BUILD = universe([
  'base-files 12 amd64; Essential: yes',
  'build-essential 12.9 amd64; Depends: make',
  'make 4.3 amd64',
  'crossbuild-essential-arm64 12.9 all; Depends: gcc-aarch64-linux-gnu',
  'gcc-aarch64-linux-gnu 12 amd64',
  'fakeroot 1.31 amd64',
  'pkgconf 1.8 amd64; Multi-Arch: foreign',
  'libz-dev 1.2 amd64; Depends: zlib1g',
  'zlib1g 1.2 amd64',
  'debhelper 13 all',
  'unrelated 1 amd64',
]);
const HOST = universe([
  'libz-dev 1.2 arm64; Depends: zlib1g, pkgconf',
  'zlib1g 1.2 arm64',
  'pkgconf 1.8 arm64; Multi-Arch: foreign',
  'libc6-dev 2.36 arm64; Provides: libc-dev; Depends: libc6',
  'libc6 2.36 arm64',
  'libstdc++-12-dev 12 arm64; Provides: libstdc++-dev',
  'debhelper 13 all',
  'unrelated 1 arm64',
]);
const roots = parseRelations('libz-dev, debhelper').groups;

test('crossClosure: the host closure of the build dependencies and host libc; the build closure of the tools, the toolchain and every host name', () => {
  const both = crossClosure({ roots, extras: ['fakeroot'], build: { arch: 'amd64', universe: BUILD }, host: { arch: 'arm64', universe: HOST } });
  assert.deepEqual([...both.host].sort(), ['debhelper', 'libc6', 'libc6-dev', 'libstdc++-12-dev', 'libz-dev', 'pkgconf', 'zlib1g']);
  // Every host name is looked up in the build arch too (a name it lacks adds no stanza).
  assert.deepEqual([...both.build].filter((n) => BUILD.versions(n).length > 0).sort(), ['base-files', 'build-essential', 'crossbuild-essential-arm64', 'debhelper', 'fakeroot', 'gcc-aarch64-linux-gnu', 'libz-dev', 'make', 'pkgconf', 'zlib1g']);
  // Architecture: all stanzas are in both indexes: written once.
  const stanzas = crossStanzas(both, BUILD, HOST);
  assert.equal(stanzas.filter((st) => st.startsWith('Package: debhelper\n')).length, 1);
  assert.equal(stanzas.filter((st) => st.startsWith('Package: libz-dev\n')).length, 2);
  assert.ok(!stanzas.some((st) => st.startsWith('Package: unrelated\n')));
});

test('crossChosen: marked with the build arch; the build dependencies as the host arch resolves them, the toolchain as the build arch does', () => {
  const keys = crossChosen({ roots, extras: ['fakeroot'], build: { arch: 'amd64', universe: BUILD }, host: { arch: 'arm64', universe: HOST }, format: formatGroup });
  assert.equal(keys[0], 'cross-from:amd64');
  assert.ok(keys.some((k) => k.startsWith('libz-dev=1.2#')), keys.join(' '));
  assert.ok(keys.some((k) => k.startsWith('libc6-dev=2.36#')), keys.join(' '));
  assert.ok(keys.some((k) => k.startsWith('build:crossbuild-essential-arm64=12.9#')), keys.join(' '));
  assert.ok(keys.some((k) => k.startsWith('build:fakeroot=1.31#')), keys.join(' '));
  // pkgconf (Multi-Arch: foreign) and a `:native` relation are tools: the build arch's versions are in the key.
  const tools = crossChosen({ roots: parseRelations('libz-dev, pkgconf, make:native').groups, extras: [], build: { arch: 'amd64', universe: BUILD }, host: { arch: 'arm64', universe: HOST }, format: formatGroup });
  assert.ok(tools.some((k) => k.startsWith('build:pkgconf=1.8#')) && !tools.some((k) => k.startsWith('pkgconf=')), tools.join(' '));
  assert.ok(tools.some((k) => k.startsWith('build:make=4.3#')), tools.join(' '));
  // A new toolchain in the build arch's index changes the key.
  const newer = universe(['crossbuild-essential-arm64 12.10 all; Depends: gcc-aarch64-linux-gnu', 'gcc-aarch64-linux-gnu 12 amd64', 'fakeroot 1.31 amd64']);
  assert.notDeepEqual(crossChosen({ roots, extras: ['fakeroot'], build: { arch: 'amd64', universe: newer }, host: { arch: 'arm64', universe: HOST }, format: formatGroup }), keys);
});

test('checkCrossToolchains: an arch the build arch has no crossbuild-essential for is refused, named where --cross was given', () => {
  const universes = new Map([['amd64', BUILD], ['arm64', HOST], ['riscv64', universe(['zlib1g 1.2 riscv64'])]]);
  checkCrossToolchains({ suite: 'bookworm', archs: ['arm64', 'amd64'], cross: 'amd64' }, universes);
  checkCrossToolchains({ suite: 'bookworm', archs: ['riscv64'] }, universes);
  assert.throws(() => checkCrossToolchains({ suite: 'bookworm', archs: ['arm64', 'riscv64'], cross: 'amd64' }, universes), (e: unknown) =>
    e instanceof KilnError && e.code === 'usage' && e.message === '--cross: bookworm has no cross toolchain from amd64 for riscv64 (no crossbuild-essential-riscv64 in its amd64 Packages)' && /natively, under QEMU/.test(e.hint ?? ''));
  const origin = { suite: { code: 'config-invalid' as const, where: 'x' }, archs: { code: 'config-invalid' as const, where: 'x' }, cross: { code: 'config-invalid' as const, where: '/t/debian.toml: cross' } };
  assert.throws(() => checkCrossToolchains({ suite: 'bookworm', archs: ['riscv64'], cross: 'amd64', origin }, universes), (e: unknown) =>
    e instanceof KilnError && e.code === 'config-invalid' && e.message.startsWith('/t/debian.toml: cross: bookworm has no cross toolchain'));
});

test('indepNotBuilt: the sources of a cross run none of whose jobs builds its Architecture: all packages, told what would', () => {
  // Each source's jobs and their modes, as the run works them out (dose-runs.ts).
  const run = (archs: readonly string[], mode: DebianBuildMode = 'binary') => {
    const sources = ['any', 'any all', 'arm64 all', 'amd64 arm64 all', 'all', 'linux-any all'].map((a) => {
      const words = a.split(' ');
      return { name: `src-${a.replaceAll(' ', '-')}`, words, modes: targetArchsOf(words, archs).map((t) => modeOfWords(words, t, { archs, options: { mode }, cross: 'amd64' })) };
    });
    return indepNotBuilt(sources, { cross: 'amd64', mode });
  };
  // Only arm64, cross: whatever builds for amd64 too gets its native build by adding amd64.
  assert.deepEqual(run(['arm64']), { addBuildArch: ['src-amd64-arm64-all', 'src-any-all', 'src-linux-any-all'], withoutCross: ['src-arm64-all'] });
  // amd64 in the run: its native -b builds them, except for a source not for amd64.
  assert.deepEqual(run(['amd64', 'arm64']), { addBuildArch: [], withoutCross: ['src-arm64-all'] });
  // -A, -B and binNMUs (-B) ask for no whole build: nothing to say.
  assert.deepEqual(run(['arm64'], 'binary-indep'), { addBuildArch: [], withoutCross: [] });
  assert.deepEqual(run(['arm64'], 'binary-arch'), { addBuildArch: [], withoutCross: [] });

  assert.deepEqual(crossIndepNote({ addBuildArch: [], withoutCross: [] }, { cross: 'amd64', runArchs: ['arm64'] }), []);
  assert.deepEqual(crossIndepNote({ addBuildArch: [], withoutCross: ['arm-only'] }, { cross: 'amd64', runArchs: ['amd64', 'arm64'] }), [
    '--cross: the Architecture: all packages of arm-only are not built in this run (a cross build makes the architecture-dependent ones only, -B); they build nothing for amd64, where a native build would make them: build them in a run without --cross',
  ]);
  const [many, other] = crossIndepNote({ addBuildArch: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], withoutCross: ['z'] }, { cross: 'amd64', runArchs: ['arm64', 'riscv64'] });
  assert.match(many!, /packages of a, b, c, d, e and 2 more are not built/);
  assert.match(many!, /add amd64 to the run's archs \(--arch amd64,arm64,riscv64, or debian\.toml's archs\): its native build makes them$/);
  assert.match(other!, /packages of z are not built .* build them in a run without --cross$/);
});
