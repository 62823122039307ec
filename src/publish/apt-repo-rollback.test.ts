// kiln repo rollback on real .debs (dpkg-deb --build) in a temp repository, signed for real
// (host gpgv when installed): undo and redo of one change, the one-generation pool rule,
// refusals that change nothing, and (when installed) apt-get reading the rolled-back repo.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { rollbackLines } from '../cli/repo.ts';
import { publishRepo } from './apt-repo.ts';
import { entryFromParagraph, type IndexEntry } from './apt-repo-index.ts';
import { listRepo, removeFromRepo } from './apt-repo-remove.ts';
import { rollbackChanges, rollbackRepo } from './apt-repo-rollback.ts';
import { buildTestDeb } from './apt-repo-test-debs.ts';
import { exportPublicKey, generateSigningKey } from './signing.ts';

const execFileP = promisify(execFile);
const secret = await generateSigningKey({ name: 'kiln apt-repo rollback test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });
/** Minutes after the key was made (a signature may not predate its key). */
const later = (minutes: number): Date => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);
const hasGpgv = existsSync('/usr/bin/gpgv');

const listing = async (repo: string, suite: string): Promise<string[]> => (await listRepo(repo, suite)).map((p) => `${p.package} ${p.version} ${p.architecture}`);
const releaseDateOf = async (repo: string, suite: string): Promise<Date | undefined> => parseRelease(await readFile(join(repo, 'dists', suite, 'Release'), 'utf8'), 'Release').date;

function entry(name: string, version: string, arch: string, sha = `${name}${version}`): IndexEntry {
  const filename = `pool/main/${name[0]}/${name}/${name}_${version}_${arch}.deb`;
  return entryFromParagraph([
    { name: 'Package', value: name }, { name: 'Version', value: version }, { name: 'Architecture', value: arch },
    { name: 'Filename', value: filename }, { name: 'SHA256', value: sha },
  ], 'test');
}

test('rollbackChanges: restored over another version or build, restored after a removal, removed when new (pure)', () => {
  const m = (...e: IndexEntry[]): Map<string, IndexEntry[]> => new Map([['main', e]]);
  const none = new Map<string, IndexEntry[]>();
  const rows: [string, Map<string, IndexEntry[]>, Map<string, IndexEntry[]>, string[]][] = [
    ['a newer version goes back', m(entry('hello', '2.10-4', 'amd64')), m(entry('hello', '2.10-3', 'amd64')), ['restored hello 2.10-3 amd64 (was 2.10-4) (s/main)']],
    ['a new package goes', m(entry('foo', '1.0', 'amd64'), entry('hello', '1', 'amd64')), m(entry('hello', '1', 'amd64')), ['removed foo 1.0 amd64 (s/main)']],
    ['a removed package comes back', m(), m(entry('bar', '3', 'all')), ['restored bar 3 all (s/main)']],
    ['another build of one version', m(entry('hello', '1', 'amd64', 'x')), m(entry('hello', '1', 'amd64', 'y')), ['restored hello 1 amd64 (was another build of 1) (s/main)']],
    ['nothing differs', m(entry('hello', '1', 'amd64')), m(entry('hello', '1', 'amd64')), []],
  ];
  for (const [what, now, back, want] of rows) {
    const changes = rollbackChanges({ entries: now, sources: none }, { entries: back, sources: none });
    assert.deepEqual(rollbackLines({ suite: 's', changes }), want, what);
  }
});

test('rollback: v2 back to v1 (new signed tree, newer Date, v1 from the pool), then again forward to v2', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));
  const v1 = await buildTestDeb(debs, { package: 'hello', version: '2.10-3', architecture: 'amd64' });
  const v2 = await buildTestDeb(debs, { package: 'hello', version: '2.10-4', architecture: 'amd64' });
  const foo = await buildTestDeb(debs, { package: 'foo', version: '1.0', architecture: 'amd64' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v1], key, origin: 'Acme', now: later(1) });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v2, foo], key, now: later(2) });
  assert.deepEqual(await listing(repo, 'bookworm'), ['foo 1.0 amd64', 'hello 2.10-4 amd64']);
  const v1File = join(repo, 'pool/main/h/hello/hello_2.10-3_amd64.deb');
  assert.ok(existsSync(v1File), 'the previous state\'s pool file is kept');
  const before = await releaseDateOf(repo, 'bookworm');

  const back = await rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(3) });
  assert.deepEqual(rollbackLines(back), ['removed foo 1.0 amd64 (bookworm/main)', 'restored hello 2.10-3 amd64 (was 2.10-4) (bookworm/main)']);
  assert.equal(back.indexed, 1);
  assert.equal(await readlink(join(repo, 'dists')), back.tree);
  assert.deepEqual(await listing(repo, 'bookworm'), ['hello 2.10-3 amd64']);
  assert.equal(sha256(await readFile(v1File)), sha256(await readFile(v1)));
  const release = parseRelease(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), 'Release');
  assert.ok(release.date!.getTime() > before!.getTime(), 'a newer Date: apt takes the tree as new');
  assert.match(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), /^Origin: Acme$/m);
  for (const f of release.files.values()) assert.equal(sha256(await readFile(join(repo, 'dists/bookworm', f.path))), f.sha256, f.path);
  if (hasGpgv) await execFileP('gpgv', ['--keyring', keyring, join(repo, 'dists/bookworm/InRelease')]);
  // v2's and foo's files stay: the state before the rollback is now the previous one.
  assert.ok(existsSync(join(repo, 'pool/main/h/hello/hello_2.10-4_amd64.deb')));
  assert.ok(existsSync(join(repo, 'pool/main/f/foo/foo_1.0_amd64.deb')));

  const forward = await rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(4) });
  assert.deepEqual(rollbackLines(forward), ['restored foo 1.0 amd64 (bookworm/main)', 'restored hello 2.10-4 amd64 (was 2.10-3) (bookworm/main)']);
  assert.deepEqual(await listing(repo, 'bookworm'), ['foo 1.0 amd64', 'hello 2.10-4 amd64']);
  if (hasGpgv) await execFileP('gpgv', ['--keyring', keyring, join(repo, 'dists/bookworm/InRelease')]);
});

