// A build that installs symlinks to /etc/shadow (absolute, and relative with enough `..`
// to climb out of any root): the artifact stores them as links (the manifest says
// symlink, with the target), never follows them (the archive holds none of the host's
// shadow bytes), and staging the package into a dependent's sysroot leaves them links
// and changes nothing on the host. Run on the host sandbox always (kiln is root here, so
// following the link would read the real /etc/shadow), and in the chroot sandbox of the
// shared bookworm env when slow tests may run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { ManifestEntry } from '../../src/cache/archive.ts';
import { sha256 } from '../../src/lib/hash.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { rootlessUnavailable } from '../../src/sandbox/rootless/probe.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, runKiln } from '../helpers/run-kiln.ts';

const SHADOW = '/etc/shadow';
const RELATIVE = '../../../../../../../../etc/shadow';

async function writeTree(tree: string): Promise<void> {
  await mkdir(join(tree, 'leaky'), { recursive: true });
  await mkdir(join(tree, 'reader'), { recursive: true });
  await writeFile(
    join(tree, 'leaky', 'recipe.toml'),
    `name = "leaky"
version = "1"
summary = "installs links to /etc/shadow"
license = "MIT"
[build]
script = '''
mkdir -p "$DESTDIR/etc" "$DESTDIR/usr/share/leaky"
ln -s ${SHADOW} "$DESTDIR/etc/shadow-link"
ln -s ${RELATIVE} "$DESTDIR/usr/share/leaky/up"
echo data > "$DESTDIR/usr/share/leaky/data"
'''
`,
  );
  // The dependent checks, inside its own build, that what was staged are still links.
  await writeFile(
    join(tree, 'reader', 'recipe.toml'),
    `name = "reader"
version = "1"
summary = "build-depends on leaky"
license = "MIT"
build-depends = ["leaky"]
[build]
script = '''
test -L "$SYSROOT/etc/shadow-link"
test "$(readlink "$SYSROOT/etc/shadow-link")" = ${SHADOW}
test -L "$SYSROOT/usr/share/leaky/up"
test "$(readlink "$SYSROOT/usr/share/leaky/up")" = ${RELATIVE}
test "$(cat "$SYSROOT/usr/share/leaky/data")" = data
mkdir -p "$DESTDIR/usr/share/reader"
echo staged-as-links > "$DESTDIR/usr/share/reader/ok"
'''
`,
  );
}

async function checkBuild(sandbox: 'host' | 'chroot', env: Readonly<Record<string, string>>, extra: readonly string[]): Promise<void> {
  await using dir = await tmpDir(`kiln-symlink-${sandbox}-`);
  const tree = join(dir.path, 'tree');
  await writeTree(tree);
  const shadowBefore = sha256(readFileSync(SHADOW));
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--sandbox', sandbox, '--json', ...extra], { env, timeoutMs: 5 * 60_000 });
  assert.equal(r.code, 0, explain(r));
  const finished = eventsOf(r.events, 'job-finished');
  assert.deepEqual(finished.map((e) => `${e.name} ${e.state}`).sort(), ['leaky built', 'reader built'], explain(r));

  const leaky = finished.find((e) => e.name === 'leaky')!;
  assert.ok(leaky.artifact !== undefined && existsSync(leaky.artifact), `leaky's artifact ${leaky.artifact}`);
  const manifest = JSON.parse(await readFile(join(dirname(leaky.artifact), 'manifest.json'), 'utf8')) as ManifestEntry[];
  const byPath = new Map(manifest.map((m) => [m.path, m]));
  for (const [path, target] of [['etc/shadow-link', SHADOW], ['usr/share/leaky/up', RELATIVE]] as const) {
    const m = byPath.get(path);
    assert.equal(m?.type, 'symlink', `${path} in the manifest: ${JSON.stringify(m)}`);
    assert.equal(m.target, target);
    assert.equal(m.size, 0);
    assert.equal(m.sha256, undefined, 'a link has no content hash: it was not read through');
  }

  // The archive itself: links as tar link members, and no byte of the host's shadow.
  const listing = spawnSync('tar', ['-tvf', leaky.artifact], { encoding: 'utf8' });
  assert.equal(listing.status, 0, listing.stderr);
  assert.match(listing.stdout, /^l.* etc\/shadow-link -> \/etc\/shadow$/m);
  assert.match(listing.stdout, /^l.* usr\/share\/leaky\/up -> (\.\.\/)+etc\/shadow$/m);
  const raw = spawnSync('zstd', ['-dc', leaky.artifact], { maxBuffer: 64 << 20 });
  assert.equal(raw.status, 0, String(raw.stderr));
  const shadow = readFileSync(SHADOW);
  assert.ok(shadow.length > 0);
  // Every non-empty line of the real shadow file, e.g. root's hash: none may be in the archive.
  for (const line of shadow.toString('utf8').split('\n').filter((l) => l.length > 8)) {
    assert.equal(raw.stdout.includes(Buffer.from(line)), false, `the archive holds a line of ${SHADOW}`);
  }

  // Staging into the dependent kept them links (reader's script checked it) and wrote nothing through them.
  assert.equal(sha256(readFileSync(SHADOW)), shadowBefore, `${SHADOW} is unchanged`);
  assert.equal(finished.find((e) => e.name === 'reader')?.state, 'built');
}

