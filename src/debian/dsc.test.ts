import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { clearsign, makeKey, serveArchive } from '../../test/fixtures/debian/archive.ts';
import { createDownloads } from '../cache/downloads.ts';
import { sha256 } from '../lib/hash.ts';
import { fetchSource, placeSource, readLocalDsc } from './dsc.ts';
import { parseSources } from './sources-index.ts';

const key = await makeKey('uploader');
const orig = Buffer.from('orig tarball bytes\n'.repeat(500));
const debian = Buffer.from('debian tarball bytes\n');

const line = (name: string, data: Uint8Array): string => ` ${sha256(data)} ${data.length} ${name}`;

async function dscFor(files: Record<string, Uint8Array>, version = '2.10-3'): Promise<Buffer> {
  const body = `Format: 3.0 (quilt)\nSource: hello\nBinary: hello\nArchitecture: any\nVersion: ${version}\n` +
    'Build-Depends: debhelper-compat (= 13)\nChecksums-Sha256:\n' +
    Object.entries(files).map(([n, d]) => line(n, d)).join('\n') + '\n';
  return Buffer.from(await clearsign(body, key));
}

/** The Sources entry of hello listing `dsc` and `files`. */
function sourcesFor(dsc: Uint8Array, files: Record<string, Uint8Array>) {
  const text = 'Package: hello\nBinary: hello\nVersion: 2.10-3\nArchitecture: any\nDirectory: pool/main/h/hello\nChecksums-Sha256:\n' +
    [line('hello_2.10-3.dsc', dsc), ...Object.entries(files).map(([n, d]) => line(n, d))].join('\n') + '\n';
  const s = parseSources(text, 'Sources').lookup('hello');
  assert.ok(s);
  return s;
}

const tarballs = { 'hello_2.10.orig.tar.gz': orig, 'hello_2.10-3.debian.tar.xz': debian };

async function pool(dsc: Uint8Array, files: Record<string, Uint8Array> = tarballs) {
  const m = new Map<string, Uint8Array>([['/debian/pool/main/h/hello/hello_2.10-3.dsc', dsc]]);
  for (const [n, d] of Object.entries(files)) m.set(`/debian/pool/main/h/hello/${n}`, d);
  return serveArchive(m);
}

test('fetchSource: .dsc and files through the downloads cache, checked against Sources and the .dsc', async () => {
  await using dir = await tmpDir();
  const dsc = await dscFor(tarballs);
  await using srv = await pool(dsc);
  const downloads = createDownloads({ cacheDir: dir.path, mirrors: {} });
  const fetched = await fetchSource(sourcesFor(dsc, tarballs), { mirror: srv.base, downloads });
  assert.equal(fetched.dsc.source, 'hello');
  assert.equal(fetched.dsc.format, '3.0 (quilt)');
  assert.equal(fetched.dscFile.path, downloads.path(sha256(dsc)));
  assert.deepEqual(fetched.files.map((f) => f.name), ['hello_2.10.orig.tar.gz', 'hello_2.10-3.debian.tar.xz']);
  assert.deepEqual(await readFile(fetched.files[0]?.path ?? ''), orig);

  // Cached: no new requests.
  const n = srv.requests.length;
  await fetchSource(sourcesFor(dsc, tarballs), { mirror: srv.base, downloads });
  assert.equal(srv.requests.length, n);

  const placed = await placeSource(fetched, join(dir.path, 'src'));
  assert.equal(placed, join(dir.path, 'src', 'hello_2.10-3.dsc'));
  const local = await readLocalDsc(placed);
  assert.equal(local.files.length, 2);
  assert.equal(local.dscFile.sha256, sha256(dsc));
});

test('a tampered tarball is refused, naming the file, the url and both hashes; all failing files are listed', async () => {
  await using dir = await tmpDir();
  const dsc = await dscFor(tarballs);
  const bad = Buffer.from(orig);
  bad[10] = (bad[10] ?? 0) ^ 1;
  await using srv = await pool(dsc, { 'hello_2.10.orig.tar.gz': bad });
  const downloads = createDownloads({ cacheDir: dir.path, mirrors: {} });
  await assert.rejects(fetchSource(sourcesFor(dsc, tarballs), { mirror: srv.base, downloads }), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, 'checksum-mismatch');
    assert.match(e.message, /^cannot fetch source package hello 2\.10-3: 2 of 2 files failed/);
    assert.ok(e.message.includes(`${srv.base}/pool/main/h/hello/hello_2.10.orig.tar.gz`), e.message);
    assert.ok(e.message.includes(sha256(orig)) && e.message.includes(sha256(bad)), e.message);
    assert.match(e.message, /hello_2\.10-3\.debian\.tar\.xz: download of .* HTTP 404/);
    return true;
  });
  assert.equal(await downloads.has(sha256(bad)), false);
});

test('a .dsc that disagrees with Sources, or is another package, is refused', async () => {
  await using dir = await tmpDir();
  const downloads = createDownloads({ cacheDir: dir.path, mirrors: {} });
  // Sources lists a different debian tarball than the .dsc does.
  const dsc = await dscFor(tarballs);
  await using srv = await pool(dsc);
  const other = { ...tarballs, 'hello_2.10-3.debian.tar.xz': Buffer.from('other') };
  await assert.rejects(fetchSource(sourcesFor(dsc, other), { mirror: srv.base, downloads }),
    (e: unknown) => e instanceof KilnError && e.code === 'checksum-mismatch' && /disagrees with the Sources entry of hello 2\.10-3:\n {2}hello_2\.10-3\.debian\.tar\.xz: the \.dsc says sha256/.test(e.message));
  const extra = { ...tarballs, 'hello_2.10.orig.tar.gz.asc': Buffer.from('sig') };
  await assert.rejects(fetchSource(sourcesFor(dsc, extra), { mirror: srv.base, downloads }), /hello_2\.10\.orig\.tar\.gz\.asc is in the Sources entry of hello 2\.10-3 but not in the \.dsc/);

  const wrong = await dscFor(tarballs, '2.10-4');
  srv.files.set('/debian/pool/main/h/hello/hello_2.10-3.dsc', wrong);
  await assert.rejects(fetchSource(sourcesFor(wrong, tarballs), { mirror: srv.base, downloads }), /is hello 2\.10-4, but Sources lists it for hello 2\.10-3/);
});

test('readLocalDsc refuses a changed or missing file beside the .dsc', async () => {
  await using dir = await tmpDir();
  const dsc = await dscFor(tarballs);
  await writeFile(join(dir.path, 'hello_2.10-3.dsc'), dsc);
  await writeFile(join(dir.path, 'hello_2.10.orig.tar.gz'), orig);
  await assert.rejects(readLocalDsc(join(dir.path, 'hello_2.10-3.dsc')), (e: unknown) => e instanceof KilnError && e.code === 'source-not-found' && /lists hello_2\.10-3\.debian\.tar\.xz, which is not readable/.test(e.message));
  await writeFile(join(dir.path, 'hello_2.10-3.debian.tar.xz'), 'changed');
  await assert.rejects(readLocalDsc(join(dir.path, 'hello_2.10-3.dsc')), (e: unknown) => e instanceof KilnError && e.code === 'checksum-mismatch' && e.message.includes(sha256(debian)) && e.message.includes(sha256('changed')));
});
