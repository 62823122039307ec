// Source packages in kiln's apt repository: the Sources paragraph of a .dsc (field order,
// Source renamed Package, the .dsc's own checksum lines, a signed .dsc's armour dropped),
// compared with dpkg-scansources on a real dpkg-source -b package; the files checked
// beside the .dsc; and publishRepo / removeFromRepo with sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, readlink, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { parseControlParagraphs, renderFields, type ControlField } from '../debian/deb-file.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { publishRepo } from './apt-repo.ts';
import { listRepo, removeFromRepo } from './apt-repo-remove.ts';
import { entryForDsc, parseDsc, readDscForRepo, sourceEntryFromParagraph, sourcePoolFiles } from './apt-repo-sources.ts';
import { buildTestDeb, buildTestSource } from './apt-repo-test-debs.ts';
import { generateSigningKey } from './signing.ts';

const execFileP = promisify(execFile);
const secret = await generateSigningKey({ name: 'kiln apt-repo sources test' });
const key = await openpgp.readPrivateKey({ armoredKey: secret.secretArmored });
const later = (minutes: number): Date => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);

const h = (c: string, n: number): string => c.repeat(n);
const DSC = [
  'Format: 3.0 (quilt)',
  'Source: hello',
  'Binary: hello',
  'Architecture: any',
  'Version: 1:2.10-3',
  'Maintainer: Kiln Tests <kiln@example.org>',
  'Build-Depends: debhelper-compat (= 13),',
  ' gettext',
  'Package-List:',
  ' hello deb devel optional arch=any',
  'Checksums-Sha1:',
  ` ${h('a', 40)} 100 hello_2.10.orig.tar.gz`,
  ` ${h('b', 40)} 20 hello_2.10-3.debian.tar.xz`,
  'Checksums-Sha256:',
  ` ${h('c', 64)} 100 hello_2.10.orig.tar.gz`,
  ` ${h('d', 64)} 20 hello_2.10-3.debian.tar.xz`,
  'Files:',
  ` ${h('e', 32)} 100 hello_2.10.orig.tar.gz`,
  ` ${h('f', 32)} 20 hello_2.10-3.debian.tar.xz`,
  '',
].join('\n');
const FACTS = { size: 900, sha256: h('1', 64), sha1: h('2', 40), md5: h('3', 32) };

test('Sources paragraph: Package first (Source renamed), the .dsc fields in order, its own checksum lines first, Directory last', () => {
  const e = entryForDsc(parseDsc(DSC, 'hello.dsc'), FACTS, new Map(), 'main');
  assert.equal(renderFields(e.fields), [
    'Package: hello',
    'Format: 3.0 (quilt)',
    'Binary: hello',
    'Architecture: any',
    'Version: 1:2.10-3',
    'Maintainer: Kiln Tests <kiln@example.org>',
    'Build-Depends: debhelper-compat (= 13),',
    ' gettext',
    'Package-List:',
    ' hello deb devel optional arch=any',
    'Checksums-Sha1:',
    ` ${h('2', 40)} 900 hello_2.10-3.dsc`,
    ` ${h('a', 40)} 100 hello_2.10.orig.tar.gz`,
    ` ${h('b', 40)} 20 hello_2.10-3.debian.tar.xz`,
    'Checksums-Sha256:',
    ` ${h('1', 64)} 900 hello_2.10-3.dsc`,
    ` ${h('c', 64)} 100 hello_2.10.orig.tar.gz`,
    ` ${h('d', 64)} 20 hello_2.10-3.debian.tar.xz`,
    'Files:',
    ` ${h('3', 32)} 900 hello_2.10-3.dsc`,
    ` ${h('e', 32)} 100 hello_2.10.orig.tar.gz`,
    ` ${h('f', 32)} 20 hello_2.10-3.debian.tar.xz`,
    'Directory: pool/main/h/hello',
    '',
  ].join('\n'));
  assert.deepEqual([e.package, e.version, e.architecture, e.filename, e.sha256], ['hello', '1:2.10-3', 'source', 'pool/main/h/hello/hello_2.10-3.dsc', FACTS.sha256]);
  // Read back from the index as written: the same entry, and every pool file it lists.
  const back = sourceEntryFromParagraph(parseControlParagraphs(renderFields(e.fields), 'Sources')[0]!, 'Sources');
  assert.deepEqual([back.package, back.version, back.filename, back.sha256], [e.package, e.version, e.filename, e.sha256]);
  assert.deepEqual(sourcePoolFiles(back.fields, 'Sources').map((f) => f.filename.split('/').pop()), ['hello_2.10-3.dsc', 'hello_2.10.orig.tar.gz', 'hello_2.10-3.debian.tar.xz']);
});

