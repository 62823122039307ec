// Source packages in kiln's signed apt repository, for real: a small package made with
// dpkg-source -b, published with `kiln repo publish`, fetched with the host's own apt-get
// (`apt-get update`, `apt-get source --download-only`) through a deb-src line trusted by
// kiln's exported key alone. apt runs with a configuration of its own (APT_CONFIG: no host
// config, sources, keys, lists, cache or lock), so nothing of the host's apt state changes.
// Also: the same .dsc again is unchanged, a changed one of the same version a conflict, a
// missing listed file an error naming it (nothing published); `kiln repo list` / `remove`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from '../../src/lib/hash.ts';
import { buildTestSource } from '../../src/publish/apt-repo-test-debs.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

const execFileP = promisify(execFile);
const missing = ['/usr/bin/apt-get', '/usr/bin/dpkg-source', '/usr/bin/gpgv'].filter((p) => !existsSync(p));
const skip = missing.length > 0 ? `not installed on the host: ${missing.join(', ')}` : undefined;
const SUITE = 'bookworm';

/** An apt configuration under `root` that reads and writes nothing of the host's. */
async function isolatedApt(root: string, line: string): Promise<(args: string[], cwd?: string) => Promise<{ code: number; out: string }>> {
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/empty']) await mkdir(join(root, d), { recursive: true });
  const none = join(root, 'etc/empty');
  await writeFile(join(root, 'etc/sources.list'), `${line}\n`);
  const conf = {
    'Dir::Etc::Parts': none, 'Dir::Etc::Main': '/nonexistent',
    'Dir::Etc::SourceList': join(root, 'etc/sources.list'), 'Dir::Etc::SourceParts': none,
    'Dir::Etc::Trusted': '/nonexistent', 'Dir::Etc::TrustedParts': none,
    'Dir::Etc::Preferences': '/nonexistent', 'Dir::Etc::PreferencesParts': none,
    'Dir::State::Lists': join(root, 'lists'), 'Dir::State::status': '/dev/null', 'Dir::Cache': join(root, 'cache'),
    'Debug::NoLocking': '1', 'APT::Sandbox::User': userInfo().username,
  };
  const file = join(root, 'etc/apt.conf');
  // APT_CONFIG is read first, before the host's apt.conf.d (which Dir::Etc::Parts then skips).
  await writeFile(file, Object.entries(conf).map(([k, v]) => `${k} "${v}";\n`).join(''));
  return async (args, cwd = root) => {
    try {
      const r = await execFileP('apt-get', args, { cwd, env: { ...process.env, APT_CONFIG: file, LC_ALL: 'C' } });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
    }
  };
}

test('apt-get source fetches a source package from kiln\'s signed repository; version rules and errors as for binaries', { skip, timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-aptrepo-src-it-');
  const state = join(dir.path, 'state');
  const repo = join(dir.path, 'repo');
  const [src, changed, broken, fetched] = ['src', 'changed', 'broken', 'fetched'].map((d) => join(dir.path, d)) as [string, string, string, string];
  for (const d of [src, changed, broken, fetched]) await mkdir(d);
  assert.equal((await runKiln(['key', 'create', '--state', state])).code, 0);
  const keyring = join(dir.path, 'kiln.gpg');
  const exported = await runKiln(['key', 'export', '--binary', '-o', keyring, '--state', state]);
  assert.equal(exported.code, 0, explain(exported));

  const dsc = await buildTestSource(src, { source: 'kiln-src', upstream: '1.0' });
  const published = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, src, '--state', state]);
  assert.equal(published.code, 0, explain(published));
  assert.match(published.stdout, /kiln-src 1\.0-1 source: added/);
  assert.match(published.stdout, new RegExp(`deb-src \\[signed-by=KEYFILE\\] file:${repo} ${SUITE} main`));
  const listed = await runKiln(['repo', 'list', '--repo', repo, '--state', state]);
  assert.match(listed.stdout, /^bookworm\/main\s+kiln-src\s+1\.0-1\s+source\s+pool\/main\/k\/kiln-src\/kiln-src_1\.0-1\.dsc$/m, explain(listed));

  const apt = await isolatedApt(join(dir.path, 'apt'), `deb-src [signed-by=${keyring}] file:${repo} ${SUITE} main`);
  const update = await apt(['update']);
  assert.equal(update.code, 0, update.out);
  assert.doesNotMatch(update.out, /^(W|E): /m, update.out);
  assert.match(update.out, / bookworm\/main Sources /, update.out);
  const got = await apt(['source', '--download-only', 'kiln-src'], fetched);
  assert.equal(got.code, 0, got.out);
  assert.match(got.out, /kiln-src 1\.0-1 \(dsc\)/, got.out);
  const names = ['kiln-src_1.0-1.dsc', 'kiln-src_1.0.orig.tar.gz', 'kiln-src_1.0-1.debian.tar.xz'];
  assert.deepEqual((await readdir(fetched)).sort(), [...names].sort());
  for (const n of names) assert.equal(sha256(await readFile(join(fetched, n))), sha256(await readFile(join(src, n))), n);

  // The same again: unchanged. Another .dsc of 1.0-1: a conflict. A listed file missing: named.
  const tree = await readlink(join(repo, 'dists'));
  const again = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, dsc, '--state', state]);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /kiln-src 1\.0-1 source: unchanged/);
  const other = await buildTestSource(changed, { source: 'kiln-src', upstream: '1.0', salt: 'changed' });
  const conflict = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, other, '--state', state]);
  assert.notEqual(conflict.code, 0, explain(conflict));
  assert.match(conflict.stderr, /\[conflict\].*kiln-src 1\.0-1 \(source\) is already published with other content/, explain(conflict));
  const brokenDsc = await buildTestSource(broken, { source: 'kiln-broken', upstream: '2' });
  await rm(join(broken, 'kiln-broken_2.orig.tar.gz'));
  const bad = await runKiln(['repo', 'publish', '--repo', repo, '--suite', SUITE, broken, '--state', state]);
  assert.notEqual(bad.code, 0, explain(bad));
  assert.ok(bad.stderr.includes(`${brokenDsc} lists kiln-broken_2.orig.tar.gz, which is not readable beside it`), explain(bad));
  assert.equal(await readlink(join(repo, 'dists')), tree, 'nothing was published');
  assert.equal(existsSync(join(repo, 'pool/main/k/kiln-broken')), false);

  // kiln repo remove NAME:source: apt finds no source any more; the pool files stay one
  // generation (for kiln repo rollback).
  const removed = await runKiln(['repo', 'remove', '--repo', repo, '--suite', SUITE, 'kiln-src:source', '--state', state]);
  assert.equal(removed.code, 0, explain(removed));
  assert.match(removed.stdout, /removed kiln-src 1\.0-1 source/);
  assert.equal(existsSync(join(repo, 'pool/main/k/kiln-src/kiln-src_1.0-1.dsc')), true);
  assert.equal((await apt(['update'])).code, 0);
  const gone = await apt(['source', '--download-only', 'kiln-src'], fetched);
  assert.notEqual(gone.code, 0, gone.out);
  // (apt says so in one of two ways: the suite's Sources is empty now.)
  assert.match(gone.out, /Unable to find a source package for kiln-src|You must put some 'deb-src' URIs/, gone.out);
  // The host's apt lists never saw this repository.
  const hostLists = await readdir('/var/lib/apt/lists').catch(() => []);
  assert.ok(!hostLists.some((f) => f.includes('kiln-aptrepo-src-it')), hostLists.join(' '));
});
