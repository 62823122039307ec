import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { parseRelease } from '../debian/inrelease.ts';
import { debControlFrom, parseControlParagraphs } from '../debian/deb-file.ts';
import {
  checkReleaseText, checkRepoName, debFileName, debianArchOf, entriesForArch, entryForDeb, entryFromParagraph, kindOfEntry, mergeEntries, packageKindOf, poolDir, releaseDate,
  renderPackages, renderRelease, repoArchitectures, type IndexEntry, type PackageKind,
} from './apt-repo-index.ts';

const sha = (c: string): string => c.repeat(64);

function entry(pkg: string, version: string, arch: string, shaChar = 'a', kind: PackageKind = 'deb'): IndexEntry {
  const control = debControlFrom(parseControlParagraphs(`Package: ${pkg}\nVersion: ${version}\nArchitecture: ${arch}\nDescription: x\n`, 'T')[0]!, 'T');
  return entryForDeb(control, { size: 10, sha256: sha(shaChar), md5: 'f'.repeat(32) }, 'main', kind);
}

test('poolDir: first letter, or libX for lib* sources', () => {
  const rows: [string, string][] = [
    ['hello', 'pool/main/h/hello'],
    ['libpng1.6', 'pool/main/libp/libpng1.6'],
    ['lib', 'pool/main/l/lib'],
    ['0ad', 'pool/main/0/0ad'],
    ['libc++', 'pool/main/libc/libc++'],
  ];
  for (const [src, want] of rows) assert.equal(poolDir('main', src), want, src);
  assert.equal(poolDir('contrib', 'x'), 'pool/contrib/x/x');
});

test('debFileName: package_version_arch.deb with the epoch dropped', () => {
  const rows: [string, string, string, string][] = [
    ['hello', '2.10-3', 'amd64', 'hello_2.10-3_amd64.deb'],
    ['libfoo1', '1:2.0~rc1-1+b2', 'riscv64', 'libfoo1_2.0~rc1-1+b2_riscv64.deb'],
    ['doc', '3', 'all', 'doc_3_all.deb'],
  ];
  for (const [p, v, a, want] of rows) assert.equal(debFileName({ package: p, version: v, architecture: a }), want);
});

test('entryForDeb: control fields, then Filename/Size/MD5sum/SHA256 (control copies of those dropped); read back equal', () => {
  const control = debControlFrom(parseControlParagraphs('Package: libfoo1\nSource: foo (1.0-1)\nVersion: 1.0-1+b1\nArchitecture: amd64\nSize: 999\nDescription: foo\n more\n', 'T')[0]!, 'T');
  const e = entryForDeb(control, { size: 1234, sha256: sha('b'), md5: 'c'.repeat(32) }, 'main');
  assert.equal(e.filename, 'pool/main/f/foo/libfoo1_1.0-1+b1_amd64.deb');
  const text = renderPackages([e]);
  assert.equal(text, [
    'Package: libfoo1', 'Source: foo (1.0-1)', 'Version: 1.0-1+b1', 'Architecture: amd64', 'Description: foo', ' more',
    'Filename: pool/main/f/foo/libfoo1_1.0-1+b1_amd64.deb', 'Size: 1234', `MD5sum: ${'c'.repeat(32)}`, `SHA256: ${sha('b')}`, '',
  ].join('\n'));
  const back = entryFromParagraph(parseControlParagraphs(text, 'P')[0]!, 'P');
  assert.deepEqual(back, e);
  assert.throws(() => entryFromParagraph(parseControlParagraphs('Package: a\nVersion: 1\nArchitecture: all\n', 'P')[0]!, 'P'),
    (err: unknown) => err instanceof KilnError && err.code === 'index-invalid' && /no Filename/.test(err.message));
});