test('Sources paragraph: a signed .dsc gives the same paragraph, without its armour', () => {
  const signed = [
    '-----BEGIN PGP SIGNED MESSAGE-----',
    'Hash: SHA512',
    '',
    DSC.trimEnd(),
    '-----BEGIN PGP SIGNATURE-----',
    '',
    'iQIzBAEBCgAdFiEEexampleexampleexampleexampleAAAAAAAA=',
    '=abcd',
    '-----END PGP SIGNATURE-----',
    '',
  ].join('\n');
  const plain = renderFields(entryForDsc(parseDsc(DSC, 'a.dsc'), FACTS, new Map(), 'main').fields);
  const fromSigned = renderFields(entryForDsc(parseDsc(signed, 'b.dsc'), FACTS, new Map(), 'main').fields);
  assert.equal(fromSigned, plain);
  assert.doesNotMatch(fromSigned, /PGP|Hash:/);
});

test('Sources paragraph: a .dsc with md5 sums only gets Checksums-Sha256 of every file (no Checksums-Sha1)', () => {
  const old = DSC.split('\n').filter((l, i, all) => {
    const field = all.slice(0, i + 1).reverse().find((x) => !x.startsWith(' ')) ?? '';
    return !field.startsWith('Checksums-');
  }).join('\n');
  const dsc = parseDsc(old, 'old.dsc');
  assert.deepEqual(dsc.files.map((f) => [f.name, f.md5, f.sha256]), [['hello_2.10.orig.tar.gz', h('e', 32), undefined], ['hello_2.10-3.debian.tar.xz', h('f', 32), undefined]]);
  const e = entryForDsc(dsc, FACTS, new Map([['hello_2.10.orig.tar.gz', h('7', 64)], ['hello_2.10-3.debian.tar.xz', h('8', 64)]]), 'main');
  const text = renderFields(e.fields);
  assert.doesNotMatch(text, /Checksums-Sha1/);
  assert.match(text, new RegExp(`\nChecksums-Sha256:\n ${h('1', 64)} 900 hello_2.10-3.dsc\n ${h('7', 64)} 100 hello_2.10.orig.tar.gz\n ${h('8', 64)} 20 hello_2.10-3.debian.tar.xz\nDirectory: `));
});

test('parseDsc: refuses a .dsc without Source, with a bad version or a bad checksum line, naming it', () => {
  const rows: [string, RegExp][] = [
    [DSC.replace('Source: hello\n', ''), /bad\.dsc: no Source field/],
    [DSC.replace('Version: 1:2.10-3', 'Version: 2.10 3'), /bad\.dsc: Version "2\.10 3"/],
    [DSC.replace(` ${h('d', 64)} 20`, ` ${h('d', 63)} 20`), /bad\.dsc: bad Checksums-Sha256 line/],
    [DSC.replace('hello_2.10-3.debian.tar.xz\nFiles', '../etc/passwd\nFiles'), /bad\.dsc: bad Checksums-Sha256 line/],
    // Another .dsc among its files would make the index list two for one source (and unreadable after).
    [DSC.replace(` ${h('d', 64)} 20 hello_2.10-3.debian.tar.xz`, ` ${h('d', 64)} 20 other_1.dsc`), /bad\.dsc: it lists other_1\.dsc, another \.dsc, among its files/],
    [DSC.replace(` ${h('d', 64)} 20 hello_2.10-3.debian.tar.xz`, ` ${h('d', 64)} 20 hello_2.10.orig.tar.gz`), /bad\.dsc: it lists hello_2\.10\.orig\.tar\.gz twice/],
  ];
  for (const [text, want] of rows) {
    assert.throws(() => parseDsc(text, 'bad.dsc'), (e: unknown) => e instanceof KilnError && e.code === 'index-invalid' && want.test(e.message), String(want));
  }
});

