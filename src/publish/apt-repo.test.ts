// publishRepo on real .debs (dpkg-deb --build) into a temp dir: layout, indexes, hashes,
// signatures (host gpgv), accumulation, replacement, conflicts and the atomic swap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { parseControlParagraphs, fieldValue } from '../debian/deb-file.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { publishRepo } from './apt-repo.ts';
import { buildTestDeb } from './apt-repo-test-debs.ts';
import { exportPublicKey, generateSigningKey } from './signing.ts';

const execFileP = promisify(execFile);
const secret = await generateSigningKey({ name: 'kiln apt-repo test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });

async function listed(repo: string, suite: string, dir: string): Promise<string[]> {
  const text = await readFile(join(repo, 'dists', suite, dir, 'Packages'), 'utf8');
  return parseControlParagraphs(text, dir).map((p) => `${fieldValue(p, 'Package')} ${fieldValue(p, 'Version')} ${fieldValue(p, 'Architecture')}`);
}

/** Every SHA256 line of Release matches the file (and its by-hash copy when Acquire-By-Hash). */
async function checkRelease(repo: string, suite: string): Promise<ReturnType<typeof parseRelease>> {
  const base = join(repo, 'dists', suite);
  const r = parseRelease(await readFile(join(base, 'Release'), 'utf8'), 'Release');
  assert.ok(r.files.size > 0);
  for (const f of r.files.values()) {
    const data = await readFile(join(base, f.path));
    assert.equal(data.length, f.size, f.path);
    assert.equal(sha256(data), f.sha256, f.path);
    if (r.acquireByHash) assert.equal(sha256(await readFile(join(base, f.path, '..', 'by-hash', 'SHA256', f.sha256))), f.sha256);
  }
  return r;
}

async function gpgvOk(repo: string, suite: string, keyring: string): Promise<void> {
  const base = join(repo, 'dists', suite);
  await execFileP('gpgv', ['--keyring', keyring, join(base, 'InRelease')]);
  await execFileP('gpgv', ['--keyring', keyring, join(base, 'Release.gpg'), join(base, 'Release')]);
}

test('publishRepo: pool, indexes, Release, signatures; republishing accumulates, newer replaces, old trees go', async () => {
  await using dir = await tmpDir('kiln-aptrepo-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));

  const tool1 = await buildTestDeb(debs, { package: 'kiln-tool', version: '1.0-1', architecture: 'all' });
  const r1 = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [tool1], key, architectures: ['amd64'] });
  assert.deepEqual(r1.packages.map((p) => [p.package, p.outcome]), [['kiln-tool', 'added']]);
  assert.deepEqual(r1.architectures, ['amd64']);
  assert.ok((await lstat(join(repo, 'dists'))).isSymbolicLink());
  assert.equal(await readlink(join(repo, 'dists')), r1.tree);
  assert.ok(existsSync(join(repo, 'pool/main/k/kiln-tool/kiln-tool_1.0-1_all.deb')));
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-amd64'), ['kiln-tool 1.0-1 all']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-all'), ['kiln-tool 1.0-1 all']);
  const rel1 = await checkRelease(repo, 'bookworm');
  assert.deepEqual(rel1.architectures, ['all', 'amd64']);
  assert.equal(rel1.suite, 'bookworm');
  const para = parseControlParagraphs(await readFile(join(repo, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8'), 'P')[0]!;
  const poolFile = await readFile(join(repo, fieldValue(para, 'Filename')!));
  assert.equal(fieldValue(para, 'SHA256'), sha256(poolFile));
  assert.equal(fieldValue(para, 'Size'), String(poolFile.length));
  assert.match(fieldValue(para, 'MD5sum') ?? '', /^[0-9a-f]{32}$/);
  assert.match(fieldValue(para, 'Description') ?? '', /\n \.\n/);
  // xz index is the same text.
  const { stdout } = await execFileP('xz', ['-dc', join(repo, 'dists/bookworm/main/binary-amd64/Packages.xz')]);
  assert.equal(stdout, await readFile(join(repo, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8'));
  if (existsSync('/usr/bin/gpgv')) await gpgvOk(repo, 'bookworm', keyring);

  // Leftovers of a crashed publish are cleaned by the next one.
  await mkdir(join(repo, '.dists.crashed-1.tmp/bookworm'), { recursive: true });
  await mkdir(join(repo, 'dists.crashed-2'));

  // Second publish: a newer version, an arch package, and the same file again.
  const tool2 = await buildTestDeb(debs, { package: 'kiln-tool', version: '1.1-1', architecture: 'all' });
  const lib = await buildTestDeb(debs, { package: 'libkiln1', version: '2', architecture: 'amd64', source: 'libkiln' });
  const r2 = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [tool2, lib, tool1], key });
  assert.deepEqual(r2.packages.map((p) => [p.package, p.version, p.outcome, p.previous]), [
    ['kiln-tool', '1.1-1', 'replaced', '1.0-1'], ['libkiln1', '2', 'added', undefined], ['kiln-tool', '1.0-1', 'older', '1.1-1'],
  ]);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-amd64'), ['kiln-tool 1.1-1 all', 'libkiln1 2 amd64']);
  assert.deepEqual(await listed(repo, 'bookworm', 'main/binary-all'), ['kiln-tool 1.1-1 all']);
  assert.ok(existsSync(join(repo, 'pool/main/k/kiln-tool/kiln-tool_1.0-1_all.deb')), 'the replaced version\'s file stays in the pool');
  assert.ok(existsSync(join(repo, 'pool/main/libk/libkiln/libkiln1_2_amd64.deb')));
  const rel2 = await checkRelease(repo, 'bookworm');
  // The previous tree's indexes stay reachable by hash (an apt mid-update still finds them).
  const old = rel1.files.get('main/binary-amd64/Packages')!;
  assert.notEqual(rel2.files.get('main/binary-amd64/Packages')!.sha256, old.sha256);
  assert.equal(sha256(await readFile(join(repo, 'dists/bookworm/main/binary-amd64/by-hash/SHA256', old.sha256))), old.sha256);
  assert.deepEqual((await readdir(repo)).filter((n) => n.includes('dists')).sort(), ['dists', r2.tree].sort(), 'old and crashed trees removed');
  if (existsSync('/usr/bin/gpgv')) await gpgvOk(repo, 'bookworm', keyring);

  // Another suite in the same repository: the first one is carried over untouched.
  const rel2Text = await readFile(join(repo, 'dists/bookworm/Release'), 'utf8');
  const r3 = await publishRepo({ repoDir: repo, suite: 'trixie', component: 'contrib', debs: [lib], key });
  assert.equal(r3.indexed, 1);
  assert.equal(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), rel2Text);
  assert.deepEqual(await listed(repo, 'trixie', 'contrib/binary-amd64'), ['libkiln1 2 amd64']);
  assert.ok(existsSync(join(repo, 'pool/contrib/libk/libkiln/libkiln1_2_amd64.deb')));
  await checkRelease(repo, 'trixie');
});

test('publishRepo: a conflicting file or a failure before the swap leaves the live repository as it was', async () => {
  await using dir = await tmpDir('kiln-aptrepo-');
  const repo = join(dir.path, 'repo');
  const a = join(dir.path, 'a');
  const b = join(dir.path, 'b');
  await mkdir(a);
  await mkdir(b);
  const first = await buildTestDeb(a, { package: 'kiln-x', version: '3', architecture: 'amd64' });
  const r1 = await publishRepo({ repoDir: repo, suite: 's', debs: [first], key });
  const before = await readFile(join(repo, 'dists/s/InRelease'), 'utf8');

  // Same version, other content: refused, nothing written.
  const other = await buildTestDeb(b, { package: 'kiln-x', version: '3', architecture: 'amd64', salt: 'different' });
  const fresh = await buildTestDeb(b, { package: 'kiln-y', version: '1', architecture: 'amd64' });
  await assert.rejects(publishRepo({ repoDir: repo, suite: 's', debs: [fresh, other], key }),
    (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /kiln-x 3 \(amd64\) is already published/.test(e.message));
  assert.equal(await readlink(join(repo, 'dists')), r1.tree);
  assert.equal(await readFile(join(repo, 'dists/s/InRelease'), 'utf8'), before);
  assert.ok(!existsSync(join(repo, 'pool/main/k/kiln-y')), 'no pool file written for a refused publish');

  // Signing fails (a locked key) after the pool and the new tree were written: the old tree stays live.
  const locked = await openpgp.encryptKey({ privateKey: key, passphrase: 'pw' });
  await assert.rejects(publishRepo({ repoDir: repo, suite: 's', debs: [fresh], key: locked }));
  assert.equal(await readlink(join(repo, 'dists')), r1.tree);
  assert.equal(await readFile(join(repo, 'dists/s/InRelease'), 'utf8'), before);
  assert.deepEqual((await readdir(repo)).filter((n) => n.includes('dists')).sort(), ['dists', r1.tree].sort(), 'the half-made tree was removed');

  // A dists that kiln did not make is refused.
  await rename(join(repo, 'dists'), join(repo, 'dists-link'));
  await mkdir(join(repo, 'dists'));
  await assert.rejects(publishRepo({ repoDir: repo, suite: 's', debs: [fresh], key }), (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /is not kiln's/.test(e.message));
  await assert.rejects(publishRepo({ repoDir: repo, suite: 'a/b', debs: [fresh], key }), (e: unknown) => e instanceof KilnError && e.code === 'usage');
  await assert.rejects(publishRepo({ repoDir: repo, suite: 's', debs: [], key }), (e: unknown) => e instanceof KilnError && e.code === 'usage');
});

test('one pool for every suite: another suite\'s rebuild of a version goes to a path of its own, the first suite\'s file untouched', async () => {
  await using dir = await tmpDir();
  const repo = join(dir.path, 'repo');
  const first = await buildTestDeb(join(dir.path, 'a'), { package: 'figlet', version: '2.2.5-3', architecture: 'amd64' });
  const other = await buildTestDeb(join(dir.path, 'b'), { package: 'figlet', version: '2.2.5-3', architecture: 'amd64', salt: 'built for another suite' });
  const mine = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [first], key, architectures: ['amd64'], replaceSameVersion: true });
  assert.deepEqual(mine.refused, []);
  assert.equal(mine.packages[0]!.filename, 'pool/main/f/figlet/figlet_2.2.5-3_amd64.deb');
  const pool = join(repo, mine.packages[0]!.filename);
  const before = sha256(await readFile(pool));
  const theirs = await publishRepo({ repoDir: repo, suite: 'trixie', debs: [other], key, architectures: ['amd64'], replaceSameVersion: true });
  assert.deepEqual(theirs.refused, []);
  const unique = `pool/main/f/figlet/+${sha256(await readFile(other)).slice(0, 16)}/figlet_2.2.5-3_amd64.deb`;
  assert.deepEqual(theirs.packages.map((p) => [p.filename, p.outcome]), [[unique, 'added']]);
  assert.equal(sha256(await readFile(pool)), before, "bookworm's pool file was replaced");
  assert.equal(sha256(await readFile(join(repo, unique))), sha256(await readFile(other)));
  assert.deepEqual(await listed(repo, 'trixie', 'main/binary-amd64'), ['figlet 2.2.5-3 amd64']);
  assert.match(await readFile(join(repo, 'dists/trixie/main/binary-amd64/Packages'), 'utf8'), new RegExp(`^Filename: ${unique.replace(/[+.]/g, '\\$&')}$`, 'm'));
  // Within one suite a rebuild replaces its own version (the build dependency changed), at
  // the path trixie's build already has: reused, not copied again.
  const again = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [other], key, architectures: ['amd64'], replaceSameVersion: true });
  assert.deepEqual(again.refused, []);
  assert.deepEqual(again.packages.map((p) => [p.filename, p.outcome]), [[unique, 'replaced']]);
  assert.equal(sha256(await readFile(pool)), before, 'the old path keeps its bytes (the previous state lists it)');
});

test('publishRepo: a suite keeps its Origin and Label when a later publish names none (apt refuses a repository whose Origin changes)', async () => {
  await using dir = await tmpDir('kiln-aptrepo-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const a = await buildTestDeb(debs, { package: 'kiln-a', version: '1.0-1', architecture: 'all' });
  const b = await buildTestDeb(debs, { package: 'kiln-b', version: '1.0-1', architecture: 'all' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [a], key, origin: 'Acme', label: 'Acme tools' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [b], key });
  const release = await readFile(join(repo, 'dists/bookworm/Release'), 'utf8');
  assert.match(release, /^Origin: Acme$/m);
  assert.match(release, /^Label: Acme tools$/m);
  // The same file again: nothing changes, and the result says so (its arches as a new tree's, without `all`).
  const same = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [b], key });
  assert.equal(same.unchanged, true);
  assert.ok(!same.architectures.includes('all'), same.architectures.join(' '));
  assert.deepEqual(same.packages.map((p) => p.outcome), ['unchanged']);
  // A new suite, named nothing: kiln.
  await publishRepo({ repoDir: repo, suite: 'trixie', debs: [b], key });
  assert.match(await readFile(join(repo, 'dists/trixie/Release'), 'utf8'), /^Origin: kiln$/m);
});

