import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestEntry } from '../cache/archive.ts';
import { isKilnError } from '../errors.ts';
import type { ElfHeader } from '../lib/elf-header.ts';
import { assertNoOutputErrors, checkOutput, oomFinding, sizeAsWritten, type OutputCheckInput } from './output-checks.ts';

const W = '/w/run/p_amd64';
const PATHS = [`${W}/src`, `${W}/dest`, `${W}/sysroot`];
const file = (path: string, mode = 0o644): ManifestEntry => ({ path, type: 'file', mode, size: 1 });
const dir = (path: string, mode = 0o755): ManifestEntry => ({ path, type: 'dir', mode, size: 0 });
const link = (path: string, target: string): ManifestEntry => ({ path, type: 'symlink', mode: 0o777, size: 0, target });
const input = (entries: ManifestEntry[], o: Partial<OutputCheckInput> = {}): OutputCheckInput => ({ entries, arch: 'amd64', holding: [], buildPaths: PATHS, skip: [], ...o });
/** `check severity` of each finding. */
const kinds = (i: OutputCheckInput): string[] => checkOutput(i).map((f) => `${f.check} ${f.severity}`);

test('checkOutput: what each check finds, and what it lets through', () => {
  const rows: [string, OutputCheckInput, string[]][] = [
    ['a clean package', input([dir('usr'), dir('usr/bin'), file('usr/bin/x', 0o755), link('usr/lib/libx.so', 'libx.so.1'), link('usr/bin/y', '/usr/bin/x'), dir('tmp', 0o1777)]), []],
    ['a symlink into $DESTDIR', input([link('usr/lib/libx.so', `${W}/dest/usr/lib/libx.so.1`)]), ['symlinks error']],
    ['a symlink to the workspace itself', input([link('usr/share/x', `${W}/src`)]), ['symlinks error']],
    ['a symlink to a path that merely starts alike is fine', input([link('usr/lib/x', `${W}/srcfoo`)]), []],
    ['a relative symlink out of the package (ln -sr into $SYSROOT)', input([link('usr/share/misc/g.txt', '../../../../sysroot/usr/share/g.txt')], { dest: `${W}/dest` }), ['symlinks error']],
    ['a relative symlink that stays inside', input([link('usr/share/misc/g.txt', '../../lib/g.txt')], { dest: `${W}/dest` }), []],
    ['a relative symlink with a .. too many still works once installed', input([link('usr/lib/x', '../../../etc/x')], { dest: `${W}/dest` }), []],
    ['files holding the build paths', input([file('usr/lib/libx.la'), file('usr/bin/x')], { holding: ['usr/lib/libx.la'] }), ['buildpaths warning']],
    ['a relative symlink whose text holds one', input([link('usr/lib/x', `..${W}/dest/x`)]), ['buildpaths warning']],
    ['installed under a path naming the build\'s folders (a Makefile variable from the environment)', input([dir('usr'), file(`usr${W}/sysroot/usr/lib/libx.so`)]), ['buildpaths error']],
    ['a path that merely holds a like name is fine', input([file('usr/share/doc/w/run/p_amd64/sysrootx')]), []],
    ['an install tree holding a kiln/src (the chroot sandbox\'s $SRCDIR is /kiln/src) is fine', input([file('usr/lib/node_modules/kiln/src/cli/main.ts')], { buildPaths: ['/kiln/src', '/kiln/dest', '/kiln/sysroot'], exportedPaths: ['/kiln/sysroot', '/kiln/dest'] }), []],
    ['under the chroot sandbox\'s $SYSROOT (LIBRARY_PATH taken by a Makefile)', input([file('usr/kiln/sysroot/usr/lib/libx.so')], { buildPaths: ['/kiln/src', '/kiln/dest', '/kiln/sysroot'], exportedPaths: ['/kiln/sysroot', '/kiln/dest'] }), ['buildpaths error']],
    ['outside the usual folders', input([file('home/me/.bashrc'), dir('build')]), ['hierarchy warning']],
    ['under /usr/local', input([file('usr/local/bin/x')]), ['hierarchy warning']],
    ['a world-writable file and directory', input([file('etc/x', 0o666), dir('var/x', 0o777)]), ['permissions warning']],
    ['setuid', input([file('usr/bin/su', 0o4755)]), ['permissions warning']],
    ['a sticky world-writable directory is fine', input([dir('var/tmp', 0o1777)]), []],
    ['skipped checks find nothing', input([link('usr/lib/x', `${W}/dest/x`), file('home/x', 0o4777)], { skip: ['symlinks', 'hierarchy', 'permissions'] }), []],
    ['buildpaths skipped: the path is let through too', input([file(`usr${W}/sysroot/usr/lib/libx.so`)], { skip: ['buildpaths'] }), []],
  ];
  for (const [name, i, want] of rows) assert.deepEqual(kinds(i), want, name);
});

