// pickArchiveBinary: the archive entry for a built .deb, or a not-in-archive error that
// says what the index has instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../errors.ts';
import { pickArchiveBinary } from './deb-archive.ts';
import type { BinaryPackage } from './sources-index.ts';

const bin = (version: string, architecture: string): BinaryPackage => ({
  package: 'hello', version, architecture, multiArch: 'no', provides: [], depends: [], preDepends: [],
  source: 'hello', sourceVersion: version, filename: `pool/main/h/hello/hello_${version}_${architecture}.deb`,
  sha256: 'ab'.repeat(32), size: 53080, problems: [],
});
const where = { index: 'bookworm main/binary-amd64', mirror: 'http://mirror.invalid/debian' };

test('exact package + version + arch: url from the mirror and the pool path, sha256 and size from the index', () => {
  const b = pickArchiveBinary([bin('2.10-3', 'amd64')], { package: 'hello', version: '2.10-3', architecture: 'amd64' }, where);
  assert.equal(b.url, 'http://mirror.invalid/debian/pool/main/h/hello/hello_2.10-3_amd64.deb');
  assert.equal(b.sha256, 'ab'.repeat(32));
  assert.equal(b.size, 53080);
  assert.equal(b.index, 'bookworm main/binary-amd64');
});

test('a version or arch the index lacks: not-in-archive naming what it has', () => {
  const cases: [BinaryPackage[], { version: string; architecture: string }, RegExp][] = [
    [[bin('2.10-3', 'amd64')], { version: '2.10-9', architecture: 'amd64' }, /bookworm main\/binary-amd64 has no hello 2\.10-9 \(amd64\): it has hello 2\.10-3 \(amd64\)/],
    [[bin('2.10-3', 'amd64')], { version: '2.10-3', architecture: 'all' }, /has no hello 2\.10-3 \(all\)/],
    [[], { version: '1', architecture: 'amd64' }, /has no binary package hello/],
  ];
  for (const [versions, want, re] of cases) {
    assert.throws(() => pickArchiveBinary(versions, { package: 'hello', ...want }, where), (e: unknown) => e instanceof KilnError && e.code === 'not-in-archive' && re.test(e.message) && e.hint !== undefined);
  }
});

test('a -dbgsym package: the hint says Debian keeps those in its separate debug archive, not "name the suite"', () => {
  assert.throws(
    () => pickArchiveBinary([], { package: 'hello-dbgsym', version: '2.10-3', architecture: 'amd64' }, where),
    (e: unknown) => e instanceof KilnError && e.code === 'not-in-archive' && /separate debug archive/.test(e.hint ?? '') && !/--suite/.test(e.hint ?? ''),
  );
  assert.throws(
    () => pickArchiveBinary([], { package: 'hello', version: '2.10-3', architecture: 'amd64' }, where),
    (e: unknown) => e instanceof KilnError && /--suite/.test(e.hint ?? ''),
  );
});

test('createArchive: the run\'s components are looked in, in order: a contrib package is found there, one in none is said missing from all', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { createArchive } = await import('./deb-archive.ts');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-archive-'));
  try {
    const stanza = (name: string, component: string): string => `Package: ${name}\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/${component}/${name[0]}/${name}/${name}_1.0-1_amd64.deb\nSize: 10\nSHA256: ${'cd'.repeat(32)}\n\n`;
    writeFileSync(join(dir, 'main'), stanza('hello', 'main'));
    writeFileSync(join(dir, 'contrib'), stanza('b43-fwcutter', 'contrib'));
    const release = { mirror: 'http://mirror.invalid/debian', suite: 'bookworm', url: 'http://mirror.invalid/debian/dists/bookworm' };
    const indexes = {
      release: async () => release,
      packages: async (_rel: unknown, _arch: string, o: { component?: string } = {}) => join(dir, o.component ?? 'main'),
    } as never;
    const archive = createArchive({ cacheDir: dir, downloads: {} as never, mirror: release.mirror, suite: 'bookworm', components: ['main', 'contrib'], indexes });
    const found = await archive.find({ package: 'b43-fwcutter', version: '1.0-1', architecture: 'amd64' }, 'amd64');
    assert.equal(found.url, 'http://mirror.invalid/debian/pool/contrib/b/b43-fwcutter/b43-fwcutter_1.0-1_amd64.deb');
    assert.equal(found.index, 'bookworm contrib/binary-amd64');
    assert.equal((await archive.find({ package: 'hello', version: '1.0-1', architecture: 'amd64' }, 'amd64')).index, 'bookworm main/binary-amd64');
    await assert.rejects(archive.find({ package: 'nowhere', version: '1', architecture: 'amd64' }, 'amd64'), (e: unknown) => e instanceof KilnError && e.code === 'not-in-archive' && e.message.includes('bookworm main, contrib/binary-amd64'));
    // The default is main alone: the contrib package is not found.
    const mainOnly = createArchive({ cacheDir: dir, downloads: {} as never, mirror: release.mirror, suite: 'bookworm', indexes });
    await assert.rejects(mainOnly.find({ package: 'b43-fwcutter', version: '1.0-1', architecture: 'amd64' }, 'amd64'), (e: unknown) => e instanceof KilnError && e.code === 'not-in-archive');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
