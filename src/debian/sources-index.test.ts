import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import { formatRelations } from './relation.ts';
import { parsePackages, parseSources } from './sources-index.ts';

const fixtures = new URL('../../test/fixtures/debian/', import.meta.url);
const sourcesText = await readFile(new URL('Sources', fixtures), 'utf8');
const packagesText = await readFile(new URL('Packages', fixtures), 'utf8');

test('Sources: fields, relations of every Build-* field, files, lookups by name and name=version', () => {
  const idx = parseSources(sourcesText, 'Sources');
  assert.equal(idx.all.length, 4);
  assert.equal(idx.lookup('hello')?.version, '2.10-3', 'the highest version by default');
  assert.equal(idx.lookup('hello=2.10-2')?.buildDepends.length, 2);
  assert.equal(idx.lookup('hello=2.10-9'), undefined);
  assert.equal(idx.lookup('nope'), undefined);
  assert.deepEqual(idx.versions('hello').map((s) => s.version), ['2.10-3', '2.10-2']);

  const hello = idx.lookup('hello=2.10-3');
  assert.ok(hello);
  assert.equal(hello.directory, 'pool/main/h/hello');
  assert.deepEqual(hello.binaries, ['hello']);
  assert.deepEqual(hello.architecture, ['any']);
  assert.deepEqual(hello.files.map((f) => [f.name, f.size]), [
    ['hello_2.10-3.dsc', 1847], ['hello_2.10.orig.tar.gz', 725946], ['hello_2.10-3.debian.tar.xz', 12688],
  ]);
  assert.equal(hello.files[1]?.sha256, 'b'.repeat(64));

  const w = idx.lookup('widget=1:3.0~rc1-1');
  assert.ok(w);
  assert.deepEqual(w.binaries, ['libwidget1', 'libwidget-dev', 'widget-tools', 'widget-doc']);
  assert.deepEqual(w.architecture, ['any', 'all']);
  assert.equal(formatRelations(w.buildDepends),
    'debhelper-compat (= 13), libfoo-dev:native (>= 1.2) [!riscv64] | libfoo-compat-dev, python3:any, check <!nocheck>, gcc-12 [amd64 arm64]');
  const alt = w.buildDepends[1];
  assert.equal(alt?.length, 2);
  assert.equal(alt?.[0]?.archQualifier, 'native');
  assert.deepEqual(alt?.[0]?.archRestriction, { negated: true, arches: ['riscv64'] });
  assert.deepEqual(w.buildDepends[3]?.[0]?.profiles, [[{ negated: true, name: 'nocheck' }]]);
  assert.equal(formatRelations(w.buildDependsArch), 'libbar-dev (<< 2.0~)');
  assert.equal(formatRelations(w.buildDependsIndep), 'doxygen <!nodoc>');
  assert.equal(formatRelations(w.buildConflicts), 'libwidget-dev');
  assert.equal(formatRelations(w.buildConflictsArch), 'oldbar-dev [riscv64]');
  assert.equal(formatRelations(w.buildConflictsIndep), 'texlive-latex-base (<< 2020)');
  assert.deepEqual(w.problems, []);
});

test('Sources: a relation that does not parse is reported per package, the rest is kept', () => {
  const odd = parseSources(sourcesText, 'Sources').lookup('oddity');
  assert.ok(odd);
  assert.equal(formatRelations(odd.buildDepends), 'good-dep, other');
  assert.equal(odd.problems.length, 1);
  assert.match(odd.problems[0] ?? '', /^Build-Depends: "bad dep/);
});

test('Packages: multi-arch, versioned provides, depends, pre-depends, source with version, file', () => {
  const idx = parsePackages(packagesText, 'Packages');
  assert.equal(idx.all.length, 3);
  const hello = idx.lookup('hello');
  assert.ok(hello);
  assert.equal(hello.architecture, 'amd64');
  assert.equal(hello.multiArch, 'no');
  assert.equal(hello.source, 'hello');
  assert.equal(hello.sourceVersion, '2.10-3');
  assert.equal(hello.filename, 'pool/main/h/hello/hello_2.10-3_amd64.deb');
  assert.equal(hello.size, 52708);
  assert.equal(formatRelations(hello.depends), 'libc6 (>= 2.34)');

  const lib = idx.lookup('libwidget1=1:3.0~rc1-1+b2');
  assert.ok(lib);
  assert.equal(lib.multiArch, 'same');
  assert.equal(lib.source, 'widget');
  assert.equal(lib.sourceVersion, '1:3.0~rc1-1');
  assert.deepEqual(lib.provides, [{ name: 'libwidget-abi-3' }, { name: 'widget-api', version: '3.0' }]);
  assert.equal(formatRelations(lib.preDepends), 'multiarch-support');
  assert.equal(formatRelations(lib.depends), 'libc6 (>= 2.36), libfoo1 (>= 1.2) | libfoo-compat1');
  assert.equal(lib.sha256, '2'.repeat(64));

  const awk = idx.lookup('awk-thing');
  assert.equal(awk?.source, 'mawk');
  assert.equal(awk?.sourceVersion, '1.3.4-1');
  assert.equal(awk?.multiArch, 'foreign');
});

test('a paragraph missing a required field or with a bad checksum line is refused', () => {
  assert.throws(() => parseSources('Package: x\nVersion: 1\n', 'S'), (e: unknown) => e instanceof KilnError && /^S:1: paragraph has no Directory field/.test(e.message));
  assert.throws(() => parseSources('Package: x\nVersion: 1\nDirectory: pool/x\nChecksums-Sha256:\n abc 1 x.dsc\n', 'S'), /bad Checksums-Sha256 line "abc 1 x.dsc"/);
  assert.throws(() => parseSources(`Package: x\nVersion: 1\nDirectory: pool/x\nChecksums-Sha256:\n ${'a'.repeat(64)} 1 ../x.dsc\n`, 'S'), /bad Checksums-Sha256/);
  assert.throws(() => parsePackages('Package: x\nVersion: 1\nArchitecture: all\nFilename: f\nSize: 1\nSHA256: zz\n', 'P'), /bad SHA256 or Size/);
});
