// Against the real archive (the host's apt mirror): InRelease verified with Debian's
// keyring, Sources.xz checked against Release and parsed, hello 2.10-3's source fetched
// and verified. Slow-ish (~10 MB); skipped with KILN_SKIP_SLOW=1, without a host mirror
// or without the keyring. Prints its timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { hostDebianMirror } from '../config/mirrors.ts';
import { createDownloads } from '../cache/downloads.ts';
import { formatRelations } from './relation.ts';
import { createIndexes, DEBIAN_ARCHIVE_KEYRING } from './indexes.ts';
import { parseSources } from './sources-index.ts';
import { fetchSource } from './dsc.ts';

const mirror = await hostDebianMirror();
const keyring = await access(DEBIAN_ARCHIVE_KEYRING).then(() => true, () => false);
const skip =
  process.env['KILN_SKIP_SLOW'] === '1' ? 'KILN_SKIP_SLOW=1'
  : mirror === undefined ? 'no Debian mirror in the host apt sources'
  : !keyring ? `no ${DEBIAN_ARCHIVE_KEYRING} (apt-get install debian-archive-keyring)`
  : false;

test('bookworm: verified InRelease → Sources.xz → hello 2.10-3 and its files', { skip, timeout: 300_000 }, async (t) => {
  await using dir = await tmpDir();
  const base = mirror ?? '';
  const downloads = createDownloads({ cacheDir: dir.path, mirrors: {} });
  const indexes = createIndexes({ cacheDir: dir.path, downloads });
  const ms = (t0: number): string => `${Math.round(performance.now() - t0)} ms`;

  let t0 = performance.now();
  const rel = await indexes.release(base, 'bookworm');
  const tRelease = ms(t0);
  assert.equal(rel.release.codename, 'bookworm');
  assert.ok(rel.signedBy.length >= 1);
  assert.ok(rel.release.files.has('main/source/Sources.xz'));

  t0 = performance.now();
  const sourcesPath = await indexes.sources(rel);
  const tSources = ms(t0);
  t0 = performance.now();
  const again = await indexes.sources(rel);
  const tCached = ms(t0);
  assert.equal(again, sourcesPath);

  t0 = performance.now();
  const text = await readFile(sourcesPath, 'utf8');
  const index = parseSources(text, sourcesPath);
  const tParse = ms(t0);
  const hello = index.lookup('hello=2.10-3');
  assert.ok(hello, 'hello 2.10-3 is in bookworm');
  assert.equal(hello.directory, 'pool/main/h/hello');
  assert.deepEqual(hello.binaries, ['hello']);
  assert.match(formatRelations(hello.buildDepends), /debhelper-compat \(= 13\)/);
  assert.deepEqual(hello.files.map((f) => f.name).sort(), ['hello_2.10-3.debian.tar.xz', 'hello_2.10-3.dsc', 'hello_2.10.orig.tar.gz', 'hello_2.10.orig.tar.gz.asc']);
  assert.deepEqual(hello.problems, []);

  t0 = performance.now();
  const fetched = await fetchSource(hello, { mirror: base, downloads });
  const tFetch = ms(t0);
  assert.equal(fetched.dsc.source, 'hello');
  assert.equal(fetched.files.length, 3);
  t0 = performance.now();
  await fetchSource(hello, { mirror: base, downloads });
  const tFetchCached = ms(t0);

  const problems = index.all.filter((s) => s.problems.length > 0).length;
  t.diagnostic(`release ${tRelease}; Sources.xz fetch+verify+xz -d ${tSources} (cached ${tCached}); ` +
    `parse ${index.all.length} sources (${(text.length / 1e6).toFixed(1)} MB) ${tParse}, ${problems} with relation problems; ` +
    `hello source fetch ${tFetch} (cached ${tFetchCached})`);
});
