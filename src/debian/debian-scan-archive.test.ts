// scanDebian end to end over a small signed archive served on localhost, with the real
// dose-builddebcheck: --all (dose started on the early guess from raw fields, kiln's own
// steps run meanwhile) must give exactly what planning the same sources by name gives
// (dose after the parse, on the closure), and so must --all when the guess is wrong (it is
// discarded and dose runs again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { clearsign, makeKey, releaseText, serveArchive } from '../../test/fixtures/debian/archive.ts';
import { createDownloads } from '../cache/downloads.ts';
import { isKilnError } from '../errors.ts';
import { scanDebian, type DebianRequest, type DebianScan } from './debian-scan.ts';
import { unknownArchs } from './suite-indexes.ts';
import { doseMissing } from './installability.ts';
import { formatRelations } from './relation.ts';

const skip = doseMissing() ?? false;
const key = await makeKey();

const bin = (name: string, version: string, arch: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, ...fields, `Filename: pool/main/${name}_${version}_${arch}.deb`, 'Size: 1', `SHA256: ${'a'.repeat(64)}`].join('\n');

const PACKAGES = [
  bin('libc6', '2.36-9', 'amd64'),
  bin('build-essential', '12.9', 'amd64'),
  bin('fakeroot', '1.31-1', 'amd64'),
  bin('debhelper', '13.11', 'all', 'Provides: debhelper-compat (= 13)'),
  bin('liba1', '1.0-1', 'amd64', 'Source: liba', 'Depends: libc6 (>= 2.36)'),
  // A binNMU of liba the archive has (appb has none).
  bin('liba1', '1.0-1+b1', 'amd64', 'Source: liba (1.0-1)', 'Depends: libc6 (>= 2.36)'),
  bin('liba-dev', '1.0-1', 'amd64', 'Source: liba', 'Depends: liba1 (= 1.0-1)'),
  bin('cyc1-dev', '1', 'amd64', 'Source: cyc1'),
  bin('cyc2-dev', '1', 'amd64', 'Source: cyc2'),
  bin('broken-dev', '1', 'amd64', 'Source: broken'),
  bin('docs-tool', '1', 'all', 'Source: indeponly'),
].join('\n\n') + '\n';

const src = (name: string, version: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, ...fields, `Directory: pool/main/${name[0]}/${name}`, 'Checksums-Sha256:', ` ${'b'.repeat(64)} 100 ${name}_${version}.dsc`].join('\n');

const SOURCES = [
  src('liba', '1.0-1', 'Binary: liba1, liba-dev', 'Maintainer: Zoë Ünal <zoe@example.invalid>', 'Architecture: any', 'Build-Depends: debhelper-compat (= 13)'),
  src('appb', '2.0-1', 'Binary: appb', 'Architecture: any', 'Build-Depends: debhelper-compat (= 13), liba-dev (>= 1.0)'),
  src('cyc1', '1', 'Binary: cyc1-dev', 'Architecture: any', 'Build-Depends: cyc2-dev'),
  src('cyc2', '1', 'Binary: cyc2-dev', 'Architecture: any', 'Build-Depends: cyc1-dev'),
  src('broken', '1', 'Binary: broken-dev', 'Architecture: any', 'Build-Depends: nonexistent-dev'),
  src('needsbroken', '1', 'Binary: needsbroken', 'Architecture: any', 'Build-Depends: broken-dev'),
  src('indeponly', '1', 'Binary: docs-tool', 'Architecture: all', 'Build-Depends-Indep: debhelper-compat (= 13)'),
  src('mixed', '1', 'Binary: mixed, mixed-doc', 'Architecture: any all', 'Build-Depends-Arch: liba-dev', 'Build-Depends-Indep: docs-tool'),
  src('old', '1.0', 'Binary: oldbin', 'Architecture: any'),
  src('old', '2.0', 'Binary: oldbin', 'Architecture: any', 'Extra-Source-Only: yes'),
  src('badrel', '1', 'Binary: badrel', 'Architecture: any', 'Build-Depends: Libfoo-dev'),
  src('armonly', '1', 'Binary: armonly', 'Architecture: arm64'),
].join('\n\n') + '\n';

