import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { clearsign, makeKey, releaseText, serveArchive } from '../../test/fixtures/debian/archive.ts';
import { createIndexes } from './indexes.ts';
import { fetchIndexes } from './suite-indexes.ts';
import type { DebianRequest } from './debian-scan.ts';
import { createDownloads } from '../cache/downloads.ts';
import { sha256 } from '../lib/hash.ts';

const fixtures = new URL('../../test/fixtures/debian/', import.meta.url);
const sources = await readFile(new URL('Sources', fixtures));
const packages = await readFile(new URL('Packages', fixtures));
const sourcesXz = spawnSync('xz', ['-c'], { input: sources }).stdout;
const key = await makeKey();

/** A signed suite `testsuite` with Sources.xz (+ plain entry) and Packages.gz. */
async function archive(options: { byHash?: boolean; release?: Record<string, string> } = {}) {
  const listed = new Map<string, Uint8Array>([
    ['main/source/Sources', sources],
    ['main/source/Sources.xz', sourcesXz],
    ['main/binary-amd64/Packages.gz', gzipSync(packages)],
  ]);
  const inRelease = await clearsign(releaseText(listed, options.release), key);
  const files = new Map<string, Uint8Array>([['/debian/dists/testsuite/InRelease', Buffer.from(inRelease)]]);
  for (const [p, data] of listed) if (p !== 'main/source/Sources') files.set(`/debian/dists/testsuite/${p}`, data);
  return serveArchive(files, options);
}

async function keyring(dir: string): Promise<string> {
  const path = join(dir, 'keyring.gpg');
  await writeFile(path, key.publicKey.write());
  return path;
}

test('InRelease verified, Sources.xz and Packages.gz checked, decompressed and cached by sha256', async () => {
  await using dir = await tmpDir();
  await using srv = await archive();
  const indexes = createIndexes({ cacheDir: dir.path, keyring: await keyring(dir.path) });
  const rel = await indexes.release(srv.base, 'testsuite');
  assert.equal(rel.url, `${srv.base}/dists/testsuite/InRelease`);
  assert.equal(rel.release.codename, 'testsuite');

  const s = await indexes.sources(rel);
  assert.equal(s, join(dir.path, 'indexes', sha256(sources)));
  assert.deepEqual(await readFile(s), sources);
  assert.ok(srv.requests.some((r) => r.includes('/main/source/by-hash/SHA256/')), 'fetched by hash');

  const p = await indexes.packages(rel, 'amd64');
  assert.deepEqual(await readFile(p), packages);

  // A second run: only InRelease is fetched again; Sources comes from the cache.
  const before = srv.requests.length;
  const rel2 = await indexes.release(srv.base, 'testsuite');
  assert.equal(await indexes.sources(rel2), s);
  assert.deepEqual(srv.requests.slice(before), ['/debian/dists/testsuite/InRelease']);
  const names = await readdir(join(dir.path, 'indexes'));
  assert.ok(names.includes(sha256(srv.files.get('/debian/dists/testsuite/InRelease') ?? '')), 'the verified InRelease is kept');

  await assert.rejects(indexes.packages(rel, 'riscv64'), (e: unknown) => e instanceof KilnError && e.code === 'source-not-found' && /lists no main\/binary-riscv64\/Packages\.xz or/.test(e.message));
});

test('without by-hash the plain path is fetched', async () => {
  await using dir = await tmpDir();
  await using srv = await archive({ byHash: false });
  const indexes = createIndexes({ cacheDir: dir.path, keyring: await keyring(dir.path) });
  const rel = await indexes.release(srv.base, 'testsuite');
  assert.deepEqual(await readFile(await indexes.sources(rel)), sources);
  assert.ok(srv.requests.includes('/debian/dists/testsuite/main/source/Sources.xz'));
});