test('rollback after a remove lists the removed package again; other suites are left as they are', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-rm-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const tool = await buildTestDeb(debs, { package: 'kiln-tool', version: '1', architecture: 'all' });
  const lib = await buildTestDeb(debs, { package: 'libkiln1', version: '2', architecture: 'amd64', source: 'libkiln' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [tool, lib], key, now: later(1) });
  await publishRepo({ repoDir: repo, suite: 'trixie', debs: [lib], key, now: later(2) });
  const rm1 = await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['kiln-tool'], key, now: later(3) });
  assert.deepEqual(rm1.poolDeleted, [], 'the removed package\'s file is kept: the previous state lists it');
  const r = await rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(4) });
  assert.deepEqual(rollbackLines(r), ['restored kiln-tool 1 all (bookworm/main)']);
  assert.deepEqual(await listing(repo, 'bookworm'), ['kiln-tool 1 all', 'libkiln1 2 amd64']);
  assert.deepEqual(await listing(repo, 'trixie'), ['libkiln1 2 amd64']);
});

test('rollback refuses, changing nothing: no previous state (first publish, no repository), a missing pool file', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-no-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  await assert.rejects(rollbackRepo({ repoDir: repo, suite: 'bookworm', key }), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /no apt repository/.test(e.message));
  assert.ok(!existsSync(repo), 'no repository made');
  const v1 = await buildTestDeb(debs, { package: 'hello', version: '1', architecture: 'amd64' });
  const v2 = await buildTestDeb(debs, { package: 'hello', version: '2', architecture: 'amd64' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v1], key, now: later(1) });
  const tree = await readlink(join(repo, 'dists'));
  await assert.rejects(rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(2) }), (e: unknown) =>
    e instanceof KilnError && e.code === 'usage' && /cannot roll back suite bookworm .*no previous state/.test(e.message) && /nothing was changed/.test(e.hint ?? ''));
  assert.equal(await readlink(join(repo, 'dists')), tree);

  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v2], key, now: later(3) });
  const tree2 = await readlink(join(repo, 'dists'));
  // v1's file deleted by hand (or by an older kiln): refused, naming it.
  await rm(join(repo, 'pool/main/h/hello/hello_1_amd64.deb'));
  await assert.rejects(rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(4) }), (e: unknown) =>
    e instanceof KilnError && e.code === 'usage' && /missing .*pool\/main\/h\/hello\/hello_1_amd64\.deb/.test(e.message));
  assert.equal(await readlink(join(repo, 'dists')), tree2);
  assert.deepEqual(await listing(repo, 'bookworm'), ['hello 2 amd64']);
  // Another suite that was never changed twice has no previous state either.
  await assert.rejects(rollbackRepo({ repoDir: repo, suite: 'trixie', key }), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /no suite trixie/.test(e.message));
});

