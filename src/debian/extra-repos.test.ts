import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasComponent, mergePackages } from './extra-repos.ts';
import { parseExtraRepository } from './extra-repo-line.ts';
import { lazyPackages } from './lazy-index.ts';

const abs = (p: string): string => (p.startsWith('/') ? p : `/cwd/${p}`);

test('parseExtraRepository: the forms apt and sbuild take', () => {
  const table: [string, { uri: string; suite: string; components: string[]; signedBy?: string }][] = [
    ['deb http://mirror.example/debian bookworm-updates main', { uri: 'http://mirror.example/debian', suite: 'bookworm-updates', components: ['main'] }],
    ['http://mirror.example/debian/ bookworm-backports', { uri: 'http://mirror.example/debian', suite: 'bookworm-backports', components: ['main'] }],
    ['deb [signed-by=keys/repo.asc] file:///srv/repo bookworm main contrib', { uri: 'file:///srv/repo', suite: 'bookworm', components: ['main', 'contrib'], signedBy: '/cwd/keys/repo.asc' }],
    // apt's one-slash form of a local folder.
    ['deb [signed-by=keys/repo.asc] file:/srv/repo bookworm main', { uri: 'file:///srv/repo', suite: 'bookworm', components: ['main'], signedBy: '/cwd/keys/repo.asc' }],
    ['  deb  [ signed-by=/k.gpg ]  https://repo.example/x  s  ', { uri: 'https://repo.example/x', suite: 's', components: ['main'], signedBy: '/k.gpg' }],
  ];
  for (const [line, want] of table) {
    const r = parseExtraRepository(line, '--extra-repository', 'usage', abs);
    assert.deepEqual({ uri: r.uri, suite: r.suite, components: r.components, ...(r.signedBy === undefined ? {} : { signedBy: r.signedBy }) }, want, line);
  }
});

test('parseExtraRepository: a bad line names where it was given and what to do', () => {
  const table: [string, RegExp][] = [
    ['deb-src http://mirror.example/debian bookworm main', /source lines are not read/],
    ['deb http://mirror.example/debian', /names no URI and suite/],
    ['deb ftp://h/debian bookworm', /not an http:\/\/, https:\/\/ or file:\/\/\/ URL/],
    ['deb file:relative bookworm', /not an http/],
    ['deb [trusted=yes] http://mirror.example/debian bookworm', /trusted= is not accepted/],
    ['deb [arch=amd64] http://mirror.example/debian bookworm', /unknown option "arch=amd64"/],
    ['deb http://user:pw@mirror.example/debian bookworm', /user name or password/],
    ['deb file:///srv/repo ./', /flat repository/],
    ['deb http://mirror.example/debian book/worm', /flat repository|not a suite name/],
    ['deb http://mirror.example/debian bookworm ma!n', /"ma!n" is not a component name/],
  ];
  for (const [line, re] of table) {
    assert.throws(() => parseExtraRepository(line, 'debian.toml: extra-repositories[1]', 'config-invalid', abs), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'config-invalid', line);
      assert.ok(e.message.startsWith(`debian.toml: extra-repositories[1] "${line.trim()}": `), e.message);
      assert.match(e.message, re, line);
      return true;
    });
  }
});

const stanza = (name: string, version: string, o: { arch?: string; file?: string; extra?: string } = {}): string =>
  `Package: ${name}\nVersion: ${version}\nArchitecture: ${o.arch ?? 'amd64'}\nFilename: ${o.file ?? `pool/main/${name[0]}/${name}/${name}_${version}_${o.arch ?? 'amd64'}.deb`}\nSize: 10\nSHA256: ${'a'.repeat(64)}${o.extra ?? ''}`;