test('a tampered index is refused naming the url, the expected and the actual sha256', async () => {
  await using dir = await tmpDir();
  await using srv = await archive({ byHash: false });
  const indexes = createIndexes({ cacheDir: dir.path, keyring: await keyring(dir.path) });
  const rel = await indexes.release(srv.base, 'testsuite');
  const good = srv.files.get('/debian/dists/testsuite/main/source/Sources.xz') ?? new Uint8Array();
  const bad = Buffer.from(good);
  bad[bad.length - 20] = (bad[bad.length - 20] ?? 0) ^ 1;
  srv.files.set('/debian/dists/testsuite/main/source/Sources.xz', bad);
  await assert.rejects(indexes.sources(rel), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, 'checksum-mismatch');
    assert.ok(e.message.includes(`${srv.base}/dists/testsuite/main/source/Sources.xz`), e.message);
    assert.ok(e.message.includes(sha256(good)) && e.message.includes(sha256(bad)), e.message);
    return true;
  });
  assert.deepEqual(await readdir(join(dir.path, 'indexes')).then((n) => n.filter((x) => x.length !== 64)), [], 'nothing half-written left');
});

test('a bad signature, the wrong suite and an expired Release are refused', async () => {
  await using dir = await tmpDir();
  const kr = await keyring(dir.path);
  {
    await using srv = await archive();
    const path = '/debian/dists/testsuite/InRelease';
    const text = Buffer.from(srv.files.get(path) ?? '').toString('utf8');
    srv.files.set(path, Buffer.from(text.replace('Components: main', 'Components: mainx')));
    const indexes = createIndexes({ cacheDir: dir.path, keyring: kr });
    await assert.rejects(indexes.release(srv.base, 'testsuite'),
      (e: unknown) => e instanceof KilnError && e.code === 'signature-invalid' && e.message.startsWith(`${srv.base}/dists/testsuite/InRelease: BAD signature`));
    // No dists/SUITE/InRelease: the suite does not exist there, a usage error that says so.
    await assert.rejects(indexes.release(srv.base, 'nosuch'), (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.startsWith(`the mirror ${srv.base} has no suite "nosuch"`) && /HTTP 404/.test(e.message));
    await assert.rejects(indexes.release(srv.base, 'bookwrm'), (e: unknown) => e instanceof KilnError && e.code === 'usage' && /did you mean "bookworm"\?/.test(e.hint ?? ''));
  }
  {
    await using srv = await archive({ release: { Codename: 'other', Suite: 'other' } });
    srv.files.set('/debian/dists/testsuite/InRelease', srv.files.get('/debian/dists/testsuite/InRelease') ?? new Uint8Array());
    const indexes = createIndexes({ cacheDir: dir.path, keyring: kr });
    await assert.rejects(indexes.release(srv.base, 'testsuite'), /is the Release of "other", not of "testsuite"/);
  }
  {
    await using srv = await archive({ release: { 'Valid-Until': 'Sat, 17 Feb 2024 10:00:00 UTC' } });
    const indexes = createIndexes({ cacheDir: dir.path, keyring: kr, now: () => new Date('2024-03-01T00:00:00Z') });
    await assert.rejects(indexes.release(srv.base, 'testsuite'), (e: Error & { hint?: string }) => /expired on 2024-02-17/.test(e.message) && /--no-check-valid-until/.test(e.hint ?? ''));
    // A snapshot mirror frozen on purpose (--no-check-valid-until): taken, its signature still checked.
    const snapshot = createIndexes({ cacheDir: dir.path, keyring: kr, now: () => new Date('2024-03-01T00:00:00Z'), checkValidUntil: false });
    assert.equal((await snapshot.release(srv.base, 'testsuite')).release.codename, 'testsuite');
    const fresh = createIndexes({ cacheDir: dir.path, keyring: kr, now: () => new Date('2024-02-12T00:00:00Z') });
    assert.equal((await fresh.release(srv.base, 'testsuite')).release.codename, 'testsuite');
  }
});

test('--keyring: a suite signed by a key of the keyring (binary or ASCII-armoured) passes; one signed by another key is refused naming the keyring file', async () => {
  await using dir = await tmpDir();
  await using srv = await archive();
  // The archive's key as a derivative would ship it: an ASCII-armoured .asc (and a binary .gpg).
  const asc = join(dir.path, 'derivative-archive.asc');
  await writeFile(asc, key.publicKey.armor());
  const gpg = await keyring(dir.path);
  for (const k of [asc, gpg]) assert.equal((await createIndexes({ cacheDir: dir.path, keyring: k }).release(srv.base, 'testsuite')).release.codename, 'testsuite');
  // A keyring without the archive's key: refused, naming that file.
  const other = join(dir.path, 'other.asc');
  await writeFile(other, (await makeKey('another archive')).publicKey.armor());
  await assert.rejects(createIndexes({ cacheDir: dir.path, keyring: other }).release(srv.base, 'testsuite'), (e: unknown) =>
    e instanceof KilnError && e.code === 'signature-invalid' && /is signed only by keys not in the keyring/.test(e.message) && e.message.endsWith(`(checked against the keyring ${other})`));
});

test('fetchIndexes: the suite\'s keyring is checked before anything is fetched (named where it was given), and a refused InRelease says which keyring to give', async () => {
  await using dir = await tmpDir();
  await using srv = await archive();
  const req = (over: Partial<DebianRequest>): DebianRequest => ({
    suite: 'testsuite', mirror: srv.base, archs: ['amd64'], sources: [], dscs: [], all: false,
    options: { profiles: [], nocheck: false, mode: 'binary' }, cpus: 1, memoryBytes: 1 << 30, timeoutMs: undefined,
    cacheDir: dir.path, downloads: createDownloads({ cacheDir: dir.path, mirrors: {} }), ...over,
  });
  const asc = join(dir.path, 'archive.asc');
  await writeFile(asc, key.publicKey.armor());
  assert.equal((await fetchIndexes(req({ keyring: asc }))).release.release.codename, 'testsuite');
  // Missing, or not a key: a usage error naming --keyring (config-invalid naming the key of debian.toml), nothing fetched.
  const notKey = join(dir.path, 'notes.txt');
  await writeFile(notKey, 'not a key\n');
  const before = srv.requests.length;
  await assert.rejects(fetchIndexes(req({ keyring: join(dir.path, 'missing.gpg') })), (e: unknown) =>
    e instanceof KilnError && e.code === 'usage' && e.message.startsWith('--keyring: cannot read the keyring') && e.message.includes('missing.gpg'));
  await assert.rejects(fetchIndexes(req({ keyring: notKey })), (e: unknown) => e instanceof KilnError && e.code === 'usage' && e.message.startsWith(`--keyring: ${notKey} is not an OpenPGP keyring`));
  const toml = { suite: { code: 'config-invalid', where: '/t/debian.toml: suite' }, archs: { code: 'config-invalid', where: '/t/debian.toml: archs' }, keyring: { code: 'config-invalid', where: '/t/debian.toml: keyring' } } as const;
  await assert.rejects(fetchIndexes(req({ keyring: notKey, origin: toml })), (e: unknown) => e instanceof KilnError && e.code === 'config-invalid' && e.message.startsWith('/t/debian.toml: keyring: '));
  assert.equal(srv.requests.length, before, 'nothing fetched');
  // Signed by a key the keyring lacks: the hint names the keyring and says what to do.
  const other = join(dir.path, 'other.gpg');
  await writeFile(other, (await makeKey('another archive')).publicKey.write());
  await assert.rejects(fetchIndexes(req({ keyring: other })), (e: unknown) =>
    e instanceof KilnError && e.code === 'signature-invalid' && e.message.includes(other) && (e.hint ?? '').startsWith(`--keyring ${other} does not hold a key that signed it`));
});