test('pool files: one generation kept (after v1, v2, v3: v1 gone, v2 kept); a same-version rebuild\'s old bytes come back on rollback', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-pool-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const file = (v: string): string => join(repo, `pool/main/h/hello/hello_${v}_amd64.deb`);
  for (const [i, v] of ['1', '2', '3'].entries()) {
    const deb = await buildTestDeb(debs, { package: 'hello', version: v, architecture: 'amd64' });
    const r = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [deb], key, now: later(i + 1) });
    if (v === '3') assert.deepEqual(r.poolDeleted, ['pool/main/h/hello/hello_1_amd64.deb']);
  }
  assert.ok(!existsSync(file('1')), 'two changes back: gone');
  assert.ok(existsSync(file('2')), 'the previous state lists it: kept');
  assert.ok(existsSync(file('3')));

  // A rebuild of 3 with other bytes (a build's publish: replaceSameVersion) goes to a path
  // of its own; the first build's file keeps its bytes (the previous state lists it), and a
  // rollback lists it again, at its own path.
  const first = sha256(await readFile(file('3')));
  const rebuild = join(dir.path, 'rebuild');
  await mkdir(rebuild);
  const deb3b = await buildTestDeb(rebuild, { package: 'hello', version: '3', architecture: 'amd64', salt: 'rebuilt' });
  const rebuilt = sha256(await readFile(deb3b));
  const unique = `pool/main/h/hello/+${rebuilt.slice(0, 16)}/hello_3_amd64.deb`;
  const p = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [deb3b], key, replaceSameVersion: true, now: later(5) });
  assert.deepEqual(p.packages.map((x) => [x.filename, x.outcome, x.previous]), [[unique, 'replaced', '3']]);
  assert.equal(sha256(await readFile(file('3'))), first, 'the listed file was not written over');
  assert.equal(sha256(await readFile(join(repo, unique))), rebuilt);
  const listedNow = async (): Promise<[string | undefined, string | undefined]> => {
    const text = await readFile(join(repo, 'dists/bookworm/main/binary-amd64/Packages'), 'utf8');
    return [text.match(/^Filename: (.*)$/m)?.[1], text.match(/^SHA256: (.*)$/m)?.[1]];
  };
  assert.deepEqual(await listedNow(), [unique, rebuilt]);
  const r = await rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(6) });
  assert.deepEqual(rollbackLines(r), ['restored hello 3 amd64 (was another build of 3) (bookworm/main)']);
  assert.deepEqual(await listedNow(), ['pool/main/h/hello/hello_3_amd64.deb', first]);
  assert.equal(sha256(await readFile(file('3'))), first);
  assert.equal(sha256(await readFile(join(repo, unique))), rebuilt, 'the rebuild stays: the previous state lists it');
  // And forward again: the rebuild, at its path; the same rebuild published again reuses it.
  await rollbackRepo({ repoDir: repo, suite: 'bookworm', key, now: later(7) });
  assert.deepEqual(await listedNow(), [unique, rebuilt]);
  const again = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [deb3b], key, replaceSameVersion: true, now: later(8) });
  assert.deepEqual(again.packages.map((x) => [x.filename, x.outcome]), [[unique, 'unchanged']]);
  assert.equal(again.unchanged, true);
  // A repository an earlier kiln left a .kiln/displaced store in: the next change's sweep removes it.
  await mkdir(join(repo, '.kiln/displaced'), { recursive: true });
  await writeFile(join(repo, '.kiln/displaced', first), 'old bytes');
  await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['hello'], key, now: later(9) });
  assert.ok(!existsSync(join(repo, '.kiln/displaced')));
});