async function archive(sources: string) {
  const listed = new Map<string, Uint8Array>([
    ['main/source/Sources.gz', gzipSync(sources)],
    ['main/binary-amd64/Packages.gz', gzipSync(PACKAGES)],
  ]);
  const files = new Map<string, Uint8Array>([['/debian/dists/testsuite/InRelease', Buffer.from(await clearsign(releaseText(listed), key))]]);
  for (const [p, data] of listed) files.set(`/debian/dists/testsuite/${p}`, data);
  return serveArchive(files);
}

async function scan(sources: string, over: Partial<DebianRequest>): Promise<DebianScan> {
  await using dir = await tmpDir();
  await using srv = await archive(sources);
  const keyring = join(dir.path, 'keyring.gpg');
  await writeFile(keyring, key.publicKey.write());
  return await scanDebian({
    suite: 'testsuite', mirror: srv.base, archs: ['amd64'], sources: [], dscs: [], all: false,
    options: { profiles: [], nocheck: false, mode: 'binary' }, cpus: 1, memoryBytes: 1 << 30, timeoutMs: undefined,
    cacheDir: dir.path, downloads: createDownloads({ cacheDir: dir.path, mirrors: {} }), keyring, ...over,
  });
}

/** What a plan is made of, comparable across scans. */
function digest(s: DebianScan) {
  return {
    specs: s.specs.map((x) => [x.name, x.version, x.archs.join(' '), formatRelations(x.buildDepends), x.recipeHash, x.provides.map((p) => p.name).join(' ')]),
    invalid: s.invalid.map((x) => [x.name, x.diagnostics.map((d) => d.message).join('; ')]),
    cyclesBroken: s.cyclesBroken,
  };
}

const NAMES = ['liba', 'appb', 'cyc1', 'cyc2', 'broken', 'needsbroken', 'indeponly', 'mixed', 'old', 'badrel'];

test('--all starts dose on the early guess and plans exactly what naming the sources plans', { skip }, async () => {
  const all = await scan(SOURCES, { all: true });
  const named = await scan(SOURCES, { sources: NAMES });
  const d = digest(all);
  assert.deepEqual(d.specs.map((x) => x[0]), ['liba', 'appb', 'cyc1', 'cyc2', 'needsbroken', 'indeponly', 'mixed', 'old']);
  assert.deepEqual(d.specs.find((x) => x[0] === 'appb')?.[3], 'liba-dev (>= 1.0)');
  assert.deepEqual(d.specs.find((x) => x[0] === 'needsbroken')?.[3], 'broken-dev', 'a wait on a broken source stays (the planner reports it)');
  assert.deepEqual(d.specs.find((x) => x[0] === 'old')?.[1], '1.0', 'never the Extra-Source-Only stanza');
  assert.deepEqual(d.invalid.map((x) => x[0]), ['badrel', 'broken']);
  assert.match(String(d.invalid[1]?.[1]), /^amd64: build dependencies not installable: unsat-dependency: nonexistent-dev/);
  assert.deepEqual(d.cyclesBroken, ['cyc1 -> cyc2 (cyc2-dev)', 'cyc2 -> cyc1 (cyc1-dev)']);
  // The named plan lists badrel first as well (it is invalid before dose runs).
  assert.deepEqual(digest(named), d);

  assert.ok(all.timings['installability']! > 0);
  assert.equal(all.timings['installability-discarded'], undefined, 'the guess stood (a non-ASCII stanza too)');
  for (const step of ['select-sources', 'read-packages', 'relations', 'waits', 'keys', 'cycles']) assert.ok(all.overlapped.includes(step), step);
  assert.ok(!all.overlapped.includes('quick-select') && !all.overlapped.includes('specs'));
  assert.ok(named.overlapped.includes('waits') && !named.overlapped.includes('select-sources'), 'a handful: dose runs after the parse');
});

test('--all: an early dose run that fails is run again as the parse says, and that answer stands', { skip }, async () => {
  // A CR at a line's end: dose refuses the stanza. The early run's failure is not taken
  // as the answer; the run the parsed sources call for is made, and fails the same way as
  // when dose ran only after the parse (as when the sources are named).
  const odd = SOURCES.replace('Binary: appb\nArchitecture: any\n', 'Binary: appb\nArchitecture: any\r\n');
  for (const over of [{ all: true }, { sources: NAMES }]) {
    await assert.rejects(scan(odd, over), (e: unknown) => isKilnError(e) && e.code === 'tool-failed' && /exit 64/.test(e.message), JSON.stringify(over));
  }
});

