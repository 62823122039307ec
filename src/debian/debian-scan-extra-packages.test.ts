// scanDebian with --extra-package .debs over a small signed archive served on localhost:
// the .debs join the index of the archs they fit (over the suite's packages of the same
// names), the resolver and dose see them, and each job's key takes the .debs it can use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { clearsign, makeKey, releaseText, serveArchive } from '../../test/fixtures/debian/archive.ts';
import { createDownloads } from '../cache/downloads.ts';
import { inputPartsOf, diffParts, describeChanges } from '../plan/input-parts.ts';
import { buildDeb } from './deb-test-helpers.ts';
import { scanDebian, type DebianRequest, type DebianScan } from './debian-scan.ts';
import { collectExtraPackages } from './extra-packages.ts';
import type { ExtraPackage } from './extra-package-use.ts';
import { doseMissing } from './installability.ts';

const key = await makeKey();

const bin = (name: string, version: string, arch: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, ...fields, `Filename: pool/main/${name}_${version}_${arch}.deb`, 'Size: 1', `SHA256: ${'a'.repeat(64)}`].join('\n');
const src = (name: string, version: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, ...fields, `Directory: pool/main/${name[0]}/${name}`, 'Checksums-Sha256:', ` ${'b'.repeat(64)} 100 ${name}_${version}.dsc`].join('\n');

const PACKAGES = [
  bin('libc6', '2.36-9', 'amd64'),
  bin('build-essential', '12.9', 'amd64'),
  bin('fakeroot', '1.31-1', 'amd64'),
  bin('libfoo-dev', '2.0-1', 'amd64'),
].join('\n\n') + '\n';
const SOURCES = [
  src('needs-extra', '1.0-1', 'Binary: needs-extra', 'Architecture: any', 'Build-Depends: kiln-extra-dep, libfoo-dev'),
  src('plain', '1.0-1', 'Binary: plain', 'Architecture: any'),
].join('\n\n') + '\n';

async function scan(dir: string, over: Partial<DebianRequest>): Promise<DebianScan> {
  const listed = new Map<string, Uint8Array>([
    ['main/source/Sources.gz', gzipSync(SOURCES)],
    ['main/binary-amd64/Packages.gz', gzipSync(PACKAGES)],
    ['main/binary-arm64/Packages.gz', gzipSync(PACKAGES.replaceAll('amd64', 'arm64'))],
  ]);
  const files = new Map<string, Uint8Array>([['/debian/dists/testsuite/InRelease', Buffer.from(await clearsign(releaseText(listed, { Components: 'main', Architectures: 'amd64 arm64' }), key))]]);
  for (const [p, data] of listed) files.set(`/debian/dists/testsuite/${p}`, data);
  await using srv = await serveArchive(files);
  const keyring = join(dir, 'keyring.gpg');
  await writeFile(keyring, key.publicKey.write());
  const cacheDir = join(dir, 'cache');
  return await scanDebian({
    suite: 'testsuite', mirror: srv.base, archs: ['amd64'], sources: ['needs-extra', 'plain'], dscs: [], all: false,
    options: { profiles: [], nocheck: false, mode: 'binary' }, cpus: 1, memoryBytes: 1 << 30, timeoutMs: undefined,
    cacheDir, downloads: createDownloads({ cacheDir, mirrors: {} }), keyring, skipInstallability: true, ...over,
  });
}

async function debs(dir: string, name: string, specs: { pkg: string; version: string; arch: string; content?: string }[]): Promise<ExtraPackage[]> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  for (const s of specs) await buildDeb(folder, `${s.pkg}_${s.arch}`, { control: { Package: s.pkg, Version: s.version, Architecture: s.arch }, files: { [`usr/share/doc/${s.pkg}/note`]: s.content ?? 'one\n' } });
  return collectExtraPackages([{ path: folder, where: `--extra-package ${name}`, code: 'usage' }]);
}

const byName = (r: DebianScan, name: string) => r.specs.find((s) => s.name === name)!;