test('publishRepo: under umask 077 the repository is still readable by all (apt reads it as _apt)', async () => {
  await using dir = await tmpDir('kiln-aptrepo-');
  const repo = join(dir.path, 'new', 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const a = await buildTestDeb(debs, { package: 'kiln-a', version: '1.0-1', architecture: 'all' });
  const old = process.umask(0o077);
  try {
    await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [a], key, architectures: ['amd64'] });
  } finally {
    process.umask(old);
  }
  const modeOf = async (p: string) => (await stat(p)).mode & 0o777;
  assert.equal(await modeOf(repo), 0o755);
  assert.equal(await modeOf(join(dir.path, 'new')), 0o755);
  assert.equal(await modeOf(join(repo, 'pool/main/k/kiln-a')), 0o755);
  assert.equal(await modeOf(join(repo, 'pool/main/k/kiln-a/kiln-a_1.0-1_all.deb')), 0o644);
  for (const f of ['dists/bookworm', 'dists/bookworm/main/binary-amd64']) assert.equal(await modeOf(join(repo, f)), 0o755, f);
  for (const f of ['dists/bookworm/InRelease', 'dists/bookworm/Release', 'dists/bookworm/Release.gpg', 'dists/bookworm/main/binary-amd64/Packages']) assert.equal(await modeOf(join(repo, f)), 0o644, f);
  // Bits are added, never taken: a repository a group shares (setgid, group-writable, umask 002) stays so.
  const shared = join(dir.path, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o2775);
  const before = process.umask(0o002);
  try {
    await publishRepo({ repoDir: shared, suite: 'bookworm', debs: [a], key });
  } finally {
    process.umask(before);
  }
  const fullMode = async (p: string) => (await stat(p)).mode & 0o7777;
  assert.equal(await fullMode(shared), 0o2775);
  assert.equal(await fullMode(join(shared, 'pool/main/k/kiln-a')), 0o2775);
  assert.equal(await fullMode(join(shared, 'dists/bookworm')), 0o2775);
  assert.equal(await fullMode(join(shared, 'dists/bookworm/Release')), 0o644);
});

