// scanDebian over a small signed archive with main and contrib served on localhost: the
// sources of every listed component, looked up in order, the binaries of all of them for
// the build dependencies (dose, the keys), and what is said when a component is unknown
// or a source is in a component the run does not read.
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
import { doseMissing } from './installability.ts';

const key = await makeKey();

const bin = (component: string, name: string, version: string, arch: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, ...fields, `Filename: pool/${component}/${name}_${version}_${arch}.deb`, 'Size: 1', `SHA256: ${'a'.repeat(64)}`].join('\n');
const src = (component: string, name: string, version: string, ...fields: string[]): string =>
  [`Package: ${name}`, `Version: ${version}`, ...fields, `Directory: pool/${component}/${name[0]}/${name}`, 'Checksums-Sha256:', ` ${'b'.repeat(64)} 100 ${name}_${version}.dsc`].join('\n');

const MAIN_PACKAGES = [
  bin('main', 'libc6', '2.36-9', 'amd64'),
  bin('main', 'build-essential', '12.9', 'amd64'),
  bin('main', 'fakeroot', '1.31-1', 'amd64'),
  bin('main', 'debhelper', '13.11', 'all', 'Provides: debhelper-compat (= 13)'),
].join('\n\n') + '\n';
const CONTRIB_PACKAGES = [
  // A build dependency only contrib has.
  bin('contrib', 'contrib-tool', '1.0', 'amd64', 'Depends: libc6'),
].join('\n\n') + '\n';
const MAIN_SOURCES = [
  src('main', 'hello', '2.10-3', 'Binary: hello', 'Architecture: any', 'Build-Depends: debhelper-compat (= 13)'),
  src('main', 'twice', '1.0-1', 'Binary: twice', 'Architecture: any'),
].join('\n\n') + '\n';
const CONTRIB_SOURCES = [
  src('contrib', 'fwcutter', '1:019-8', 'Binary: fwcutter', 'Architecture: any', 'Build-Depends: debhelper-compat (= 13), contrib-tool'),
  src('contrib', 'twice', '9.0-1', 'Binary: twice', 'Architecture: any'),
].join('\n\n') + '\n';
// non-free is listed by the Release but not read unless asked: only for saying where a source is.
const NONFREE_SOURCES = src('non-free', 'blob', '1', 'Binary: blob', 'Architecture: any') + '\n';

async function archive() {
  const listed = new Map<string, Uint8Array>([
    ['main/source/Sources.gz', gzipSync(MAIN_SOURCES)],
    ['main/binary-amd64/Packages.gz', gzipSync(MAIN_PACKAGES)],
    ['contrib/source/Sources.gz', gzipSync(CONTRIB_SOURCES)],
    ['contrib/binary-amd64/Packages.gz', gzipSync(CONTRIB_PACKAGES)],
    ['non-free/source/Sources.gz', gzipSync(NONFREE_SOURCES)],
    ['non-free/binary-amd64/Packages.gz', gzipSync('')],
  ]);
  const files = new Map<string, Uint8Array>([['/debian/dists/testsuite/InRelease', Buffer.from(await clearsign(releaseText(listed, { Components: 'main contrib non-free' }), key))]]);
  for (const [p, data] of listed) files.set(`/debian/dists/testsuite/${p}`, data);
  return serveArchive(files);
}

async function scan(over: Partial<DebianRequest>): Promise<DebianScan> {
  await using dir = await tmpDir();
  await using srv = await archive();
  const keyring = join(dir.path, 'keyring.gpg');
  await writeFile(keyring, key.publicKey.write());
  return await scanDebian({
    suite: 'testsuite', mirror: srv.base, archs: ['amd64'], sources: [], dscs: [], all: false,
    options: { profiles: [], nocheck: false, mode: 'binary' }, cpus: 1, memoryBytes: 1 << 30, timeoutMs: undefined,
    cacheDir: dir.path, downloads: createDownloads({ cacheDir: dir.path, mirrors: {} }), keyring, skipInstallability: true, ...over,
  });
}

