import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDebianMirror, parseDeb822Sources, parseOneLineSources, resolveMirrors } from './mirrors.ts';

/** Write an apt dir: `files` maps paths relative to it (e.g. "sources.list.d/x.sources") to content. */
async function aptDir(t: { after: (fn: () => Promise<void>) => void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-apt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'sources.list.d'));
  for (const [path, text] of Object.entries(files)) await writeFile(join(dir, path), text);
  return dir;
}

const deb822 = `Types: deb
# a comment line
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`;

test('deb822 sources: first deb URI with a release suite, without trailing slash', async (t) => {
  const dir = await aptDir(t, { 'sources.list.d/debian.sources': deb822 });
  assert.equal(await hostDebianMirror({ aptDir: dir }), 'http://mirror.example/debian');
});

test('security/updates-only entries, deb-src, cdrom, disabled stanzas and files are skipped', async (t) => {
  const dir = await aptDir(t, {
    'sources.list': [
      '# deb http://commented.example/debian bookworm main',
      'deb cdrom:[Debian GNU/Linux 12]/ bookworm main',
      'deb-src http://src-only.example/debian bookworm main',
      'deb http://sec.example/debian-security bookworm-security main',
      'deb [arch=amd64] http://upd.example/debian bookworm-updates main',
      '',
    ].join('\n'),
    'sources.list.d/a-disabled.list.disabled-by-farm': 'deb http://disabled-file.example/debian bookworm main\n',
    'sources.list.d/b.sources': 'Types: deb\nURIs: http://enabled-no.example/debian\nSuites: bookworm\nEnabled: no\n',
    'sources.list.d/c.list': 'deb [ arch=amd64 signed-by=/usr/share/keyrings/x.gpg ] https://one-line.example/debian/ trixie main contrib\n',
  });
  assert.equal(await hostDebianMirror({ aptDir: dir }), 'https://one-line.example/debian');
});

test('third-party repositories do not count as a Debian archive', async (t) => {
  const dir = await aptDir(t, {
    'sources.list.d/a-nodesource.sources': 'Types: deb\nURIs: https://node.example/node_20.x\nSuites: nodistro\nComponents: main\n',
    'sources.list.d/b-vendor.list': 'deb https://vendor.example/apt stable-ish main\n',
    'sources.list.d/z-debian.sources': 'Types: deb deb-src\nURIs: http://archive.example/debian\nSuites: sid\nComponents: main\n',
  });
  assert.equal(await hostDebianMirror({ aptDir: dir }), 'http://archive.example/debian');
});

test('an unknown codename is accepted from a path ending in /debian', async (t) => {
  const dir = await aptDir(t, {
    'sources.list.d/x.sources': 'Types: deb\nURIs: http://future.example/debian\nSuites: zebra zebra-security\n',
  });
  assert.equal(await hostDebianMirror({ aptDir: dir }), 'http://future.example/debian');
});

test('no usable source, or no apt dir at all → undefined', async (t) => {
  const dir = await aptDir(t, { 'sources.list': 'deb-src http://x.example/debian bookworm main\n' });
  assert.equal(await hostDebianMirror({ aptDir: dir }), undefined);
  assert.equal(await hostDebianMirror({ aptDir: join(dir, 'missing') }), undefined);
});

test('resolveMirrors adds debian from the host unless configured', async (t) => {
  const dir = await aptDir(t, { 'sources.list.d/debian.sources': deb822 });
  assert.deepEqual(await resolveMirrors({ gnu: 'https://gnu.example/gnu' }, { aptDir: dir }), {
    gnu: 'https://gnu.example/gnu',
    debian: 'http://mirror.example/debian',
  });
  assert.deepEqual(await resolveMirrors({ debian: 'https://mine.example/debian' }, { aptDir: dir }), {
    debian: 'https://mine.example/debian',
  });
  assert.deepEqual(await resolveMirrors({}, { aptDir: join(dir, 'missing') }), {});
});

test('parsers: continuation lines, case-insensitive fields, bracket options', () => {
  assert.deepEqual(parseDeb822Sources('types: deb\nuris: http://a.example/debian\n http://b.example/debian\nsuites: bookworm\n'), [
    { types: ['deb'], uris: ['http://a.example/debian', 'http://b.example/debian'], suites: ['bookworm'], components: [] },
  ]);
  assert.deepEqual(parseOneLineSources('deb [ arch=amd64,arm64 ] http://a.example/debian bookworm main # trailing\n'), [
    { types: ['deb'], uris: ['http://a.example/debian'], suites: ['bookworm'], components: ['main'] },
  ]);
});

test('on this host, the mirror from /etc/apt is an http(s) URL', { skip: !existsSync('/etc/apt/sources.list.d/debian.sources') }, async () => {
  const uri = await hostDebianMirror();
  assert.match(uri ?? '', /^https?:\/\/[^/]+/);
  const configured = parseDeb822Sources(await readFile('/etc/apt/sources.list.d/debian.sources', 'utf8')).flatMap((e) => e.uris);
  assert(configured.some((u) => u.replace(/\/+$/, '') === uri), `${uri} is not among ${configured.join(' ')}`);
  assert.doesNotMatch(uri ?? '', /\/$/);
});

test('hostDebianMirror: a user name and password in the apt uri are left out of the mirror url', async (t) => {
  const dir = await aptDir(t, { 'sources.list': 'deb https://me:hunter2@private.example/debian/ bookworm main\n' });
  assert.equal(await hostDebianMirror({ aptDir: dir }), 'https://private.example/debian');
});