test('publishRepo: pool files are copied through REPO/.kiln/incoming, never under a temporary name in the pool; a killed publish\'s half copies there go with the next publish', async () => {
  await using dir = await tmpDir('kiln-repo-');
  const repo = join(dir.path, 'repo');
  const a = join(dir.path, 'a');
  await mkdir(a);
  // What a publisher killed in the middle of a copy left behind.
  await mkdir(join(repo, '.kiln', 'incoming'), { recursive: true });
  await writeFile(join(repo, '.kiln', 'incoming', 'kiln-big_1_amd64.deb.0123abcd.tmp'), 'half a copy');
  await publishRepo({ repoDir: repo, suite: 's', debs: [await buildTestDeb(a, { package: 'kiln-x', version: '1', architecture: 'amd64' })], key });
  assert.deepEqual(await readdir(join(repo, '.kiln', 'incoming')), [], 'the half copy is gone, and nothing of this publish is left there');
  const pool = await readdir(join(repo, 'pool'), { recursive: true });
  assert.deepEqual(pool.filter((f) => f.endsWith('.tmp') || f.split('/').some((part) => part.startsWith('.'))), [], 'no temporary or hidden file in the pool');
  assert.ok(pool.includes(join('main', 'k', 'kiln-x', 'kiln-x_1_amd64.deb')));
});