test('an output symlink to /etc/shadow is stored as a link and never followed (host sandbox)', { skip: process.getuid?.() !== 0 ? 'needs root to read /etc/shadow (what a followed link would leak)' : false, timeout: 120_000 }, async () => {
  await checkBuild('host', {}, []);
});

const skipChroot = sharedEnvSkip();
test('an output symlink to /etc/shadow is stored as a link and never followed (chroot sandbox)', { skip: skipChroot ?? false, timeout: 20 * 60_000 }, async () => {
  const env = await sharedEnv();
  await checkBuild('chroot', env, ['--env', 'bookworm-{arch}']);
});

/**
 * A build that replaces $DESTDIR itself with a symlink to a folder of the host (in the
 * rootless sandbox the build owns /kiln, so it can): kiln, packing on the host with its
 * own rights, must not walk or pack what the link names. The job fails `bad-output`,
 * nothing is stored, and the folder's file is in no archive. So for a $DESTDIR removed.
 */
async function checkDestReplaced(sandbox: 'host' | 'rootless', env: Readonly<Record<string, string>>, extra: readonly string[]): Promise<void> {
  await using dir = await tmpDir(`kiln-dest-link-${sandbox}-`);
  const secret = join(dir.path, 'secret');
  await mkdir(secret, { mode: 0o755 });
  await writeFile(join(secret, 'token'), 'kiln-test-secret-bytes\n', { mode: 0o644 });
  const tree = join(dir.path, 'tree');
  for (const [name, script] of [['linked', `rm -rf "$DESTDIR"; ln -s ${secret} "$DESTDIR"`], ['removed', 'rm -rf "$DESTDIR"']] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), `name = "${name}"\nversion = "1"\nsummary = "replaces its DESTDIR"\nlicense = "MIT"\n[build]\nscript = '''\n${script}\n'''\n`);
  }
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', sandbox, '--json', ...extra], { env, timeoutMs: 5 * 60_000 });
  assert.equal(r.code, 1, explain(r));
  const finished = eventsOf(r.events, 'job-finished');
  const linked = finished.find((e) => e.name === 'linked');
  assert.equal(linked?.state, 'failed', explain(r));
  assert.equal(linked.artifact, undefined);
  assert.match(linked.failure?.message ?? '', /output folder \(\$DESTDIR\) is a symlink to .*secret: the build replaced it/, explain(r));
  const removed = finished.find((e) => e.name === 'removed');
  assert.equal(removed?.state, 'failed', explain(r));
  assert.match(removed.failure?.message ?? '', /output folder \(\$DESTDIR\) is gone/, explain(r));
  // Nothing stored at all: no archive anywhere in the cache can hold the secret.
  const archives = spawnSync('find', [join(state, 'cache'), '-name', '*.tar.zst'], { encoding: 'utf8' });
  assert.equal(archives.status, 0, archives.stderr);
  assert.equal(archives.stdout.trim(), '', 'no archive stored');
  assert.equal(spawnSync('grep', ['-rl', 'kiln-test-secret-bytes', state]).status, 1, 'the secret is nowhere in the state directory');
}

test('--twice: a second build that replaces $DESTDIR with a symlink is not compared; kiln reads nothing the link names (host sandbox)', { timeout: 120_000 }, async () => {
  await using dir = await tmpDir('kiln-dest-link-twice-');
  const secret = join(dir.path, 'secret');
  await mkdir(secret, { mode: 0o755 });
  await writeFile(join(secret, 'token'), 'kiln-test-secret-bytes\n', { mode: 0o644 });
  const tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'twicey'), { recursive: true });
  // The first build installs a file; the second (its sources one folder down) swaps $DESTDIR for a link.
  await writeFile(join(tree, 'twicey', 'recipe.toml'), `name = "twicey"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = '''\ncase "$PWD" in */kiln-twice) rm -rf "$DESTDIR"; ln -s ${secret} "$DESTDIR";; *) mkdir -p "$DESTDIR"; echo placeholder > "$DESTDIR/token";; esac\n'''\n`);
  const state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--twice', '--json'], { timeoutMs: 60_000 });
  // The first build's own output is sound and kept; the comparison is refused, and says why.
  assert.equal(r.code, 0, explain(r));
  const job = eventsOf(r.events, 'job-finished').find((e) => e.name === 'twicey');
  assert.equal(job?.state, 'built', explain(r));
  assert.ok(job.warnings?.some((w) => /^not compared \(--twice\): .*output folder \(\$DESTDIR\) is a symlink to .*secret/.test(w)), explain(r));
  assert.equal(spawnSync('grep', ['-rl', 'kiln-test-secret-bytes', state]).status, 1, 'the secret is nowhere in the state directory (log, kept copies)');
});

test('a build that replaces $DESTDIR with a symlink fails and stores nothing of what it names (host sandbox)', { timeout: 120_000 }, async () => {
  await checkDestReplaced('host', {}, []);
});

test('a build that replaces $DESTDIR with a symlink fails and stores nothing of what it names (rootless sandbox)', { skip: sharedEnvSkip() ?? rootlessUnavailable(), timeout: 20 * 60_000 }, async () => {
  const env = await sharedEnv();
  await checkDestReplaced('rootless', env, ['--env', 'bookworm-{arch}']);
});