test('extra packages: in the index of their arch over the suite\'s same-named package, resolved into the key; a changed .deb changes the key of the jobs that can use it only', async () => {
  await using dir = await tmpDir();
  const without = await scan(dir.path, {});
  assert.ok(byName(without, 'needs-extra').debian!.chosen['amd64']!.includes('!kiln-extra-dep'));
  const v1 = await debs(dir.path, 'v1', [
    { pkg: 'kiln-extra-dep', version: '1.0', arch: 'all' },
    // Lower than the suite's 2.0-1: apt in the build root prefers it all the same (pinned), so the plan does too.
    { pkg: 'libfoo-dev', version: '1.9-1kiln1', arch: 'amd64' },
    { pkg: 'other-arch', version: '1', arch: 'arm64' },
  ]);
  const r1 = await scan(dir.path, { extraPackages: v1 });
  const spec = byName(r1, 'needs-extra');
  const chosen = spec.debian!.chosen['amd64']!;
  assert.ok(chosen.some((c) => c.startsWith('kiln-extra-dep=1.0#')), chosen.join(' '));
  assert.ok(chosen.some((c) => c.startsWith('libfoo-dev=1.9-1kiln1#')), chosen.join(' '));
  const { universe } = r1.suite.packages('amd64');
  assert.deepEqual(universe.versions('libfoo-dev').map((p) => p.version), ['1.9-1kiln1']);
  assert.deepEqual(universe.versions('other-arch'), []);
  assert.equal(r1.suite.extraPackages?.length, 3);
  assert.notEqual(spec.recipeHashByArch!['amd64'], byName(without, 'needs-extra').recipeHashByArch!['amd64']);
  // Its input parts name each extra package it can use (not the arm64 one).
  const parts = inputPartsOf(spec, 'amd64').recipe;
  assert.deepEqual(Object.keys(parts).filter((k) => k.startsWith('extra-package:')).sort(), ['extra-package:kiln-extra-dep', 'extra-package:libfoo-dev']);

  // kiln-extra-dep rebuilt with other contents, same version: the key changes, the reason names it.
  const v2 = await debs(dir.path, 'v2', [
    { pkg: 'kiln-extra-dep', version: '1.0', arch: 'all', content: 'two\n' },
    { pkg: 'libfoo-dev', version: '1.9-1kiln1', arch: 'amd64' },
    { pkg: 'other-arch', version: '1', arch: 'arm64' },
  ]);
  const r2 = await scan(dir.path, { extraPackages: v2 });
  assert.notEqual(byName(r2, 'needs-extra').recipeHashByArch!['amd64'], spec.recipeHashByArch!['amd64']);
  assert.equal(describeChanges(diffParts(parts, inputPartsOf(byName(r2, 'needs-extra'), 'amd64').recipe)), 'extra package kiln-extra-dep 1.0: the .deb\'s contents changed (--extra-package)');
  // Only the arm64 .deb changed: no amd64 job can use it, no amd64 key changes.
  const v3 = await debs(dir.path, 'v3', [
    { pkg: 'kiln-extra-dep', version: '1.0', arch: 'all' },
    { pkg: 'libfoo-dev', version: '1.9-1kiln1', arch: 'amd64' },
    { pkg: 'other-arch', version: '1', arch: 'arm64', content: 'changed\n' },
  ]);
  const r3 = await scan(dir.path, { extraPackages: v3 });
  for (const name of ['needs-extra', 'plain']) assert.equal(byName(r3, name).recipeHashByArch!['amd64'], byName(r1, name).recipeHashByArch!['amd64'], name);
  // Without any extra package a key is what it was before the feature (no extraPackages field in it).
  assert.equal(byName(await scan(dir.path, { extraPackages: [] }), 'plain').recipeHashByArch!['amd64'], byName(without, 'plain').recipeHashByArch!['amd64']);
});

test('dose-builddebcheck: a build dependency only an extra package satisfies is broken without it, installable with it', { skip: doseMissing() ?? false }, async () => {
  await using dir = await tmpDir();
  const without = await scan(dir.path, { sources: ['needs-extra'], skipInstallability: false });
  assert.deepEqual(without.specs, []);
  assert.match(JSON.stringify(without.invalid), /kiln-extra-dep/);
  const extra = await debs(dir.path, 'v1', [{ pkg: 'kiln-extra-dep', version: '1.0', arch: 'all' }]);
  const withIt = await scan(dir.path, { sources: ['needs-extra'], skipInstallability: false, extraPackages: extra });
  assert.deepEqual(withIt.invalid, []);
  assert.deepEqual(withIt.specs.map((s) => s.name), ['needs-extra']);
});