test('a damaged previous-state record: a publish still goes live, deletes no pool file and says why; rollback names the record', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-damaged-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  let at = 0;
  for (const [suite, name, v] of [['bookworm', 'hello', '1'], ['bookworm', 'hello', '2'], ['trixie', 'other', '1'], ['trixie', 'other', '2']] as const) {
    const deb = await buildTestDeb(debs, { package: name, version: v, architecture: 'amd64' });
    await publishRepo({ repoDir: repo, suite, debs: [deb], key, now: later(++at) });
  }
  await writeFile(join(repo, '.kiln/previous/trixie.json'), '{ not json');
  // bookworm's v3: with trixie's record readable, hello 1 (two changes back) would go.
  const deb = await buildTestDeb(debs, { package: 'hello', version: '3', architecture: 'amd64' });
  const r = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [deb], key, now: later(++at) });
  assert.deepEqual(await listing(repo, 'bookworm'), ['hello 3 amd64'], 'the publish went live');
  assert.deepEqual(r.poolDeleted, []);
  assert.match(r.poolNotSwept?.why ?? '', /previous state could not be read .*trixie\.json: not JSON/);
  assert.ok(existsSync(join(repo, 'pool/main/h/hello/hello_1_amd64.deb')), 'nothing deleted while a record cannot be read');
  await assert.rejects(rollbackRepo({ repoDir: repo, suite: 'trixie', key, now: later(++at) }), (e: unknown) => e instanceof KilnError && /trixie\.json: not JSON/.test(e.message));
  // Once the record is gone, the next change sweeps.
  await rm(join(repo, '.kiln/previous/trixie.json'));
  const again = await removeFromRepo({ repoDir: repo, suite: 'trixie', specs: ['other'], key, now: later(++at) });
  assert.ok(again.poolDeleted.includes('pool/main/h/hello/hello_1_amd64.deb'), again.poolDeleted.join(' '));
});

test('a sweep that fails after the swap (a pool file kiln may not delete) leaves the publish done, and says why', async (t) => {
  await using dir = await tmpDir('kiln-aptrepo-sweepfail-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  for (const [i, v] of ['1', '2'].entries()) {
    await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [await buildTestDeb(debs, { package: 'hello', version: v, architecture: 'amd64' })], key, now: later(i + 1) });
  }
  const old = join(repo, 'pool/main/h/hello/hello_1_amd64.deb');
  // Immutable (root, on a file system with the attribute): not even root deletes it.
  try {
    await execFileP('chattr', ['+i', old]);
  } catch {
    return t.skip('chattr +i is not available here');
  }
  try {
    const r = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [await buildTestDeb(debs, { package: 'hello', version: '3', architecture: 'amd64' })], key, now: later(3) });
    assert.deepEqual(await listing(repo, 'bookworm'), ['hello 3 amd64'], 'the publish went live');
    assert.match(r.poolNotSwept?.why ?? '', /^the pool could not be swept \(.*hello_1_amd64\.deb/);
    assert.ok(existsSync(old));
  } finally {
    // Before the folder is removed (tmpDir's disposal).
    await execFileP('chattr', ['-i', old]).catch(() => undefined);
  }
});