test('a real dpkg-source -b package: the Sources entry has dpkg-scansources\' fields and values (its Directory apart)', async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-');
  const dscPath = await buildTestSource(dir.path, { source: 'kiln-src', upstream: '1.0' });
  const read = await readDscForRepo(dscPath, 'main');
  const ours = read.entry.fields;
  const { stdout } = await execFileP('dpkg-scansources', ['.'], { cwd: dir.path });
  const theirs = parseControlParagraphs(stdout, 'dpkg-scansources')[0]!;
  const byName = (fs: readonly ControlField[]): Map<string, string> => new Map(fs.map((f) => [f.name.toLowerCase(), f.name.toLowerCase() === 'directory' ? '' : f.value]));
  assert.deepEqual(byName(ours), byName(theirs));
  assert.deepEqual(read.files.map((f) => f.filename), ['kiln-src_1.0-1.dsc', 'kiln-src_1.0.orig.tar.gz', 'kiln-src_1.0-1.debian.tar.xz'].map((n) => `pool/main/k/kiln-src/${n}`));
  assert.equal(read.files[0]!.sha256, sha256(await readFile(dscPath)));
});

test('readDscForRepo: a listed file missing or changed is an error naming the .dsc and the file', async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-');
  const dscPath = await buildTestSource(dir.path, { source: 'kiln-src', upstream: '1.0' });
  await appendFile(join(dir.path, 'kiln-src_1.0-1.debian.tar.xz'), 'x');
  await assert.rejects(readDscForRepo(dscPath, 'main'), (e: unknown) => e instanceof KilnError && e.code === 'checksum-mismatch'
    && e.message.includes(join(dir.path, 'kiln-src_1.0-1.debian.tar.xz')) && e.message.includes(dscPath));
  await rm(join(dir.path, 'kiln-src_1.0.orig.tar.gz'));
  await assert.rejects(readDscForRepo(dscPath, 'main'), (e: unknown) => e instanceof KilnError && e.code === 'source-not-found'
    && e.message.startsWith(`${dscPath} lists kiln-src_1.0.orig.tar.gz`));
});