/** A .deb and a copy of it cut 40 bytes short (its control fields still read, its data does not). */
async function goodAndTruncated(root: string): Promise<{ good: string; cut: string }> {
  const a = join(root, 'a');
  await mkdir(a);
  const good = await buildTestDeb(a, { package: 'kiln-x', version: '1', architecture: 'amd64' });
  const whole = await readFile(good);
  const cut = join(root, 'kiln-x_1_amd64.deb');
  await writeFile(cut, whole.subarray(0, whole.length - 40));
  return { good, cut };
}

test('publishRepo: a truncated .deb whose control fields still read is refused before anything is written (deb-invalid)', async () => {
  await using dir = await tmpDir('kiln-repo-');
  const repo = join(dir.path, 'repo');
  const { good, cut } = await goodAndTruncated(dir.path);
  await assert.rejects(publishRepo({ repoDir: repo, suite: 's', debs: [cut], key }), (e: unknown) => e instanceof KilnError && e.code === 'deb-invalid' && /is not a complete \.deb/.test(e.message));
  assert.ok(!existsSync(join(repo, 'pool')), 'no pool file');
  assert.ok(!existsSync(join(repo, 'dists')), 'no index');
  // The whole one publishes.
  await publishRepo({ repoDir: repo, suite: 's', debs: [good], key });
  assert.ok(existsSync(join(repo, 'pool/main/k/kiln-x/kiln-x_1_amd64.deb')));
});