test('an unchanged package puts nothing in the pool: a build listed under its +SHA folder, published again after its canonical path was swept, leaves that path free for another suite', async () => {
  await using dir = await tmpDir('kiln-aptrepo-unchanged-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  const other = join(dir.path, 'other');
  await mkdir(debs);
  await mkdir(other);
  const a = await buildTestDeb(debs, { package: 'alpha', version: '1.0', architecture: 'amd64' });
  const b = await buildTestDeb(other, { package: 'alpha', version: '1.0', architecture: 'amd64', salt: 'b' });
  let at = 0;
  await publishRepo({ repoDir: repo, suite: 's1', debs: [a], key, now: later(++at) });
  await publishRepo({ repoDir: repo, suite: 's1', debs: [b], key, replaceSameVersion: true, now: later(++at) });
  for (const v of ['1.0', '1.1']) await publishRepo({ repoDir: repo, suite: 's1', debs: [await buildTestDeb(debs, { package: 'gamma', version: v, architecture: 'all' })], key, now: later(++at) });
  const canonical = join(repo, 'pool/main/a/alpha/alpha_1.0_amd64.deb');
  assert.ok(!existsSync(canonical), 'A swept: two changes back');
  const again = await publishRepo({ repoDir: repo, suite: 's1', debs: [b], key, now: later(++at) });
  assert.equal(again.unchanged, true);
  assert.match(again.packages[0]!.filename, /\/\+[0-9a-f]{16}\/alpha_1\.0_amd64\.deb$/, 'the path the index lists');
  assert.ok(!existsSync(canonical), 'nothing copied to a path no index lists');
  await publishRepo({ repoDir: repo, suite: 's2', debs: [a], key, now: later(++at) });
  assert.deepEqual(await listing(repo, 's2'), ['alpha 1.0 amd64']);
});

const noApt = ['/usr/bin/apt-get', '/usr/bin/gpgv'].filter((p) => !existsSync(p));
test('apt-get takes a rolled-back repository (newer signed Release) and downloads the old version', { skip: noApt.length > 0 ? `not installed: ${noApt.join(', ')}` : false }, async () => {
  await using dir = await tmpDir('kiln-aptrepo-rollback-apt-');
  const repo = join(dir.path, 'repo');
  const { stdout: hostArch } = await execFileP('dpkg', ['--print-architecture']);
  const arch = hostArch.trim();
  const v1 = await buildTestDeb(dir.path, { package: 'kz-hello', version: '1.0-1', architecture: arch });
  const v2 = await buildTestDeb(dir.path, { package: 'kz-hello', version: '1.0-2', architecture: arch });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v1], key, now: new Date() });
  const keyring = join(dir.path, 'kiln.gpg');
  await writeFile(keyring, exportPublicKey(key, { armor: false }));
  // An apt configuration that reads and writes nothing of the host's.
  const root = join(dir.path, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/empty', 'get']) await mkdir(join(root, d), { recursive: true });
  const none = join(root, 'etc/empty');
  await writeFile(join(root, 'etc/sources.list'), `deb [signed-by=${keyring}] file:${repo} bookworm main\n`);
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
  const policy = async (): Promise<string> => (await execFileP('apt-cache', ['policy', 'kz-hello'], { env: { ...process.env, APT_CONFIG: file, LC_ALL: 'C' } })).stdout;
  assert.doesNotMatch(await apt(['update']), /^(W|E): /m);
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v2], key });
  assert.doesNotMatch(await apt(['update']), /^(W|E): /m);
  assert.match(await policy(), /Candidate: 1\.0-2/);
  await rollbackRepo({ repoDir: repo, suite: 'bookworm', key });
  const update = await apt(['update']);
  assert.doesNotMatch(update, /^(W|E): /m, update);
  assert.match(await policy(), /Candidate: 1\.0-1/);
  assert.doesNotMatch(await policy(), /1\.0-2/);
  const got = join(root, 'get', `kz-hello_1.0-1_${arch}.deb`);
  await apt(['download', 'kz-hello']);
  assert.equal(sha256(await readFile(got)), sha256(await readFile(v1)));

  // A rebuild of 1.0-1 with other bytes (a build's publish) goes to a path of its own: apt
  // downloads the rebuild's bytes, with the index's hash, under the package's own name;
  // rolled back, the first build's again (its file was never written over).
  const rebuilt = join(dir.path, 'rebuilt');
  await mkdir(rebuilt);
  const v1b = await buildTestDeb(rebuilt, { package: 'kz-hello', version: '1.0-1', architecture: arch, salt: 'rebuilt' });
  const states: [string, () => Promise<unknown>][] = [
    [v1b, () => publishRepo({ repoDir: repo, suite: 'bookworm', debs: [v1b], key, replaceSameVersion: true })],
    [v1, () => rollbackRepo({ repoDir: repo, suite: 'bookworm', key })],
    [v1b, () => rollbackRepo({ repoDir: repo, suite: 'bookworm', key })],
  ];
  for (const [want, change] of states) {
    await change();
    const up = await apt(['update']);
    assert.doesNotMatch(up, /^(W|E): /m, up);
    await rm(got, { force: true });
    const out = await apt(['download', 'kz-hello']);
    assert.equal(sha256(await readFile(got)), sha256(await readFile(want)), out);
  }
});