test('publishRepo with sources: pool, source/Sources in Release (not an architecture), version rules, nothing published on an error; remove NAME:source', async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-');
  const repo = join(dir.path, 'repo');
  const [v1, v2, v1b, broken, debs] = ['v1', 'v2', 'v1b', 'broken', 'debs'].map((d) => join(dir.path, d)) as [string, string, string, string, string];
  for (const d of [v1, v2, v1b, broken, debs]) await mkdir(d);
  const dsc1 = await buildTestSource(v1, { source: 'kiln-src', upstream: '1.0' });
  const dsc2 = await buildTestSource(v2, { source: 'kiln-src', upstream: '1.0', revision: '2' });
  const dsc1b = await buildTestSource(v1b, { source: 'kiln-src', upstream: '1.0', salt: 'other' });
  const dscBroken = await buildTestSource(broken, { source: 'kiln-other', upstream: '3' });
  await rm(join(broken, 'kiln-other_3-1.debian.tar.xz'));
  const deb = await buildTestDeb(debs, { package: 'kiln-src', version: '1.0-1', architecture: 'all' });
  const base = { repoDir: repo, suite: 'bookworm', key };

  const r1 = await publishRepo({ ...base, debs: [deb], dscs: [dsc1], now: later(1) });
  assert.deepEqual(r1.packages.map((p) => [p.package, p.architecture, p.outcome]), [['kiln-src', 'all', 'added'], ['kiln-src', 'source', 'added']]);
  assert.equal(r1.indexed, 2);
  const suiteDir = join(repo, 'dists', 'bookworm');
  const release = parseRelease(await readFile(join(suiteDir, 'Release'), 'utf8'), 'Release');
  assert.ok(!release.architectures.includes('source'), release.architectures.join(' '));
  assert.deepEqual(release.components, ['main']);
  for (const name of ['main/source/Sources', 'main/source/Sources.xz']) {
    const f = release.files.get(name);
    assert.ok(f !== undefined, `Release lists ${name}`);
    const data = await readFile(join(suiteDir, name));
    assert.deepEqual([f.size, f.sha256], [data.length, sha256(data)]);
    assert.equal(sha256(await readFile(join(suiteDir, 'main/source/by-hash/SHA256', f.sha256))), f.sha256);
  }
  const sources = parseControlParagraphs(await readFile(join(suiteDir, 'main/source/Sources'), 'utf8'), 'Sources');
  assert.equal(sources.length, 1);
  for (const f of sourcePoolFiles(sources[0]!, 'Sources')) assert.equal(sha256(await readFile(join(repo, f.filename))), f.sha256, f.filename);
  assert.deepEqual((await listRepo(repo, 'bookworm')).map((p) => `${p.package} ${p.version} ${p.architecture}`), ['kiln-src 1.0-1 all', 'kiln-src 1.0-1 source']);

  // The same .dsc again: unchanged, the tree not even signed again.
  const tree1 = await readlink(join(repo, 'dists'));
  const again = await publishRepo({ ...base, debs: [], dscs: [dsc1], now: later(2) });
  assert.deepEqual(again.packages.map((p) => p.outcome), ['unchanged']);
  assert.equal(await readlink(join(repo, 'dists')), tree1);
  // Another .dsc of the same version: conflict; a .dsc missing a file: an error naming it. Nothing changes.
  const poolBefore = await readdir(join(repo, 'pool/main/k/kiln-src'));
  await assert.rejects(publishRepo({ ...base, debs: [], dscs: [dsc1b], now: later(3) }), (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /kiln-src 1\.0-1 \(source\)/.test(e.message));
  await assert.rejects(publishRepo({ ...base, debs: [deb], dscs: [dsc2, dscBroken], now: later(3) }), (e: unknown) => e instanceof KilnError && e.code === 'source-not-found' && e.message.includes('kiln-other_3-1.debian.tar.xz') && e.message.includes(dscBroken));
  assert.equal(await readlink(join(repo, 'dists')), tree1);
  assert.deepEqual(await readdir(join(repo, 'pool/main/k/kiln-src')), poolBefore);
  assert.equal(existsSync(join(repo, 'pool/main/k/kiln-other')), false);

  // Newer replaces, older is skipped; a publish of binaries alone keeps the sources.
  const r2 = await publishRepo({ ...base, debs: [], dscs: [dsc2], now: later(4) });
  assert.deepEqual(r2.packages.map((p) => [p.outcome, p.previous]), [['replaced', '1.0-1']]);
  const r3 = await publishRepo({ ...base, debs: [], dscs: [dsc1], now: later(5) });
  assert.deepEqual(r3.packages.map((p) => [p.outcome, p.previous]), [['older', '1.0-2']]);
  const deb2 = await buildTestDeb(debs, { package: 'kiln-bin', version: '1', architecture: 'amd64' });
  // The replaced 1.0-1 source's files go one change later (the previous state listed them
  // until now); the listed 1.0-2 one's stay.
  const r4 = await publishRepo({ ...base, debs: [deb2], now: later(6) });
  assert.deepEqual((r4.poolDeleted ?? []).map((f) => f.split('/').pop()).sort(), ['kiln-src_1.0-1.debian.tar.xz', 'kiln-src_1.0-1.dsc']);
  assert.deepEqual((await listRepo(repo, 'bookworm')).map((p) => `${p.package} ${p.version} ${p.architecture}`), ['kiln-bin 1 amd64', 'kiln-src 1.0-1 all', 'kiln-src 1.0-2 source']);

  // Removing a binary keeps its pool file one generation (the previous state lists it).
  const rm0 = await removeFromRepo({ ...base, specs: ['kiln-bin'], now: later(7) });
  assert.deepEqual(rm0.poolDeleted, []);
  // NAME:source takes the source alone; its pool files stay a generation too, the .deb
  // stays listed; kiln-bin's file, two changes back now, goes.
  const rm1 = await removeFromRepo({ ...base, specs: ['kiln-src:source'], now: later(8) });
  assert.deepEqual(rm1.removed.map((p) => `${p.package} ${p.architecture}`), ['kiln-src source']);
  assert.deepEqual(rm1.poolDeleted.map((f) => f.split('/').pop()).sort(), ['kiln-bin_1_amd64.deb']);
  assert.deepEqual((await readdir(join(repo, 'pool/main/k/kiln-src'))).sort(), ['kiln-src_1.0-1_all.deb', 'kiln-src_1.0-2.debian.tar.xz', 'kiln-src_1.0-2.dsc', 'kiln-src_1.0.orig.tar.gz']);
  // The suite keeps an (empty) Sources, listed in Release, for the deb-src lines pointing at it.
  assert.equal(await readFile(join(suiteDir, 'main/source/Sources'), 'utf8'), '');
  assert.ok(parseRelease(await readFile(join(suiteDir, 'Release'), 'utf8'), 'Release').files.has('main/source/Sources'));
  // A bare NAME takes every architecture of it and its source.
  await publishRepo({ ...base, debs: [deb2], dscs: [dsc2], now: later(9) });
  const rm2 = await removeFromRepo({ ...base, specs: ['kiln-src'], now: later(10) });
  assert.deepEqual(rm2.removed.map((p) => `${p.package} ${p.architecture}`), ['kiln-src all', 'kiln-src source']);
  assert.deepEqual((await listRepo(repo, 'bookworm')).map((p) => p.package), ['kiln-bin']);
});