test('publishRepo: a pool folder on another disk than the repository (a link to one) still gets its files, copied beside them', { skip: existsSync('/dev/shm') ? false : 'no /dev/shm here' }, async () => {
  await using dir = await tmpDir('kiln-repo-');
  const elsewhere = await mkdtemp('/dev/shm/kiln-pool-');
  try {
    const repo = join(dir.path, 'repo');
    await mkdir(join(repo, 'pool', 'main', 'k'), { recursive: true });
    await symlink(elsewhere, join(repo, 'pool', 'main', 'k', 'kiln-x'));
    const a = join(dir.path, 'a');
    await mkdir(a);
    await publishRepo({ repoDir: repo, suite: 's', debs: [await buildTestDeb(a, { package: 'kiln-x', version: '1', architecture: 'amd64' })], key });
    assert.deepEqual(await readdir(elsewhere), ['kiln-x_1_amd64.deb']);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('publishRepo: a refused first publish leaves the place as it found it: no new folder, no .kiln in a foreign repository', async () => {
  await using dir = await tmpDir('kiln-repo-');
  const { good, cut } = await goodAndTruncated(dir.path);
  // A new folder: not made.
  const fresh = join(dir.path, 'new-repo');
  await assert.rejects(publishRepo({ repoDir: fresh, suite: 's', debs: [cut], key }), (e: unknown) => e instanceof KilnError && e.code === 'deb-invalid');
  assert.ok(!existsSync(fresh), 'the new folder is not left behind');
  // Another tool's repository (a dists folder): refused, and no .kiln added to it.
  const foreign = join(dir.path, 'foreign');
  await mkdir(join(foreign, 'dists'), { recursive: true });
  await assert.rejects(publishRepo({ repoDir: foreign, suite: 's', debs: [good], key }), (e: unknown) => e instanceof KilnError && e.code === 'conflict');
  assert.deepEqual(await readdir(foreign), ['dists']);
});