test('checkOutput: the arch check, and errors refuse the output with their hint', () => {
  const elf = new Map<string, ElfHeader>(['a', 'b', 'c', 'd', 'e'].map((n) => [`usr/bin/${n}`, { machine: 62, bits: 64 }]));
  const found = checkOutput(input([], { elf, arch: 'riscv64' }));
  assert.deepEqual(found.map((f) => f.check), ['arch']);
  assert.throws(() => assertNoOutputErrors(found), (e: unknown) => {
    assert.ok(isKilnError(e) && e.code === 'wrong-arch');
    assert.equal(e.message, 'this package is built for riscv64, but its output holds ELF files for another machine: usr/bin/a (x86-64, 64-bit), usr/bin/b (x86-64, 64-bit), usr/bin/c (x86-64, 64-bit) and 2 more');
    assert.match(e.hint ?? '', /dpkg-architecture -ariscv64 -qDEB_HOST_GNU_TYPE/);
    assert.match(e.hint ?? '', /skip-checks = \["arch"\]/);
    return true;
  });
  assert.deepEqual(checkOutput(input([], { elf, arch: 'amd64' })), []);
  assert.deepEqual(checkOutput(input([], { elf, arch: 'riscv64', skip: ['arch'] })), []);
  const link = checkOutput(input([{ path: 'usr/lib/libx.so', type: 'symlink', mode: 0o777, size: 0, target: `${W}/dest/usr/lib/libx.so.1` }]));
  assert.throws(() => assertNoOutputErrors(link), (e: unknown) => isKilnError(e) && e.code === 'bad-output' && /ln -sr/.test(e.hint ?? '') && /usr\/lib\/libx\.so -> /.test(e.message));
  // Warnings alone refuse nothing, unless they are to fail (--fail-on-warnings).
  const warned = checkOutput(input([{ path: 'home/x', type: 'file', mode: 0o666, size: 1 }]));
  assertNoOutputErrors(warned);
  assert.throws(() => assertNoOutputErrors(warned, true), (e: unknown) => isKilnError(e) && e.code === 'bad-output' && /^2 output checks failed \(warnings fail the build: --fail-on-warnings\): hierarchy: installed outside \/usr.*; permissions: world-writable: home\/x$/.test(e.message));
});

test('a Debian build\'s output may hold no symlink (it would point at the host\'s files once staged)', async () => {
  const { assertDebianOutput } = await import('./output-checks.ts');
  const run = (entries: ManifestEntry[]) => assertDebianOutput(entries);
  run([{ path: 'hello_2.10-3_amd64.deb', type: 'file', mode: 0o644, size: 1 }]);
  assert.throws(() => run([{ path: 'zz-shadow', type: 'symlink', mode: 0o777, size: 0, target: '/etc/shadow' }]), (e: unknown) => isKilnError(e) && e.code === 'bad-output' && /zz-shadow -> \/etc\/shadow/.test(e.message));
});

test('oomFinding: a build that went on after the kernel killed processes for memory is warned of, with the limit and a larger one to set', () => {
  const M = 2 ** 20;
  const rows: [string, Parameters<typeof oomFinding>[0], string | undefined][] = [
    ['nothing killed', { kills: undefined, memoryBytes: 512 * M }, undefined],
    ['a count of 0', { kills: 0, memoryBytes: 512 * M }, undefined],
    ['three gcc killed under the default limit', { kills: 3, memoryBytes: 512 * M },
      'memory: the memory limit (512M) killed 3 processes during this build (the build went on: check its output; raise memory = "1G" under [build] in the recipe)'],
    ['one', { kills: 1, memoryBytes: 128 * M }, 'memory: the memory limit (128M) killed 1 process during this build (the build went on: check its output; raise memory = "256M" under [build] in the recipe)'],
    ['a Debian source package: its debian.toml', { kills: 2, memoryBytes: 4 * 1024 * M, debian: true },
      'memory: the memory limit (4G) killed 2 processes during this build (the build went on: check its output; raise memory = "8G" in its debian.toml)'],
  ];
  for (const [name, i, want] of rows) {
    const f = oomFinding(i);
    assert.equal(f === undefined ? undefined : `${f.check}: ${f.message}`, want, name);
    if (f !== undefined) assert.equal(f.severity, 'warning', name);
  }
  assert.match(oomFinding({ kills: 1, memoryBytes: 512 * M })!.hint, /skip-checks = \["memory"\]/);
  assert.doesNotMatch(oomFinding({ kills: 1, memoryBytes: 512 * M, debian: true })!.hint, /skip-checks/);
  // --fail-on-warnings: it refuses the output as the other warnings do.
  assert.throws(() => assertNoOutputErrors([oomFinding({ kills: 1, memoryBytes: 512 * M })!], true), (e: unknown) => isKilnError(e) && e.code === 'bad-output' && /^the memory limit \(512M\) killed 1 process .*\(warnings fail the build: --fail-on-warnings\)$/.test(e.message));
  assert.deepEqual([512 * M, 2 ** 30, 1536 * M, 3 * 2 ** 40, 2048 * 1024 + 1024, 1000].map(sizeAsWritten), ['512M', '1G', '1536M', '3T', '2049K', '1000']);
});
