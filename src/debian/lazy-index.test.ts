import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyPackages, lazySources, rawField } from './lazy-index.ts';
import { formatRelations } from './relation.ts';

/** One Packages stanza with the fields binaryFromParagraph requires, plus `extra` lines. */
function binStanza(name: string, version: string, arch: string, extra: readonly string[] = []): string {
  return [
    `Package: ${name}`,
    `Version: ${version}`,
    `Architecture: ${arch}`,
    ...extra,
    `Filename: pool/main/${name[0]}/${name}/${name}_${version.replace(/^\d+:/, '')}_${arch}.deb`,
    'Size: 1000',
    `SHA256: ${'a'.repeat(64)}`,
  ].join('\n');
}

function srcStanza(name: string, version: string, extra: readonly string[] = []): string {
  return [
    `Package: ${name}`,
    `Version: ${version}`,
    'Architecture: any',
    ...extra,
    `Directory: pool/main/${name[0]}/${name}`,
    'Checksums-Sha256:',
    ` ${'b'.repeat(64)} 1234 ${name}_${version.replace(/^\d+:/, '')}.dsc`,
  ].join('\n');
}

test('rawField reads first, middle, last and folded fields, and nothing that only looks like one', () => {
  const stanza = [
    'Package: foo',
    'Version: 1.0-1',
    'Pre-Depends: dpkg (>= 1.19)',
    'Depends: libc6 (>= 2.36),',
    ' libbar1 | libbaz1,',
    '\tlibqux1',
    'Description: a thing',
    ' Provides: not-a-field',
    'Provides: foo-api (= 1)',
  ].join('\n');
  const cases: readonly (readonly [string, string | undefined])[] = [
    ['Package', 'foo'],
    ['Version', '1.0-1'],
    ['Pre-Depends', 'dpkg (>= 1.19)'],
    ['Depends', 'libc6 (>= 2.36), libbar1 | libbaz1, libqux1'],
    ['Description', 'a thing Provides: not-a-field'],
    ['Provides', 'foo-api (= 1)'],
    ['Essential', undefined],
    ['Depend', undefined], // a prefix of a field name is not the field
    ['ends', undefined], // nor a suffix (Depends, Pre-Depends)
  ];
  for (const [field, want] of cases) assert.equal(rawField(stanza, field), want, field);
  // A field on the last line of the text, with and without a trailing newline.
  assert.equal(rawField('Package: a\nEssential: yes', 'Essential'), 'yes');
  assert.equal(rawField('Package: a\nEssential: yes\n', 'Essential'), 'yes');
  assert.equal(rawField('Package: a\nDepends:\n b,\n c\n', 'Depends'), 'b, c');
});

test('lazyPackages splits stanzas (extra blank lines, folded fields, no trailing newline) and files them by name', () => {
  const text = [
    '\n\n',
    binStanza('libfoo1', '1.0-1', 'amd64', ['Depends: libc6 (>= 2.36),', ' libbar1 (>= 2) | libbaz1']),
    '\n\n\n',
    binStanza('libc6', '2.36-9', 'amd64', ['Multi-Arch: same']),
    '\n\n',
    binStanza('libfoo1', '1.2-1', 'amd64'),
    '\n\n',
    'Version: 1\nArchitecture: amd64', // no Package field: not indexed
    '\n\n',
    binStanza('doc-thing', '3', 'all'),
  ].join('');
  const u = lazyPackages(text, 'test Packages');
  assert.deepEqual(u.names(), ['libfoo1', 'libc6', 'doc-thing'], 'each name once, in index order');
  assert.equal(u.raw('libfoo1').length, 2);
  assert.ok(u.raw('libfoo1')[0]!.startsWith('Package: libfoo1\nVersion: 1.0-1\n'), 'raw stanzas in index order');
  assert.ok(!u.raw('libfoo1')[0]!.includes('\n\n'));
  assert.deepEqual(u.raw('nope'), []);
  assert.deepEqual(u.versions('nope'), []);
  const foo = u.versions('libfoo1');
  assert.deepEqual(foo.map((p) => p.version), ['1.2-1', '1.0-1'], 'highest first');
  assert.equal(formatRelations(foo[1]!.depends), 'libc6 (>= 2.36), libbar1 (>= 2) | libbaz1', 'a folded field parses whole');
  assert.equal(u.versions('doc-thing')[0]?.architecture, 'all');
  assert.equal(u.versions('doc-thing')[0]?.filename, 'pool/main/d/doc-thing/doc-thing_3_all.deb', 'the last stanza has no trailing newline');
  assert.equal(u.versions('libfoo1'), u.versions('libfoo1'), 'parsed once, then cached');
});

