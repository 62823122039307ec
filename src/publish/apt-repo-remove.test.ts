// kiln repo list / remove on real .debs (dpkg-deb --build) in a temp repository, and a
// publish that changes nothing leaving the signed tree as it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { publishRepo } from './apt-repo.ts';
import { listRepo, matchesSpec, removeFromRepo } from './apt-repo-remove.ts';
import { buildTestDeb } from './apt-repo-test-debs.ts';
import { generateSigningKey } from './signing.ts';

const secret = await generateSigningKey({ name: 'kiln apt-repo remove test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });
/** Minutes after the key was made (a signature may not predate its key). */
const later = (minutes: number): Date => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);

test('matchesSpec: NAME, NAME=VERSION, NAME:ARCH, NAME:ARCH=VERSION', () => {
  const p = { package: 'libkiln1', version: '2', architecture: 'amd64' };
  const rows: [string, boolean][] = [
    ['libkiln1', true], ['libkiln1=2', true], ['libkiln1=3', false], ['libkiln1:amd64', true], ['libkiln1:arm64', false],
    ['libkiln1:amd64=2', true], ['libkiln', false], ['libkiln1-dev', false],
  ];
  for (const [spec, want] of rows) assert.equal(matchesSpec(spec, p), want, spec);
});

test('repo remove: the suite stops listing them, re-signed; pool files neither listed nor in the previous state go, shared ones stay; an unknown name changes nothing', async () => {
  await using dir = await tmpDir('kiln-aptrepo-rm-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const tool1 = await buildTestDeb(debs, { package: 'kiln-tool', version: '1.0-1', architecture: 'all' });
  const tool2 = await buildTestDeb(debs, { package: 'kiln-tool', version: '1.1-1', architecture: 'all' });
  const lib = await buildTestDeb(debs, { package: 'libkiln1', version: '2', architecture: 'amd64', source: 'libkiln' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [tool1, lib], key, architectures: ['amd64'] });
  await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [tool2], key });
  await publishRepo({ repoDir: repo, suite: 'trixie', debs: [lib], key });
  assert.deepEqual((await listRepo(repo, 'bookworm')).map((p) => `${p.component} ${p.package} ${p.version} ${p.architecture}`), ['main kiln-tool 1.1-1 all', 'main libkiln1 2 amd64']);
  assert.deepEqual(await listRepo(repo, 'sid'), [], 'a suite it does not have lists nothing');

  // An unknown name: refused, nothing changed.
  const before = await readlink(join(repo, 'dists'));
  await assert.rejects(removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['libkiln1', 'nosuch'], key }), (e: unknown) =>
    e instanceof KilnError && e.code === 'usage' && /lists no "nosuch": nothing was removed/.test(e.message) && /kiln-tool, libkiln1/.test(e.hint ?? ''));
  assert.equal(await readlink(join(repo, 'dists')), before);

  const when = later(5);
  const r = await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['libkiln1', 'kiln-tool=1.1-1'], key, now: when });
  assert.deepEqual(r.removed.map((p) => `${p.package} ${p.version}`), ['kiln-tool 1.1-1', 'libkiln1 2']);
  assert.equal(r.indexed, 0);
  assert.deepEqual(await listRepo(repo, 'bookworm'), []);
  // The Release is new, signed, and its hashes are those of the new (empty) indexes.
  const release = parseRelease(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), 'Release');
  assert.equal(release.date?.toISOString(), when.toISOString());
  for (const f of release.files.values()) assert.equal(sha256(await readFile(join(repo, 'dists/bookworm', f.path))), f.sha256, f.path);
  assert.ok(existsSync(join(repo, 'dists/bookworm/InRelease')));
  // kiln-tool 1.0-1 (replaced two changes ago) goes; 1.1-1, removed now, stays one
  // generation (the suite's previous state lists it: kiln repo rollback); libkiln1 stays for trixie.
  assert.deepEqual(r.poolDeleted, ['pool/main/k/kiln-tool/kiln-tool_1.0-1_all.deb']);
  assert.ok(existsSync(join(repo, 'pool/main/k/kiln-tool/kiln-tool_1.1-1_all.deb')));
  assert.ok(existsSync(join(repo, 'pool/main/libk/libkiln/libkiln1_2_amd64.deb')));
  assert.deepEqual((await listRepo(repo, 'trixie')).map((p) => p.package), ['libkiln1']);
  // The next change to the suite: 1.1-1 is two changes back now, and goes with its emptied folders.
  const next = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib], key, now: later(6) });
  assert.deepEqual(next.poolDeleted, ['pool/main/k/kiln-tool/kiln-tool_1.1-1_all.deb']);
  assert.ok(!existsSync(join(repo, 'pool/main/k')), 'emptied pool folders go too');
});

