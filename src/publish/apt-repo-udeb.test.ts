// .udeb (debian-installer) packages in kiln's apt repository, on real files made with
// dpkg-deb --build: pool beside the .debs, listed in COMPONENT/debian-installer/binary-ARCH
// only, hashed in the signed Release; kept when publishing again, refused or replaced as
// .debs are, removed with their pool files. Checked with the project's deb822 parser, the
// host's dpkg-scanpackages -t udeb, gpgv, and (when installed) apt-get with a
// `main/debian-installer` line under an apt configuration of its own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseDeb822 } from '../debian/deb822.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { collectPackages } from '../cli/repo.ts';
import { publishRepo } from './apt-repo.ts';
import { listRepo, removeFromRepo } from './apt-repo-remove.ts';
import { buildTestDeb } from './apt-repo-test-debs.ts';
import { exportPublicKey, generateSigningKey } from './signing.ts';

const execFileP = promisify(execFile);
const secret = await generateSigningKey({ name: 'kiln apt-repo udeb test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });
/** Minutes after the key was made (a signature may not predate its key). */
const later = (minutes: number): Date => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);

/** `package version arch` of each paragraph of an index, read with kiln's deb822 parser. */
async function listed(repo: string, suite: string, dir: string): Promise<string[]> {
  const path = join(repo, 'dists', suite, dir, 'Packages');
  return parseDeb822(await readFile(path, 'utf8'), { source: path }).map((p) => `${p.fields.get('package')} ${p.fields.get('version')} ${p.fields.get('architecture')}`);
}

/** Every SHA256 line of Release matches its file and by-hash copy; the Release as parsed. */
async function checkRelease(repo: string, suite: string): Promise<ReturnType<typeof parseRelease>> {
  const base = join(repo, 'dists', suite);
  const r = parseRelease(await readFile(join(base, 'Release'), 'utf8'), 'Release');
  for (const f of r.files.values()) {
    const data = await readFile(join(base, f.path));
    assert.equal(data.length, f.size, f.path);
    assert.equal(sha256(data), f.sha256, f.path);
    if (r.acquireByHash) assert.equal(sha256(await readFile(join(base, f.path, '..', 'by-hash', 'SHA256', f.sha256))), f.sha256, f.path);
  }
  return r;
}

test('udebs: pool beside the .debs, debian-installer/binary-ARCH only, in the signed Release; as dpkg-scanpackages -t udeb lists them', async () => {
  await using dir = await tmpDir('kiln-aptrepo-udeb-');
  const repo = join(dir.path, 'repo');
  const out = join(dir.path, 'out');
  await mkdir(out);
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));

  // As a zlib build: the library, its udeb; an arch-all udeb; and a .deb and .udeb of one name.
  const lib = await buildTestDeb(out, { package: 'libkz1', version: '1:1.3-1', architecture: 'amd64', source: 'kz' });
  const udeb = await buildTestDeb(out, { package: 'libkz1-udeb', version: '1:1.3-1', architecture: 'amd64', source: 'kz', udeb: true });
  const allUdeb = await buildTestDeb(out, { package: 'kz-data-udeb', version: '1:1.3-1', architecture: 'all', source: 'kz', udeb: true });
  const twinDeb = await buildTestDeb(out, { package: 'kz-twin', version: '2', architecture: 'amd64', source: 'kz' });
  const twinUdeb = await buildTestDeb(out, { package: 'kz-twin', version: '2', architecture: 'amd64', source: 'kz', udeb: true });
  const r = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib, udeb, allUdeb, twinDeb, twinUdeb], key, architectures: ['amd64', 'riscv64'] });
  assert.deepEqual(r.packages.map((p) => [p.package, p.outcome, p.filename]), [
    ['libkz1', 'added', 'pool/main/k/kz/libkz1_1.3-1_amd64.deb'],
    ['libkz1-udeb', 'added', 'pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb'],
    ['kz-data-udeb', 'added', 'pool/main/k/kz/kz-data-udeb_1.3-1_all.udeb'],
    ['kz-twin', 'added', 'pool/main/k/kz/kz-twin_2_amd64.deb'],
    ['kz-twin', 'added', 'pool/main/k/kz/kz-twin_2_amd64.udeb'],
  ]);
  for (const p of r.packages) assert.equal(sha256(await readFile(join(repo, p.filename))), sha256(await readFile(p.from)), p.filename);
  assert.equal(r.indexed, 5);

  // The .debs' indexes hold no udeb; each arch's debian-installer index its own and the all ones.
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-amd64'), ['kz-twin 2 amd64', 'libkz1 1:1.3-1 amd64']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-riscv64'), []);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-all'), []);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/debian-installer/binary-amd64'), ['kz-data-udeb 1:1.3-1 all', 'kz-twin 2 amd64', 'libkz1-udeb 1:1.3-1 amd64']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/debian-installer/binary-riscv64'), ['kz-data-udeb 1:1.3-1 all']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/debian-installer/binary-all'), ['kz-data-udeb 1:1.3-1 all']);
  const di = join(repo, 'dists/bookworm/main/debian-installer/binary-amd64');
  const { stdout: unxz } = await execFileP('xz', ['-dc', join(di, 'Packages.xz')]);
  assert.equal(unxz, await readFile(join(di, 'Packages'), 'utf8'));
  const release = await checkRelease(repo, 'bookworm');
  for (const arch of ['amd64', 'riscv64', 'all']) {
    for (const f of ['Packages', 'Packages.xz']) assert.ok(release.files.has(`main/debian-installer/binary-${arch}/${f}`), `${arch} ${f} in Release`);
  }
  if (existsSync('/usr/bin/gpgv')) {
    const base = join(repo, 'dists/bookworm');
    await execFileP('gpgv', ['--keyring', keyring, join(base, 'InRelease')]);
    await execFileP('gpgv', ['--keyring', keyring, join(base, 'Release.gpg'), join(base, 'Release')]);
  }

  // The file fields are those dpkg-scanpackages -t udeb gives the same pool files.
  if (existsSync('/usr/bin/dpkg-scanpackages')) {
    const { stdout } = await execFileP('dpkg-scanpackages', ['-t', 'udeb', '-m', 'pool'], { cwd: repo });
    const want = parseDeb822(stdout, { source: 'dpkg-scanpackages' });
    const have = parseDeb822(await readFile(join(di, 'Packages'), 'utf8'), { source: 'Packages' });
    assert.deepEqual(want.map((p) => p.fields.get('filename')).sort(), ['pool/main/k/kz/kz-data-udeb_1.3-1_all.udeb', 'pool/main/k/kz/kz-twin_2_amd64.udeb', 'pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb']);
    for (const w of want) {
      const h = have.find((p) => p.fields.get('filename') === w.fields.get('filename'));
      assert.ok(h !== undefined, w.fields.get('filename'));
      for (const f of ['package', 'version', 'architecture', 'section', 'size', 'md5sum', 'sha256']) assert.equal(h.fields.get(f), w.fields.get(f), `${f} of ${w.fields.get('filename')}`);
    }
  }

  // Publishing a .deb again keeps the udebs (read back from the live tree); the same udeb
  // again changes nothing; another build of its version is refused, named as a .udeb.
  const lib2 = await buildTestDeb(out, { package: 'libkz1', version: '1:1.3-2', architecture: 'amd64', source: 'kz' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib2], key, now: later(2) });
  assert.deepEqual(await listed(repo, 'bookworm', 'main/debian-installer/binary-amd64'), ['kz-data-udeb 1:1.3-1 all', 'kz-twin 2 amd64', 'libkz1-udeb 1:1.3-1 amd64']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-amd64'), ['kz-twin 2 amd64', 'libkz1 1:1.3-2 amd64']);
  await checkRelease(repo, 'bookworm');
  const tree = await readlink(join(repo, 'dists'));
  const again = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [udeb], key, now: later(3) });
  assert.deepEqual(again.packages.map((p) => p.outcome), ['unchanged']);
  assert.equal(await readlink(join(repo, 'dists')), tree, 'nothing new: the live tree stays');
  const other = join(dir.path, 'other');
  await mkdir(other);
  const rebuilt = await buildTestDeb(other, { package: 'libkz1-udeb', version: '1:1.3-1', architecture: 'amd64', source: 'kz', udeb: true, salt: 'other bytes' });
  await assert.rejects(publishRepo({ repoDir: repo, suite: 'bookworm', debs: [rebuilt], key, now: later(4) }),
    (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /libkz1-udeb 1:1\.3-1 \(amd64, \.udeb\) is already published/.test(e.message));
  // Another suite's rebuild of that version goes to a path of its own, not under bookworm's (one pool).
  const theirs = await publishRepo({ repoDir: repo, suite: 'trixie', debs: [rebuilt], key, replaceSameVersion: true, now: later(4) });
  assert.deepEqual(theirs.refused, []);
  assert.deepEqual(theirs.packages.map((p) => p.filename), [`pool/main/k/kz/+${sha256(await readFile(rebuilt)).slice(0, 16)}/libkz1-udeb_1.3-1_amd64.udeb`]);
  assert.equal(sha256(await readFile(join(repo, 'pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb'))), sha256(await readFile(udeb)));
  assert.deepEqual(await listed(repo, 'trixie', 'main/debian-installer/binary-amd64'), ['libkz1-udeb 1:1.3-1 amd64']);

  // kiln repo list shows them; remove takes a udeb out (its pool file goes), the index stays.
  assert.deepEqual((await listRepo(repo, 'bookworm')).filter((p) => p.filename.endsWith('.udeb')).map((p) => `${p.package} ${p.architecture}`),
    ['kz-data-udeb all', 'kz-twin amd64', 'libkz1-udeb amd64']);
  const rm = await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['libkz1-udeb', 'kz-data-udeb', 'kz-twin:amd64'], key, now: later(5) });
  assert.deepEqual(rm.removed.map((p) => p.filename).sort(), [
    'pool/main/k/kz/kz-data-udeb_1.3-1_all.udeb', 'pool/main/k/kz/kz-twin_2_amd64.deb', 'pool/main/k/kz/kz-twin_2_amd64.udeb', 'pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb',
  ]);
  // Their pool files stay one generation (the suite's previous state lists them), then go.
  assert.ok(existsSync(join(repo, 'pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb')));
  const next = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [await buildTestDeb(out, { package: 'kz-next', version: '1' })], key, now: later(6) });
  assert.ok(next.poolDeleted?.includes('pool/main/k/kz/libkz1-udeb_1.3-1_amd64.udeb'));
  assert.ok(!existsSync(join(repo, 'pool/main/k/kz/kz-data-udeb_1.3-1_all.udeb')));
  assert.deepEqual(await listed(repo, 'bookworm', 'main/debian-installer/binary-amd64'), []);
  assert.ok((await checkRelease(repo, 'bookworm')).files.has('main/debian-installer/binary-amd64/Packages'), 'an emptied debian-installer index is still there');
});