test('mergePackages: as apt picks at equal priority, and a NotAutomatic repository only for names nobody else has', () => {
  const base = [stanza('libc6', '2.36-9'), stanza('zlib1g', '1:1.2.13-1'), stanza('tzdata', '2024a-0', { arch: 'all' })].join('\n\n') + '\n';
  const updates = [stanza('tzdata', '2025b-0', { arch: 'all' }), stanza('libc6', '2.36-9')].join('\n\n');
  const backports = [stanza('zlib1g', '1:1.3-1'), stanza('debhelper', '13.20'), stanza('tzdata', '2026a-0', { arch: 'all' })].join('\n\n');
  const own = [stanza('libkiln', '1.0', { extra: '\nX-Kiln-Mirror: http://evil.example/' }), stanza('zlib1g', '1:1.2.13-1', { file: 'pool/main/z/zlib/other.deb' })].join('\n\n');
  const m = mergePackages(base, [
    { mirror: 'http://mirror.example/debian', text: updates, notAutomatic: false },
    { mirror: 'http://mirror.example/debian', text: backports, notAutomatic: true },
    { mirror: 'file:///srv/repo', text: own, notAutomatic: false },
  ]);
  // updates: tzdata's newer version (libc6 2.36-9 is the suite's already); backports: debhelper
  // alone (zlib1g and tzdata exist elsewhere); own: libkiln (zlib1g's version is the suite's).
  assert.deepEqual(m.added, [1, 1, 1]);
  const u = lazyPackages(m.text, 'merged');
  assert.deepEqual(u.versions('tzdata').map((p) => [p.version, p.mirror]), [['2025b-0', 'http://mirror.example/debian'], ['2024a-0', undefined]]);
  assert.deepEqual(u.versions('zlib1g').map((p) => p.version), ['1:1.2.13-1']);
  assert.deepEqual(u.versions('debhelper').map((p) => [p.version, p.mirror]), [['13.20', 'http://mirror.example/debian']]);
  assert.deepEqual(u.versions('libc6').map((p) => p.mirror), [undefined]);
  // A repository's own X-Kiln-Mirror is replaced by where kiln read it.
  assert.deepEqual(u.versions('libkiln').map((p) => p.mirror), ['file:///srv/repo']);
  assert.equal((m.text.match(/X-Kiln-Mirror/g) ?? []).length, 3);
  assert.ok(m.text.startsWith(base.trimEnd()), 'the suite\'s index is kept as it was');
});

test('mergePackages: nothing to add keeps the base text; an empty base takes the extras', () => {
  const base = `${stanza('a', '1')}\n`;
  assert.equal(mergePackages(base, [{ mirror: 'http://mirror.example', text: stanza('a', '1'), notAutomatic: false }]).text, base);
  const m = mergePackages('', [{ mirror: 'http://mirror.example', text: stanza('b', '2'), notAutomatic: true }]);
  assert.deepEqual(m.added, [1]);
  assert.deepEqual(lazyPackages(m.text, 'x').names(), ['b']);
});

test('mergePackages: a binary of another name at a path the suite has is not added (two files, one path)', () => {
  const base = `${stanza('b', '1', { file: 'pool/main/b/b/b_1_amd64.deb' })}\n`;
  const m = mergePackages(base, [{ mirror: 'http://mirror.example', text: stanza('c', '1', { file: 'pool/main/b/b/b_1_amd64.deb' }), notAutomatic: false }]);
  assert.deepEqual(m.added, [0]);
  assert.equal(m.text, base);
});

test('hasComponent: by name, or as the last part of one (the security archive\'s updates/main)', () => {
  const table: [string[], string, boolean][] = [
    [['main', 'contrib'], 'main', true],
    [['updates/main', 'updates/contrib'], 'main', true],
    [['updates/main'], 'updates/main', true],
    [['main'], 'contrib', false],
    [['updates/main'], 'updates', false],
    [['xmain'], 'main', false],
    [[], 'anything', true],
  ];
  for (const [have, c, want] of table) assert.equal(hasComponent(have, c), want, `${have.join(' ')} ${c}`);
});
