// kiln build --ccache through the real CLI: a small C package compiled by gcc in its
// recipe script, built with a cold cache (misses), then again after a release bump (hits,
// though each job builds in its own workspace); --no-ccache over kiln.toml's `ccache =
// true`; `kiln cache du` shows the cache; a ccache.conf planted in the cache directory is not
// read (kiln's own config is, through CCACHE_CONFIGPATH). With the chroot sandbox and the shared bookworm
// env (made without ccache): the build goes on without it, and says why and what to do.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, runKiln, type KilnResult } from '../helpers/run-kiln.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';

const HOST_CCACHE = existsSync('/usr/lib/ccache/gcc') && existsSync('/usr/bin/ccache');
const ARCH = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();

/** A recipe that writes six C files and compiles them one by one with gcc, by their workspace paths. */
function cRecipe(release: number): string {
  const script = [
    'for i in 1 2 3 4 5; do printf "int f%d(int x) { return x * %d + 1; }\\n" $i $i > f$i.c; done',
    'printf "int f1(int);\\nint main(void) { return f1(0) - 1; }\\n" > main.c',
    // Absolute paths and -g (which hashes the current directory): as cmake builds compile.
    'for f in *.c; do gcc -g -O2 -I"$SRCDIR" -c "$SRCDIR/$f" -o "${f%.c}.o"; done',
    'gcc -o hello *.o',
    'install -D -s -m 755 hello "$DESTDIR/usr/bin/hello"',
  ].join('\n');
  return `name = "hello"\nversion = "1.0"\nrelease = ${release}\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = '''\n${script}\n'''\n`;
}

async function writeTree(tree: string, release: number, kilnToml = ''): Promise<void> {
  await mkdir(join(tree, 'hello'), { recursive: true });
  await writeFile(join(tree, 'hello', 'recipe.toml'), cRecipe(release));
  await writeFile(join(tree, 'kiln.toml'), kilnToml);
}

/** ccache's counters of one cache directory. */
function stats(dir: string): Record<string, number> {
  const out = execFileSync('ccache', ['--print-stats'], { env: { PATH: '/usr/bin:/bin', CCACHE_DIR: dir }, encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('\t')).map(([k, v]) => [k!, Number(v)]));
}
const hits = (s: Record<string, number>): number => (s['direct_cache_hit'] ?? 0) + (s['preprocessed_cache_hit'] ?? 0);

async function logOf(r: KilnResult): Promise<string> {
  const started = eventsOf(r.events, 'job-started');
  assert.equal(started.length, 1, explain(r));
  return readFile(started[0]!.log, 'utf8');
}

test('--ccache on the host: misses on the first build, hits after a release bump in another workspace; --no-ccache over kiln.toml; cache du', { skip: HOST_CCACHE ? false : 'no ccache on this host (scripts/setup.sh installs it)', timeout: 120_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const cacheDir = join(state, 'cache', 'ccache', `host-${ARCH}`);
  const build = async (...extra: string[]): Promise<KilnResult> => {
    const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json', ...extra]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.summary?.counts.built, 1, explain(r));
    return r;
  };

  // What an earlier build could have written into the shared directory: ccache must not read it.
  const spied = join(dir.path, 'prefix-command-ran');
  await mkdir(cacheDir, { recursive: true });
  await writeFile(join(dir.path, 'spy'), `#!/bin/sh\ntouch '${spied}'\nexec "$@"\n`);
  await chmod(join(dir.path, 'spy'), 0o755);
  await writeFile(join(cacheDir, 'ccache.conf'), `prefix_command = ${join(dir.path, 'spy')}\n`);

  await writeTree(tree, 1);
  const first = await build('--ccache', '--ccache-size', '64M');
  const log = await logOf(first);
  assert.ok(log.includes(`CCACHE_DIR='${cacheDir}'\n`), log);
  assert.ok(log.includes(`CCACHE_CONFIGPATH='${join(state, 'cache', 'ccache', '.conf', `host-${ARCH}`, 'ccache.conf')}'\n`), log);
  assert.equal(existsSync(spied), false, 'the planted ccache.conf was read');
  assert.match(log, /PATH='\/usr\/lib\/ccache:/);
  assert.match(log, /CCACHE_MAXSIZE='67108k'/);
  const cold = stats(cacheDir);
  assert.equal(hits(cold), 0, JSON.stringify(cold));
  assert.ok(cold['cache_miss']! >= 6, JSON.stringify(cold));

  // A new release: a new key, built in a new workspace (the host sandbox's paths differ per job).
  await writeTree(tree, 2);
  await build('--ccache');
  const warm = stats(cacheDir);
  assert.ok(hits(warm) >= 6, JSON.stringify(warm));
  assert.equal(warm['cache_miss'], cold['cache_miss'], 'no new misses');

  // kiln.toml turns it on; --no-ccache turns it off again: ccache is not called at all.
  await writeTree(tree, 3, 'ccache = true\n');
  const off = await build('--no-ccache');
  assert.doesNotMatch(await logOf(off), /CCACHE_DIR/);
  assert.deepEqual(stats(cacheDir), warm);
  await writeTree(tree, 4, 'ccache = true\n');
  await build();
  assert.ok(hits(stats(cacheDir)) >= 12);

  // ccache is not part of the input key: the same release built with and without it is up to date.
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json', '--no-ccache']);
  assert.equal(again.summary?.counts['up-to-date'], 1, explain(again));

  const du = await runKiln(['cache', 'du', '--state', state, '--json']);
  assert.equal(du.code, 0, explain(du));
  const usage = JSON.parse(du.stdout) as Record<string, { count: number; bytes: number }>;
  assert.equal(usage['ccache']?.count, 1);
  assert.ok(usage['ccache']!.bytes > 0);
});

test('--ccache in an env made without ccache (chroot): built without it, said once with the fix', { skip: sharedEnvSkip(), timeout: 5 * 60_000 }, async (t) => {
  const env = await sharedEnv();
  const layers = join(env.KILN_ENVS, 'bookworm-amd64', 'versions');
  if (readdirSync(layers).some((v) => existsSync(join(layers, v, 'root', 'usr', 'bin', 'ccache')))) return t.skip('the shared env has ccache');
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  await writeTree(tree, 1, 'env = "bookworm-{arch}"\nsandbox = "chroot"\narchs = ["amd64"]\n');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--ccache'], { env, timeoutMs: 4 * 60_000 });
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.summary?.counts.built, 1, explain(r));
  const notes = eventsOf(r.events, 'note').filter((e) => e.text.includes('ccache'));
  assert.equal(notes.length, 1, explain(r));
  assert.match(notes[0]!.text, /env bookworm-amd64 has no ccache .*built without a compiler cache.*kiln env create bookworm-amd64 --include ccache/);
  const log = await logOf(r);
  assert.match(log, /has no ccache/);
  assert.doesNotMatch(log, /CCACHE_DIR=/);
  assert.equal(existsSync(join(state, 'cache', 'ccache', 'bookworm-amd64-amd64-chroot')), false);
});