test('a .udeb paragraph in a .deb index (or the reverse) is a damaged index, named', async () => {
  await using dir = await tmpDir('kiln-aptrepo-udeb-');
  const repo = join(dir.path, 'repo');
  const udeb = await buildTestDeb(dir.path, { package: 'kz-udeb', version: '1', architecture: 'amd64', udeb: true });
  const r = await publishRepo({ repoDir: repo, suite: 's', debs: [udeb], key, architectures: ['amd64'] });
  const di = join(repo, r.tree, 's/main/debian-installer/binary-amd64/Packages');
  const text = await readFile(di, 'utf8');
  await writeFile(join(repo, r.tree, 's/main/binary-amd64/Packages'), text);
  await assert.rejects(listRepo(repo, 's'), (e: unknown) => e instanceof KilnError && e.code === 'index-invalid'
    && e.message.includes('main/binary-amd64/Packages: lists pool/main/k/kz-udeb/kz-udeb_1_amd64.udeb, a .udeb, which belongs in debian-installer/binary-ARCH'));
});

test('kiln repo publish takes .udeb files, named alone or found in a directory (beside .debs and .dscs)', async () => {
  await using dir = await tmpDir('kiln-aptrepo-udeb-');
  const only = join(dir.path, 'only');
  await mkdir(join(only, 'sub'), { recursive: true });
  const u = await buildTestDeb(join(only, 'sub'), { package: 'kz-udeb', version: '1', udeb: true });
  const d = await buildTestDeb(dir.path, { package: 'kz', version: '1' });
  assert.deepEqual(await collectPackages([only]), { debs: [u], dscs: [] });
  assert.deepEqual(await collectPackages([u, d, u]), { debs: [u, d], dscs: [] });
});