test('--components main,contrib: a contrib source is found and said, its contrib build dependency resolved; a name in both from the first listed', async () => {
  const r = await scan({ sources: ['fwcutter', 'hello', 'twice'], components: ['main', 'contrib'] });
  assert.deepEqual(r.invalid, []);
  assert.deepEqual(r.specs.map((s) => [s.name, s.version, s.debian?.component]), [['fwcutter', '1:019-8', 'contrib'], ['hello', '2.10-3', 'main'], ['twice', '1.0-1', 'main']]);
  assert.deepEqual(r.suite.components, ['main', 'contrib']);
  const fw = r.specs[0]!;
  assert.equal(fw.summary, 'Debian source package fwcutter from testsuite contrib');
  assert.match(fw.dir, /\/pool\/contrib\/f\/fwcutter\/fwcutter_019-8\.dsc$/);
  // The build dependency from contrib is resolved (in the key), and the index apt sees in the sandbox has it.
  assert.ok(fw.debian!.chosen['amd64']!.some((k) => k.startsWith('contrib-tool=1.0#')), fw.debian!.chosen['amd64']!.join(' '));
  const { universe } = r.suite.packages('amd64');
  assert.deepEqual(universe.versions('contrib-tool').map((p) => p.filename), ['pool/contrib/contrib-tool_1.0_amd64.deb']);
  assert.equal(universe.versions('libc6').length, 1);
  // contrib first: the name in both comes from contrib.
  const c = await scan({ sources: ['twice'], components: ['contrib', 'main'] });
  assert.deepEqual(c.specs.map((s) => [s.version, s.debian?.component]), [['9.0-1', 'contrib']]);
});

test('the components are not part of the key: a main source with main build dependencies keys alike with contrib read too', async () => {
  const main = await scan({ sources: ['hello'] });
  const both = await scan({ sources: ['hello'], components: ['main', 'contrib'] });
  assert.equal(main.specs[0]!.recipeHash, both.specs[0]!.recipeHash);
  assert.deepEqual(main.specs[0]!.recipeHashByArch, both.specs[0]!.recipeHashByArch);
});

test('dose-builddebcheck sees the binaries of every listed component', { skip: doseMissing() ?? false }, async () => {
  const r = await scan({ sources: ['fwcutter'], components: ['main', 'contrib'], skipInstallability: false });
  assert.deepEqual(r.invalid, []);
  assert.deepEqual(r.specs.map((s) => s.name), ['fwcutter']);
  const all = await scan({ all: true, components: ['main', 'contrib'], skipInstallability: false });
  assert.deepEqual(all.specs.map((s) => [s.name, s.debian?.component]), [['hello', 'main'], ['twice', 'main'], ['fwcutter', 'contrib']]);
});

test('a source in a component the run does not read: the error says which component has it and how to add it', async () => {
  const rejects = (over: Partial<DebianRequest>, message: RegExp, hint: RegExp) =>
    assert.rejects(scan(over), (e: unknown) => isKilnError(e) && e.code === 'source-not-found' && message.test(e.message) && hint.test(e.hint ?? ''), JSON.stringify(over));
  await rejects({ sources: ['fwcutter'] }, /^no source package fwcutter in testsuite main$/, /^fwcutter is in testsuite contrib, which this run does not read: add it, --components main,contrib$/);
  await rejects({ sources: ['blob'], components: ['main', 'contrib'] }, /^no source package blob in testsuite main, contrib$/, /^blob is in testsuite non-free, which this run does not read: add it, --components main,contrib,non-free$/);
  const toml = { suite: { code: 'config-invalid', where: '/t/debian.toml: suite' }, archs: { code: 'config-invalid', where: '/t/debian.toml: archs' }, components: { code: 'config-invalid', where: '/t/debian.toml: components' } } as const;
  await rejects({ sources: ['blob'], components: ['main'], origin: toml }, /in testsuite main$/, /add it, components = \["main", "non-free"\] in debian\.toml$/);
  // In no component at all: the name is wrong.
  await rejects({ sources: ['nosuch-source'] }, /^no source package nosuch-source in testsuite main$/, /^searched main, and no other component of testsuite \(contrib, non-free\) has it either: check the name/);
});

test('a component the Release does not list is named where it was given, with the ones it lists', async () => {
  await assert.rejects(scan({ sources: ['hello'], components: ['main', 'contrb'] }), (e: unknown) =>
    isKilnError(e) && e.code === 'usage' && /^--components: testsuite has no component "contrb" \(\S+\/dists\/testsuite\/InRelease lists main contrib non-free\)$/.test(e.message) && /^did you mean "contrib"\?/.test(e.hint ?? ''));
  await assert.rejects(scan({ sources: ['hello'], components: ['universe'], origin: { suite: { code: 'usage', where: '--debian' }, archs: { code: 'usage', where: '--arch' }, components: { code: 'config-invalid', where: '/t/debian.toml: components' } } }), (e: unknown) =>
    isKilnError(e) && e.code === 'config-invalid' && /^\/t\/debian\.toml: components: testsuite has no component "universe"/.test(e.message));
});