test('lazyPackages orders several versions by dpkg order, not by text', () => {
  const versions = ['1.0-1', '1:0.5-1', '1.0-1+b1', '1.0~rc1-1', '1.10-1', '1.9-1', '1.0-1~bpo12+1'];
  const u = lazyPackages(versions.map((v) => binStanza('x', v, 'amd64')).join('\n\n') + '\n', 'P');
  assert.deepEqual(u.versions('x').map((p) => p.version), ['1:0.5-1', '1.10-1', '1.9-1', '1.0-1+b1', '1.0-1', '1.0-1~bpo12+1', '1.0~rc1-1']);
});

test('providers: every provider of a name, with the provided version when Provides has one', () => {
  const text = [
    binStanza('mawk', '1.3.4-1', 'amd64', ['Provides: awk']),
    binStanza('gawk', '1:5.2.1-2', 'amd64', ['Provides: awk, gawk-api (= 3.1)']),
    binStanza('libwidget1', '2.0-1', 'amd64', ['Provides: widget-api (= 2.0),', ' libwidget-abi-2']),
    binStanza('libwidget1', '3.0-1', 'amd64', ['Provides: widget-api (= 3.0), libwidget-abi-3']),
    binStanza('bad-provides', '1', 'amd64', ['Provides: ok-virtual, (broken']),
  ].join('\n\n');
  const u = lazyPackages(text, 'P');
  const show = (name: string) => u.providers(name).map((p) => `${p.pkg.package}=${p.pkg.version}${p.version === undefined ? '' : ` provides ${p.version}`}`);
  assert.deepEqual(show('awk'), ['mawk=1.3.4-1', 'gawk=1:5.2.1-2']);
  assert.deepEqual(show('gawk-api'), ['gawk=1:5.2.1-2 provides 3.1']);
  assert.deepEqual(show('widget-api'), ['libwidget1=2.0-1 provides 2.0', 'libwidget1=3.0-1 provides 3.0'], 'each version provides its own');
  assert.deepEqual(show('libwidget-abi-2'), ['libwidget1=2.0-1'], 'a folded Provides field');
  assert.deepEqual(show('libwidget-abi-3'), ['libwidget1=3.0-1']);
  assert.deepEqual(show('ok-virtual'), ['bad-provides=1'], 'a bad Provides item does not hide the good ones');
  assert.deepEqual(show('mawk'), [], 'a real package is not its own provider');
  assert.deepEqual(show('nothing'), []);
  // The provider is the same object versions() returns (one parse per stanza).
  assert.equal(u.providers('widget-api')[1]!.pkg, u.versions('libwidget1').find((p) => p.version === '3.0-1'));
});

test('essential lists Essential: yes packages once, and nothing else', () => {
  const text = [
    binStanza('dpkg', '1.21.22', 'amd64', ['Essential: yes']),
    binStanza('dpkg', '1.21.23', 'amd64', ['Essential: yes']),
    binStanza('bash', '5.2.15-2', 'amd64', ['Essential: yes']),
    binStanza('coreutils', '9.1-1', 'amd64', ['Essential: no']),
    binStanza('hello', '2.10-3', 'amd64', ['Description: Essential: yes']),
  ].join('\n\n');
  assert.deepEqual(lazyPackages(text, 'P').essential(), ['dpkg', 'bash']);
});

test('lazySources: versions highest first, raw stanzas, folded Build-Depends', () => {
  const text = [
    srcStanza('hello', '2.10-2', ['Build-Depends: debhelper-compat (= 13)']),
    srcStanza('widget', '1:3.0-1', ['Build-Depends: debhelper-compat (= 13),', ' libfoo-dev [!riscv64] <!nocheck>,', ' python3:any']),
    srcStanza('hello', '2.10-3', ['Build-Depends: debhelper-compat (= 13), autoconf']),
  ].join('\n\n') + '\n';
  const s = lazySources(text, 'Sources');
  assert.deepEqual(s.names(), ['hello', 'widget']);
  assert.deepEqual(s.versions('hello').map((x) => x.version), ['2.10-3', '2.10-2']);
  assert.deepEqual(s.raw('hello').map((r) => rawField(r, 'Version')), ['2.10-2', '2.10-3']);
  const w = s.versions('widget')[0]!;
  assert.equal(formatRelations(w.buildDepends), 'debhelper-compat (= 13), libfoo-dev [!riscv64] <!nocheck>, python3:any');
  assert.deepEqual(w.files.map((f) => f.name), ['widget_3.0-1.dsc']);
});