test('a publish that changes nothing keeps the live tree: not signed again, the same Date', async () => {
  await using dir = await tmpDir('kiln-aptrepo-same-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const lib = await buildTestDeb(debs, { package: 'libkiln1', version: '2', architecture: 'amd64', source: 'libkiln' });
  const first = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib], key, now: later(1) });
  const release = await readFile(join(repo, 'dists/bookworm/Release'), 'utf8');
  const again = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib], key, now: later(2) });
  assert.deepEqual(again.packages.map((p) => p.outcome), ['unchanged']);
  assert.equal(again.tree, first.tree);
  assert.equal(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), release);
  // Another Origin is a change: signed again.
  const relabelled = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib], key, origin: 'example', now: later(2) });
  assert.notEqual(relabelled.tree, first.tree);
  assert.match(await readFile(join(repo, 'dists/bookworm/Release'), 'utf8'), /^Origin: example$/m);
});

test('a new signing key signs again a publish that changes nothing; remove keeps the suite\'s Origin and Label; a linked pool is not swept', async () => {
  await using dir = await tmpDir('kiln-aptrepo-key-');
  const repo = join(dir.path, 'repo');
  const debs = join(dir.path, 'debs');
  await mkdir(debs);
  const lib = await buildTestDeb(debs, { package: 'libkiln1', version: '2', architecture: 'amd64', source: 'libkiln' });
  const tool = await buildTestDeb(debs, { package: 'kiln-tool', version: '1', architecture: 'all' });
  const first = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib, tool], key, origin: 'Acme', label: 'Acme builds', now: later(1) });
  const other = await openpgp.readPrivateKey({ armoredKey: (await generateSigningKey({ name: 'kiln new key' })).secretArmored });
  const again = await publishRepo({ repoDir: repo, suite: 'bookworm', debs: [lib], key: other, origin: 'Acme', label: 'Acme builds', now: later(2) });
  assert.notEqual(again.tree, first.tree, 'signed again with the new key');
  const { signedBy } = await import('./signing.ts');
  assert.ok(await signedBy(await readFile(join(repo, 'dists/bookworm/InRelease'), 'utf8'), other));
  // Another component, then a remove: each package stays listed once per index.
  const extra = await buildTestDeb(debs, { package: 'kiln-extra', version: '1', architecture: 'all' });
  await publishRepo({ repoDir: repo, suite: 'bookworm', component: 'contrib', debs: [extra], key: other, origin: 'Acme', label: 'Acme builds', now: later(3) });
  await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['libkiln1'], key: other, now: later(4) });
  for (const index of ['main/binary-amd64', 'main/binary-all', 'contrib/binary-amd64', 'contrib/binary-all']) {
    const names = (await readFile(join(repo, 'dists/bookworm', index, 'Packages'), 'utf8')).match(/^Package: .*$/gm) ?? [];
    assert.equal(new Set(names).size, names.length, `${index}: ${names.join(', ')}`);
  }
  await removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['kiln-tool'], key: other, now: later(5) });
  const release = await readFile(join(repo, 'dists/bookworm/Release'), 'utf8');
  assert.match(release, /^Origin: Acme$/m);
  assert.match(release, /^Label: Acme builds$/m);
  // A pool that is a link: the removal is done, nothing under the link's target is deleted.
  const { rename, symlink, writeFile } = await import('node:fs/promises');
  await rename(join(repo, 'pool'), join(dir.path, 'elsewhere'));
  await writeFile(join(dir.path, 'elsewhere', 'keep-me'), 'x');
  await symlink(join(dir.path, 'elsewhere'), join(repo, 'pool'));
  await assert.rejects(removeFromRepo({ repoDir: repo, suite: 'bookworm', specs: ['kiln-extra'], key: other, now: later(6) }), (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /not a directory kiln made/.test(e.message));
  assert.ok(existsSync(join(dir.path, 'elsewhere', 'keep-me')));
  assert.deepEqual(await listRepo(repo, 'bookworm'), [], 'the removal itself was done');
});