test('without the check (--all or named): no dose, nothing overlapped, nothing broken by it, the same waits', { skip }, async () => {
  const all = await scan(SOURCES, { all: true, skipInstallability: true });
  assert.equal(all.timings['installability'], undefined);
  assert.deepEqual(all.overlapped, []);
  assert.deepEqual(all.invalid.map((x) => x.name), ['badrel']);
  assert.ok(all.specs.some((x) => x.name === 'broken'));
  // A Debian build has the default silence limit of a recipe (2 h): a hung test suite ends.
  for (const x of all.specs) assert.equal(x.build.silentTimeoutMs, 2 * 60 * 60 * 1000, x.name);
  // Named sources: the relations are worked out without dose too (they once were only for it).
  const named = await scan(SOURCES, { sources: NAMES, skipInstallability: true });
  assert.deepEqual(digest(named), digest(all));
  assert.deepEqual(digest(named).specs.find((x) => x[0] === 'appb')?.[3], 'liba-dev (>= 1.0)');
});

test('--binnmu N: a source whose VERSION+bN the archive already has is not buildable, saying so and the next number; the others build', { skip }, async () => {
  const r = await scan(SOURCES, { sources: ['liba', 'appb'], skipInstallability: true, options: { profiles: [], nocheck: false, mode: 'binary-arch', binnmu: 1 } });
  assert.deepEqual(r.specs.map((x) => x.name), ['appb']);
  assert.deepEqual(r.invalid.map((x) => [x.name, x.diagnostics.map((d) => `${d.key}: ${d.message}`)]), [
    ['liba', ["binnmu: the binNMU 1.0-1+b1 is already in testsuite's archive (liba1 on amd64): a rebuild under that version would be a second file under one version (apt: hash sum mismatch); give the next number, --binnmu 2 (or binnmu = 2 in debian.toml)"]],
  ]);
  const next = await scan(SOURCES, { sources: ['liba', 'appb'], skipInstallability: true, options: { profiles: [], nocheck: false, mode: 'binary-arch', binnmu: 2 } });
  assert.deepEqual(next.specs.map((x) => x.name).sort(), ['appb', 'liba']);
});

test('--all: a malformed stanza found while dose runs fails the scan with its own error', { skip }, async () => {
  const bad = SOURCES.replace('Directory: pool/main/c/cyc2\n', '');
  await assert.rejects(scan(bad, { all: true }), (e: unknown) => isKilnError(e) && e.code === 'index-invalid' && /no Directory field/.test(e.message));
});

test('a suite the mirror lacks, or an arch its Release does not list, is named where it was given', async () => {
  const toml = { suite: { code: 'config-invalid', where: '/t/debian.toml: suite' }, archs: { code: 'config-invalid', where: '/t/debian.toml: archs' } } as const;
  const cases: [Partial<DebianRequest>, string, RegExp][] = [
    [{ suite: 'nosuch' }, 'usage', /^--debian: the mirror \S+ has no suite "nosuch"/],
    [{ suite: 'nosuch', origin: toml }, 'config-invalid', /^\/t\/debian\.toml: suite: the mirror \S+ has no suite "nosuch"/],
    [{ archs: ['amd65'] }, 'usage', /^--arch: unknown architecture "amd65": testsuite has amd64$/],
    [{ archs: ['amd64', 'amd65'], origin: toml }, 'config-invalid', /^\/t\/debian\.toml: archs: unknown architecture "amd65"/],
    // A real Debian arch the suite lacks is not "unknown".
    [{ archs: ['riscv64'] }, 'usage', /^--arch: testsuite has no riscv64: testsuite has amd64$/],
  ];
  for (const [over, code, re] of cases) {
    await assert.rejects(scan(SOURCES, { sources: ['liba'], ...over }), (e: unknown) => isKilnError(e) && e.code === code && re.test(e.message), JSON.stringify(over));
  }
});

test('unknownArchs: those the Release does not list; `all` and a Release listing none pass', () => {
  assert.deepEqual(unknownArchs(['amd64', 'amd65', 'all'], ['amd64', 'arm64']), ['amd65']);
  assert.deepEqual(unknownArchs(['amd65'], []), []);
});
