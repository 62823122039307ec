// `kiln verify` against the real archive (the host's apt mirror, bookworm): the archive's
// own hello 2.10-3 .deb is reproducible against itself; a copy repacked with usr/bin/hello
// changed the way our rebuild differs (the build clock's year 2022 → 2026 in .text, a new
// ELF build-id) is reported as differing in that file only, by that year and build-id; a
// version the archive does not have is a clear not-in-archive. Needs the network (~60 kB
// of .deb plus the bookworm amd64 Packages index); skipped with KILN_SKIP_SLOW=1, without
// a host mirror, the archive keyring or dpkg-deb.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { access, copyFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { createDownloads } from '../../src/cache/downloads.ts';
import { createIndexes, DEBIAN_ARCHIVE_KEYRING } from '../../src/debian/indexes.ts';
import { createArchive } from '../../src/debian/deb-archive.ts';
import type { VerifyResult } from '../../src/debian/deb-verify.ts';

const mirror = await hostDebianMirror();
const keyring = await access(DEBIAN_ARCHIVE_KEYRING).then(() => true, () => false);
const skip =
  process.env['KILN_SKIP_SLOW'] === '1' ? 'KILN_SKIP_SLOW=1'
  : mirror === undefined ? 'no Debian mirror in the host apt sources'
  : !keyring ? `no ${DEBIAN_ARCHIVE_KEYRING}`
  : process.arch !== 'x64' ? 'the archive hello checked here is amd64'
  : false;

const HELLO = { package: 'hello', version: '2.10-3', architecture: 'amd64' };

/** Unpack `deb`, let `edit` change the tree, repack with the original data tarball's clock. */
function repack(deb: string, into: string, out: string, edit: (root: string) => void): void {
  execFileSync('dpkg-deb', ['-R', deb, into]);
  edit(into);
  // dpkg-deb clamps mtimes to SOURCE_DATE_EPOCH: the original tarball's mtimes come back.
  const epoch = /^\S+ \S+ +\d+ (\d{4}-\d\d-\d\d \d\d:\d\d)/m.exec(execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' }))?.[1];
  assert.ok(epoch);
  const sde = Math.floor(Date.parse(`${epoch.replace(' ', 'T')}:00Z`) / 1000);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-b', into, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(sde), TZ: 'UTC' } });
}

test('kiln verify: bookworm hello 2.10-3 against itself, against a rebuilt-like copy, and a version the archive lacks', { skip, timeout: 300_000 }, async (t) => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  const archive = createArchive({ cacheDir: cache, downloads: createDownloads({ cacheDir: cache, mirrors: {} }), mirror: mirror ?? '', suite: 'bookworm' });
  const bin = await archive.find(HELLO, 'amd64');
  const original = join(dir.path, 'hello_2.10-3_amd64.deb');
  await copyFile(await archive.fetch(bin), original);

  // 1. The archive's own file: reproducible, exit 0.
  const same = await runKiln(['verify', '--suite', 'bookworm', original], { state, timeoutMs: 240_000 });
  assert.equal(same.code, 0, explain(same));
  assert.match(same.stdout, /hello 2\.10-3 amd64\): reproducible: identical bytes/);
  assert.match(same.stdout, /archive: .*\/pool\/main\/h\/hello\/hello_2\.10-3_amd64\.deb \(bookworm main\/binary-amd64\)/);

  // 2. usr/bin/hello as our rebuild differs: `mov $2022,%edx` → 2026, and another build-id.
  const rebuilt = join(dir.path, 'rebuilt.deb');
  repack(original, join(dir.path, 'tree'), rebuilt, (root) => {
    const path = join(root, 'usr/bin/hello');
    const b = execFileSync('cat', [path]);
    const at = b.indexOf(Buffer.from('bae6070000', 'hex'));
    assert.ok(at > 0 && b.indexOf(Buffer.from('bae6070000', 'hex'), at + 1) < 0, 'one `mov $0x7e6,%edx` in hello 2.10-3');
    b[at + 1] = 0xea;
    const id = /Build ID: ([0-9a-f]{40})/.exec(execFileSync('readelf', ['-n', path], { encoding: 'utf8' }))?.[1];
    assert.ok(id);
    const idAt = b.indexOf(Buffer.from(id, 'hex'));
    Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex').copy(b, idAt);
    execFileSync('sh', ['-c', 'cat > "$1"', 'sh', path], { input: b });
    const md5 = createHash('md5').update(b).digest('hex');
    const sums = join(root, 'DEBIAN/md5sums');
    execFileSync('sed', ['-i', `s#^[0-9a-f]*  usr/bin/hello\$#${md5}  usr/bin/hello#`, sums]);
  });
  const text = await runKiln(['verify', '--suite', 'bookworm', rebuilt], { state, timeoutMs: 240_000 });
  assert.equal(text.code, 1, explain(text));
  t.diagnostic(text.stdout);
  assert.match(text.stdout, /differs: data: 1 of 143 entries differ \(usr\/bin\/hello: 2022 → 2026 in \.text \(a year: build clock\?\), ELF build-id\)/);
  assert.match(text.stdout, /data: usr\/bin\/hello: contents differ \(ELF/);
  assert.match(text.stdout, /build-id: [0-9a-f]{40} → 0123456789abcdef0123456789abcdef01234567 \(follows from the other differences\)/);
  assert.match(text.stdout, /at \.text\+0x[0-9a-f]+ \(file offset 0x[0-9a-f]+\), 1 byte: e6 → ea {2}\[as an integer 2022 → 2026: a year, likely the build clock\]/);

  const json = await runKiln(['verify', '--suite', 'bookworm', '--json', rebuilt], { state, timeoutMs: 240_000 });
  assert.equal(json.code, 1, explain(json));
  const doc = JSON.parse(json.stdout) as { results: VerifyResult[]; summary: Record<string, number> };
  const r = doc.results[0]!;
  assert.equal(r.status, 'differs');
  assert.ok(r.comparison?.verdict === 'differs');
  assert.deepEqual(r.comparison.data.changed.map((c) => c.path), ['usr/bin/hello']);
  assert.equal(r.comparison.data.identical, 142);
  assert.deepEqual(r.comparison.control.fields, []);
  assert.deepEqual(r.comparison.control.md5sums.changed, ['usr/bin/hello']);
  assert.deepEqual(doc.summary, { reproducible: 0, differs: 1, notInArchive: 0, errors: 0 });

  // 3. A version bookworm does not have: not-in-archive, naming what it has; exit 1.
  const future = join(dir.path, 'future.deb');
  repack(original, join(dir.path, 'tree2'), future, (root) => {
    execFileSync('sed', ['-i', 's/^Version: 2.10-3$/Version: 2.10-99/', join(root, 'DEBIAN/control')]);
  });
  const missing = await runKiln(['verify', '--suite', 'bookworm', future, original], { state, timeoutMs: 240_000 });
  assert.equal(missing.code, 1, explain(missing));
  assert.match(missing.stdout, /not in the archive \[not-in-archive\]: bookworm main\/binary-amd64 has no hello 2\.10-99 \(amd64\): it has hello 2\.10-3 \(amd64\)/);
  assert.match(missing.stdout, /kiln verify: 1 of 2 reproducible, 0 differ, 1 not in the archive, 0 errors/);
  // A suite the mirror does not have is the command line's mistake: usage, exit 2.
  const typo = await runKiln(['verify', '--suite', 'bookwrm', original], { state, timeoutMs: 240_000 });
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /error \[usage\]: .*has no suite "bookwrm"/);
});