test('mergeEntries: newer replaces, older is skipped, same file unchanged, same version other file conflicts', () => {
  const existing = [entry('pa', '1.0-1', 'amd64'), entry('pa', '1.0-1', 'riscv64'), entry('pb', '2', 'all', 'b')];
  const rows: { add: IndexEntry[]; outcomes: string[]; versions: string[] }[] = [
    { add: [entry('pc', '1', 'all')], outcomes: ['added'], versions: ['pa 1.0-1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all', 'pc 1 all'] },
    { add: [entry('pa', '1.0-2', 'amd64', 'c')], outcomes: ['replaced'], versions: ['pa 1.0-2 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [entry('pa', '1.0~rc1-1', 'amd64', 'd')], outcomes: ['older'], versions: ['pa 1.0-1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [entry('pa', '1:0.1', 'amd64', 'd')], outcomes: ['replaced'], versions: ['pa 1:0.1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [entry('pb', '2', 'all', 'b')], outcomes: ['unchanged'], versions: ['pa 1.0-1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [entry('pc', '1', 'all'), entry('pc', '2', 'all', 'e'), entry('pc', '1', 'all')], outcomes: ['older', 'added', 'older'], versions: ['pa 1.0-1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all', 'pc 2 all'] },
    // Two versions in one merge: the lower is `older` whatever the order (it never reaches the index).
    { add: [entry('pa', '1.0-1', 'amd64'), entry('pa', '1.0-2', 'amd64', 'f')], outcomes: ['older', 'replaced'], versions: ['pa 1.0-2 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [entry('pa', '1.0-2', 'amd64', 'f'), entry('pa', '1.0-1', 'amd64')], outcomes: ['replaced', 'older'], versions: ['pa 1.0-2 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
    { add: [], outcomes: [], versions: ['pa 1.0-1 amd64', 'pa 1.0-1 riscv64', 'pb 2 all'] },
  ];
  for (const r of rows) {
    const m = mergeEntries(existing, r.add);
    assert.deepEqual(m.outcomes.map((o) => o.outcome), r.outcomes, JSON.stringify(r.add.map((e) => e.version)));
    assert.deepEqual(m.entries.map((e) => `${e.package} ${e.version} ${e.architecture}`), r.versions);
  }
  assert.equal(mergeEntries(existing, [entry('pa', '1.0-2', 'amd64')]).outcomes[0]?.previous, '1.0-1');
  assert.equal(mergeEntries(existing, [entry('pa', '1.0-1', 'amd64'), entry('pa', '1.0-2', 'amd64', 'f')]).outcomes[0]?.previous, '1.0-2', 'the lower names the version that supersedes it');
  assert.equal(mergeEntries(existing, [entry('pa', '0.9', 'amd64'), entry('pa', '0.8', 'amd64', 'f')]).outcomes[1]?.previous, '1.0-1', 'or the listed one, when higher');
  assert.throws(() => mergeEntries(existing, [entry('pb', '2', 'all', 'z')]),
    (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /pb 2 \(all\) is already published with other content/.test(e.message)
      && (e.hint ?? '').includes('`kiln repo remove --suite SUITE pb:all=2`'));
  // The way out names the suite, and the one architecture (a bare NAME=VERSION takes them all).
  assert.throws(() => mergeEntries(existing, [entry('pa', '1.0-1', 'riscv64', 'z')], { suite: 'bookworm' }),
    (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /pa 1\.0-1 \(riscv64\)/.test(e.message)
      && /give the rebuild a new version .*`kiln repo remove --suite bookworm pa:riscv64=1\.0-1` \(with the same --repo or --state\), or publish into a fresh repository$/.test(e.hint ?? ''));
  // Duplicates in what was read (an all package in every binary-ARCH): the highest wins.
  assert.deepEqual(mergeEntries([entry('px', '1', 'all'), entry('px', '3', 'all'), entry('px', '2', 'all')], []).entries.map((e) => e.version), ['3']);
});

test('entriesForArch: binary-ARCH lists its arch and all; binary-all only all', () => {
  const es = [entry('pa', '1', 'amd64'), entry('pb', '1', 'all'), entry('pc', '1', 'riscv64')];
  const names = (arch: string): string[] => entriesForArch(es, arch).map((e) => e.package);
  assert.deepEqual(names('amd64'), ['pa', 'pb']);
  assert.deepEqual(names('riscv64'), ['pb', 'pc']);
  assert.deepEqual(names('all'), ['pb']);
  assert.deepEqual(names('arm64'), ['pb']);
  assert.equal(renderPackages([]), '');
  assert.equal(renderPackages(es).split('\n\n').length, 3);
});

test('udebs: told by name or Package-Type, named .udeb, indexed apart from the .debs (one name may be both)', () => {
  const fields = (text: string): ReturnType<typeof parseControlParagraphs>[number] => parseControlParagraphs(text, 'T')[0]!;
  const kinds: [string, string, PackageKind][] = [
    ['x_1_amd64.deb', 'Package: x\n', 'deb'],
    ['x_1_amd64.udeb', 'Package: x\n', 'udeb'],
    ['x_1_amd64.deb', 'Package: x\nPackage-Type: udeb\n', 'udeb'],
    ['x_1_amd64.deb', 'Package: x\npackage-type: deb\n', 'deb'],
  ];
  for (const [path, text, want] of kinds) assert.equal(packageKindOf(path, fields(text)), want, `${path} ${text}`);
  assert.equal(debFileName({ package: 'zlib1g-udeb', version: '1:1.2.13.dfsg-1', architecture: 'amd64' }, 'udeb'), 'zlib1g-udeb_1.2.13.dfsg-1_amd64.udeb');
  const u = entry('zlib1g-udeb', '1', 'amd64', 'u', 'udeb');
  assert.equal(u.filename, 'pool/main/z/zlib1g-udeb/zlib1g-udeb_1_amd64.udeb');
  assert.equal(kindOfEntry(u), 'udeb');
  assert.equal(kindOfEntry(entryFromParagraph(parseControlParagraphs(renderPackages([u]), 'P')[0]!, 'P')), 'udeb', 'read back as a udeb');

  const es = [entry('pa', '1', 'amd64'), entry('pa', '1', 'amd64', 'b', 'udeb'), entry('pb', '1', 'all', 'c', 'udeb'), entry('pc', '1', 'riscv64', 'd', 'udeb')];
  const names = (arch: string, kind?: PackageKind): string[] => entriesForArch(es, arch, kind).map((e) => e.filename.replace(/^.*\//, ''));
  assert.deepEqual(names('amd64'), ['pa_1_amd64.deb'], 'binary-ARCH: no udeb');
  assert.deepEqual(names('amd64', 'udeb'), ['pa_1_amd64.udeb', 'pb_1_all.udeb']);
  assert.deepEqual(names('riscv64', 'udeb'), ['pb_1_all.udeb', 'pc_1_riscv64.udeb']);
  assert.deepEqual(names('all', 'udeb'), ['pb_1_all.udeb']);
  assert.deepEqual(names('all'), []);

  // A .deb and a .udeb of one name, version and arch: two packages, no conflict; a udeb's own rules as a deb's.
  const m = mergeEntries([entry('pa', '1', 'amd64')], [entry('pa', '1', 'amd64', 'b', 'udeb'), entry('pa', '1', 'amd64')]);
  assert.deepEqual(m.outcomes.map((o) => o.outcome), ['added', 'unchanged']);
  assert.deepEqual(m.entries.map((e) => kindOfEntry(e)), ['deb', 'udeb']);
  assert.deepEqual(mergeEntries(m.entries, [entry('pa', '2', 'amd64', 'e', 'udeb')]).outcomes.map((o) => [o.outcome, o.previous]), [['replaced', '1']]);
  assert.throws(() => mergeEntries(m.entries, [entry('pa', '1', 'amd64', 'z', 'udeb')]),
    (e: unknown) => e instanceof KilnError && e.code === 'conflict' && /pa 1 \(amd64, \.udeb\) is already published/.test(e.message));
});

test('repoArchitectures: union without all, sorted; the fallback only when nothing else', () => {
  assert.deepEqual(repoArchitectures([['riscv64'], ['amd64', 'all'], ['amd64']], 'arm64'), ['amd64', 'riscv64']);
  assert.deepEqual(repoArchitectures([['all'], []], 'arm64'), ['arm64']);
  assert.equal(debianArchOf('x64'), 'amd64');
  assert.equal(debianArchOf('riscv64'), 'riscv64');
  assert.equal(debianArchOf('arm64'), 'arm64');
});

test('renderRelease: the fields apt reads, SHA256 sorted by path, parsed back by kiln\'s own Release reader', () => {
  const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const text = renderRelease({
    origin: 'kiln', label: 'kiln', suite: 'bookworm', codename: 'bookworm', date,
    architectures: ['amd64', 'riscv64'], components: ['main'], acquireByHash: true,
    files: [
      { path: 'main/binary-riscv64/Packages', size: 5, sha256: sha('2') },
      { path: 'main/binary-amd64/Packages', size: 12345, sha256: sha('1') },
    ],
  });
  assert.equal(text, [
    'Origin: kiln', 'Label: kiln', 'Suite: bookworm', 'Codename: bookworm', 'Date: Fri, 02 Jan 2026 03:04:05 UTC',
    'Architectures: all amd64 riscv64', 'Components: main', 'No-Support-for-Architecture-all: Packages', 'Acquire-By-Hash: yes', 'SHA256:',
    ` ${sha('1')}            12345 main/binary-amd64/Packages`,
    ` ${sha('2')}                5 main/binary-riscv64/Packages`, '',
  ].join('\n'));
  const r = parseRelease(text, 'Release');
  assert.equal(r.date?.getTime(), date.getTime());
  assert.deepEqual(r.architectures, ['all', 'amd64', 'riscv64']);
  assert.equal(r.acquireByHash, true);
  assert.deepEqual(r.files.get('main/binary-amd64/Packages'), { path: 'main/binary-amd64/Packages', size: 12345, sha256: sha('1') });
  const noHash = renderRelease({ origin: 'o', label: 'l', suite: 's', codename: 's', date, architectures: [], components: ['main'], acquireByHash: false, files: [], description: 'd' });
  assert.match(noHash, /^Description: d$/m);
  assert.doesNotMatch(noHash, /Acquire-By-Hash/);
  assert.equal(releaseDate(new Date(0)), 'Thu, 01 Jan 1970 00:00:00 UTC');
});

test('checkRepoName: one path component of safe characters', () => {
  for (const ok of ['bookworm', 'kiln-unstable', 'trixie_1', 'v1.2+x']) checkRepoName('suite', ok);
  for (const bad of ['', '.', '..', 'a/b', '.hidden', 'a b', '-x']) {
    assert.throws(() => checkRepoName('suite', bad), (e: unknown) => e instanceof KilnError && e.code === 'usage', JSON.stringify(bad));
  }
});

test('mergeEntries: with replaceSameVersion a rebuild of a published version replaces it', async () => {
  const { mergeEntries: merge } = await import('./apt-repo-index.ts');
  const existing = [entry('pa', '1.0-1', 'amd64')];
  const rebuilt = { ...entry('pa', '1.0-1', 'amd64'), sha256: 'f'.repeat(64) };
  assert.throws(() => merge(existing, [rebuilt]), /already published with other content/);
  const m = merge(existing, [rebuilt], { replaceSameVersion: true });
  assert.equal(m.outcomes[0]?.outcome, 'replaced');
  assert.equal(m.entries[0]?.sha256, 'f'.repeat(64));
});

test('checkReleaseText: Origin and Label are one line without control characters (a line break would add a field to the signed Release)', () => {
  for (const ok of ['kiln', 'Example Corp', 'Acme builds 2.0']) checkReleaseText('origin', ok);
  for (const bad of ['a\nb', 'L\nSuite: evil', '', '  ', 'tab\there']) {
    assert.throws(() => checkReleaseText('label', bad), (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.startsWith('--label: ') && /single line/.test(e.message), JSON.stringify(bad));
  }
});