test('publishRepo: a source whose binaries are left out (older than a binNMU listed) is left out too: it would replace the source the listed binaries come from', async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-');
  const repo = join(dir.path, 'repo');
  const [src1, srcLocal, debs] = ['src1', 'srclocal', 'debs'].map((d) => join(dir.path, d)) as [string, string, string];
  for (const d of [src1, srcLocal, debs]) await mkdir(d);
  const base = { repoDir: repo, suite: 'bookworm', key };
  // A binNMU of 1.0-1: binary 1.0-1+b1, whose source is 1.0-1.
  const dsc1 = await buildTestSource(src1, { source: 'kiln-nmu', upstream: '1.0' });
  const nmu = await buildTestDeb(debs, { package: 'kiln-nmu', version: '1.0-1+b1', architecture: 'amd64', source: 'kiln-nmu (1.0-1)' });
  await publishRepo({ ...base, debs: [nmu], dscs: [dsc1], now: later(1) });
  // A local 1.0-1local1: its source is newer than 1.0-1, its binary older than 1.0-1+b1.
  const dscLocal = await buildTestSource(srcLocal, { source: 'kiln-nmu', upstream: '1.0', revision: '1local1' });
  const local = await buildTestDeb(debs, { package: 'kiln-nmu', version: '1.0-1local1', architecture: 'amd64' });
  const r = await publishRepo({ ...base, debs: [local], dscs: [dscLocal], now: later(2) });
  assert.deepEqual(r.packages.map((p) => [p.architecture, p.outcome, p.previous]), [['amd64', 'older', '1.0-1+b1'], ['source', 'older', '1.0-1+b1']]);
  assert.deepEqual((await listRepo(repo, 'bookworm')).map((p) => `${p.package} ${p.version} ${p.architecture}`), ['kiln-nmu 1.0-1+b1 amd64', 'kiln-nmu 1.0-1 source']);
});

test('publishRepo with replaceSameVersion: a source rebuilt with other bytes goes to a Directory of its own, every file in it; the first build\'s files untouched', async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-rsv-');
  const repo = join(dir.path, 'repo');
  const [v1, v1b] = ['v1', 'v1b'].map((d) => join(dir.path, d)) as [string, string];
  for (const d of [v1, v1b]) await mkdir(d);
  const dsc1 = await buildTestSource(v1, { source: 'kiln-src', upstream: '1.0' });
  const dsc1b = await buildTestSource(v1b, { source: 'kiln-src', upstream: '1.0', salt: 'other' });
  const base = { repoDir: repo, suite: 'bookworm', key, debs: [], replaceSameVersion: true };
  const sourcesOf = async (): Promise<ControlField[][]> => parseControlParagraphs(await readFile(join(repo, 'dists/bookworm/main/source/Sources'), 'utf8'), 'Sources');
  await publishRepo({ ...base, dscs: [dsc1], now: later(1) });
  const first = sourcePoolFiles((await sourcesOf())[0]!, 'Sources');
  assert.ok(first.every((f) => f.filename.startsWith('pool/main/k/kiln-src/kiln-src_')), first.map((f) => f.filename).join(' '));

  const r = await publishRepo({ ...base, dscs: [dsc1b], now: later(2) });
  const unique = `pool/main/k/kiln-src/+${sha256(await readFile(dsc1b)).slice(0, 16)}`;
  assert.deepEqual(r.packages.map((p) => [p.filename, p.outcome]), [[`${unique}/kiln-src_1.0-1.dsc`, 'replaced']]);
  const [entry] = await sourcesOf();
  assert.equal(entry!.find((f) => f.name === 'Directory')?.value, unique);
  const rebuilt = sourcePoolFiles(entry!, 'Sources');
  assert.deepEqual(rebuilt.map((f) => f.filename.split('/').pop()).sort(), first.map((f) => f.filename.split('/').pop()).sort());
  for (const f of [...first, ...rebuilt]) assert.equal(sha256(await readFile(join(repo, f.filename))), f.sha256, f.filename);
  // The same rebuild again: its Directory reused, nothing new.
  const again = await publishRepo({ ...base, dscs: [dsc1b], now: later(3) });
  assert.deepEqual(again.packages.map((p) => [p.filename, p.outcome]), [[`${unique}/kiln-src_1.0-1.dsc`, 'unchanged']]);
});