test('kiln verify --no-check-valid-until: sid hello against itself, from a mirror whose sid Release may be past its Valid-Until (a snapshot); without the flag such a Release is refused naming it', { skip, timeout: 300_000 }, async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const cache = join(state, 'cache');
  const downloads = createDownloads({ cacheDir: cache, mirrors: {} });
  const archive = createArchive({ cacheDir: cache, downloads, mirror: mirror ?? '', suite: 'sid', checkValidUntil: false });
  // sid's hello, whatever its version today (the refusal of a version it lacks names it).
  const version = await archive.find({ ...HELLO, version: '0' }, 'amd64').then(() => undefined, (e: Error) => /it has hello (\S+) \(amd64\)/.exec(e.message)?.[1]);
  assert.ok(version !== undefined, 'sid has hello for amd64');
  const deb = join(dir.path, `hello_${version}_amd64.deb`);
  await copyFile(await archive.fetch(await archive.find({ ...HELLO, version }, 'amd64')), deb);
  const same = await runKiln(['verify', '--suite', 'sid', '--no-check-valid-until', deb], { state, timeoutMs: 240_000 });
  assert.equal(same.code, 0, explain(same));
  assert.match(same.stdout, /reproducible: identical bytes/, explain(same));
  const release = await createIndexes({ cacheDir: cache, downloads, checkValidUntil: false }).release(mirror ?? '', 'sid');
  if (release.release.validUntil === undefined || release.release.validUntil.getTime() > Date.now()) return;
  const refused = await runKiln(['verify', '--suite', 'sid', deb], { state, timeoutMs: 240_000 });
  assert.equal(refused.code, 1, explain(refused));
  assert.match(refused.stdout + refused.stderr, /expired on .*\(Valid-Until\)/, explain(refused));
  assert.match(refused.stdout + refused.stderr, /--no-check-valid-until/, explain(refused));
});