const noApt = ['/usr/bin/apt-get', '/usr/bin/gpgv'].filter((p) => !existsSync(p));
test('apt-get reads a `main/debian-installer` line of kiln\'s repository, signed, and downloads the udeb', { skip: noApt.length > 0 ? `not installed: ${noApt.join(', ')}` : false }, async () => {
  await using dir = await tmpDir('kiln-aptrepo-udeb-apt-');
  const repo = join(dir.path, 'repo');
  const { stdout: hostArch } = await execFileP('dpkg', ['--print-architecture']);
  const arch = hostArch.trim();
  const udeb = await buildTestDeb(dir.path, { package: 'kz-udeb', version: '1.0-1', architecture: arch, udeb: true });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [udeb], key });
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));
  // An apt configuration that reads and writes nothing of the host's.
  const root = join(dir.path, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/empty', 'get']) await mkdir(join(root, d), { recursive: true });
  const none = join(root, 'etc/empty');
  await writeFile(join(root, 'etc/sources.list'), `deb [signed-by=${keyring}] file:${repo} bookworm main/debian-installer\n`);
  const conf: Record<string, string> = {
    'Dir::Etc::Parts': none, 'Dir::Etc::Main': '/nonexistent',
    'Dir::Etc::SourceList': join(root, 'etc/sources.list'), 'Dir::Etc::SourceParts': none,
    'Dir::Etc::Trusted': '/nonexistent', 'Dir::Etc::TrustedParts': none,
    'Dir::Etc::Preferences': '/nonexistent', 'Dir::Etc::PreferencesParts': none,
    'Dir::State::Lists': join(root, 'lists'), 'Dir::State::status': '/dev/null', 'Dir::Cache': join(root, 'cache'),
    'Debug::NoLocking': '1', 'APT::Sandbox::User': userInfo().username,
  };
  const file = join(root, 'etc/apt.conf');
  await writeFile(file, Object.entries(conf).map(([k, v]) => `${k} "${v}";\n`).join(''));
  const apt = async (args: string[]): Promise<string> => {
    const r = await execFileP('apt-get', args, { cwd: join(root, 'get'), env: { ...process.env, APT_CONFIG: file, LC_ALL: 'C' } });
    return r.stdout + r.stderr;
  };
  const update = await apt(['update']);
  assert.doesNotMatch(update, /^(W|E): /m, update);
  await apt(['download', 'kz-udeb']);
  assert.equal(sha256(await readFile(join(root, 'get', `kz-udeb_1.0-1_${arch}.udeb`))), sha256(await readFile(udeb)));
});
