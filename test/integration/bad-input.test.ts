// Bad input at the command line, found by a sweep of kiln's verbs: each is refused up
// front with the right code (usage and config errors exit 2) and a message naming the
// flag, file or key and what to do, instead of an internal error, a late download or
// bootstrap failure, another flag's name, or silence.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../helpers/recipe-text.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

async function tree(root: string, kilnToml?: (dir: string) => Promise<void>): Promise<string> {
  await mkdir(join(root, 'hello'), { recursive: true });
  await writeFile(join(root, 'hello', 'recipe.toml'), recipeText({ name: 'hello', script: 'true' }));
  await kilnToml?.(root);
  return root;
}

test('flag values: each message names its own flag, exit 2', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const t = await tree(join(dir.path, 't'));
  const cases: [string[], RegExp][] = [
    [['build', '--debian', 'bookworm', '--cpus', '0', 'hello'], /^kiln: error \[usage\]: --cpus: expected a whole number of at least 1, got "0"$/m],
    [['serve', '--max-concurrent-builds', '0'], /^kiln: error \[usage\]: --max-concurrent-builds: expected a whole number of at least 1, got "0"$/m],
    [['serve', '--bundle-max-entries', '0'], /^kiln: error \[usage\]: --bundle-max-entries: expected a whole number of at least 1, got "0"$/m],
    [['serve', '--max-priority', '101'], /^kiln: error \[usage\]: --max-priority: 101 is too large \(at most 100\)$/m],
    [['build', '--debian', 'bookworm', '--mirror', 'notaurl', 'hello'], /^kiln: error \[usage\]: --mirror: "notaurl" is not an http:\/\/, https:\/\/ or file:\/\/ URL$/m],
    [['env', 'create', 'x', '--suite', 'bookworm', '--arch', 'amd64', '--mirror', 'notaurl'], /^kiln: error \[usage\]: --mirror: "notaurl" is not an http:\/\/, https:\/\/ or file:\/\/ URL$/m],
    [['plan', '--tree', t, '--arch', 'amd64,,arm64'], /^kiln: error \[usage\]: --arch: "amd64,,arm64" has an empty item$/m],
    [['plan', '--tree', t, '--profiles', ''], /^kiln: error \[usage\]: --profiles: "" has an empty name$/m],
    [['build', '--tree', t, '--log-limit', '1.5'], /^kiln: error \[usage\]: --log-limit: "1\.5" is 1 byte, less than the least --log-limit takes, 1 MiB$/m],
    [['key', 'create', '--name', ''], /^kiln: error \[usage\]: --name: "" is empty$/m],
    [['cache', 'gc', '--older-than', '1d', '--older-than', '2d', '--dry-run'], /^kiln: error \[usage\]: --older-than is given more than once$/m],
    [['history', 'hello', '--arch', 'nonsense'], /^kiln: error \[usage\]: --arch: "nonsense" is not a Debian architecture name$/m],
    [['build', '--tree', t, '--min-free', '99999T'], /^kiln: error \[usage\]: --min-free: "99999T" is too large \(at most 8191T\)$/m],
    [['build', '--tree', t, '--nats', 'not a url'], /^kiln: error \[usage\]: --nats: "not a url" is not a NATS server address$/m],
    [['verify', '/etc/hostname', '--suite', 'bookworm', '--mirror', 'notaurl'], /^kiln: error \[usage\]: --mirror: "notaurl" is not an http:\/\/, https:\/\/ or file:\/\/ URL$/m],
    // An unset shell variable must not mean the current folder.
    [['build', '--tree', ''], /^kiln: error \[usage\]: --tree: the path is empty$/m],
    [['fetch', '--tree', ' '], /^kiln: error \[usage\]: --tree: the path is empty$/m],
    [['repo', 'list', '--repo', ''], /^kiln: error \[usage\]: --repo: the path is empty$/m],
    [['build', '--tree', t, '--cache', ''], /^kiln: error \[usage\]: --cache: the path is empty$/m],
    [['rootfs', '', 'hello'], /^kiln: error \[usage\]: OUT is empty: name the root folder to make/m],
  ];
  for (const [args, message] of cases) {
    const r = await runKiln([...args, '--state', state], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${explain(r)}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /^ {2}hint: /m, args.join(' '));
  }
  // An empty build id is refused before anything is asked of the server.
  const cancel = await runKiln(['cancel', '', '--server', 'http://127.0.0.1:9', '--token', 'x']);
  assert.equal(cancel.code, 2, explain(cancel));
  assert.match(cancel.stderr, /^kiln: error \[usage\]: "" is not a build id$/m);
  // A cache that is a file is named, and the new state directory is not made.
  await writeFile(join(dir.path, 'a-file'), '');
  const fresh = join(dir.path, 'fresh-state');
  const r = await runKiln(['build', '--tree', t, '--state', fresh, '--cache', join(dir.path, 'a-file')]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /^kiln: error \[path-unusable\]: the cache directory \(--cache or \$KILN_CACHE\) \S+\/a-file is not a directory$/m);
  assert.equal(existsSync(fresh), false);
});

test('--json: an error that stops kiln is a JSON line on stdout too (code, message, hint, exit status)', async () => {
  await using dir = await tmpDir();
  const t = await tree(join(dir.path, 't'), (root) => writeFile(join(root, 'kiln.toml'), 'colour = 1\n'));
  const r = await runKiln(['build', '--tree', t, '--state', join(dir.path, 'state'), '--json']);
  assert.equal(r.code, 2, explain(r));
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { type: string; code: string; message: string; hint?: string; exitCode: number };
  assert.equal(last.type, 'error');
  assert.equal(last.code, 'config-invalid');
  assert.match(last.message, /kiln\.toml: unknown key "colour"/);
  assert.equal(last.exitCode, 2);
});

test('kiln.toml that is a directory or a dangling symlink, or names a bad env: config-invalid naming it', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const asDir = await tree(join(dir.path, 'a'), (d) => mkdir(join(d, 'kiln.toml')));
  const r1 = await runKiln(['plan', '--tree', asDir, '--state', state]);
  assert.equal(r1.code, 2, explain(r1));
  assert.match(r1.stderr, new RegExp(`^kiln: error \\[config-invalid\\]: ${join(asDir, 'kiln.toml')} is a directory, not a file$`, 'm'));
  const dangling = await tree(join(dir.path, 'b'), (d) => symlink(join(d, 'gone.toml'), join(d, 'kiln.toml')));
  const r2 = await runKiln(['plan', '--tree', dangling, '--state', state]);
  assert.equal(r2.code, 2, explain(r2));
  assert.match(r2.stderr, /\[config-invalid\]: \S+\/kiln\.toml is a symlink to "\S+\/gone\.toml", which does not exist$/m);
  const badEnv = await tree(join(dir.path, 'c'), (d) => writeFile(join(d, 'kiln.toml'), 'env = "Bad Env!"\n'));
  const r3 = await runKiln(['plan', '--tree', badEnv, '--state', state]);
  assert.equal(r3.code, 2, explain(r3));
  assert.match(r3.stderr, /^kiln: error \[config-invalid\]/m);
  assert.match(r3.stderr, /kiln\.toml: env: "Bad Env!" is not an env name: use lower-case letters/);
});

test('history --arch of an arch the package has no builds of names the arches it has', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const t = await tree(join(dir.path, 't'));
  await mkdir(join(t, 'doc'), { recursive: true });
  await writeFile(join(t, 'doc', 'recipe.toml'), recipeText({ name: 'doc', script: 'true' }).replace('license = "MIT"', 'license = "MIT"\narchs = ["all"]'));
  const build = await runKiln(['build', '--tree', t, '--state', state, '--sandbox', 'host', '--arch', 'amd64'], { timeoutMs: 60_000 });
  assert.equal(build.code, 0, explain(build));
  // `all` is the arch of an arch-independent package's job: history and logs take it.
  for (const command of ['history', 'logs']) {
    const all = await runKiln([command, 'doc', '--arch', 'all', '--state', state]);
    assert.equal(all.code, 0, `${command}: ${explain(all)}`);
  }
  const r = await runKiln(['history', 'hello', '--arch', 'riscv64', '--state', state]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /^kiln: error \[package-not-found\]: no recorded builds of "hello" for riscv64 in \S+; it has builds for amd64$/m);
  assert.match(r.stderr, /^ {2}hint: .*kiln history hello --arch amd64/m);
  const unknown = await runKiln(['history', 'nosuch', '--arch', 'riscv64', '--state', state]);
  assert.match(unknown.stderr, /no recorded builds of "nosuch" in /);
  // A typo: the name nearest among the recorded ones.
  const typo = await runKiln(['history', 'helo', '--state', state]);
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /no recorded builds of "helo" in \S+ \(did you mean "hello"\?\)/);
  // kiln logs of a name no run had says so (not that the package did not run).
  const logs = await runKiln(['logs', 'helo', '--state', state]);
  assert.equal(logs.code, 2, explain(logs));
  assert.match(logs.stderr, /\[package-not-found\]: no package "helo" in the records of \S+ \(did you mean "hello"\?\)/);
  assert.doesNotMatch(logs.stderr, /only packages that ran/);
});

test('env import of a file that is not a tarball, token revoke of no token, repo publish of an empty folder without a key', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const notTar = join(dir.path, 'afile');
  await writeFile(notTar, 'not a tar\n');
  const imp = await runKiln(['env', 'import', 'z', notTar, '--state', state]);
  assert.equal(imp.code, 2, explain(imp));
  assert.match(imp.stderr, /^kiln: error \[usage\]: \S+afile: not a root tarball: neither a tar archive nor a zstd, xz, gzip or bzip2 compressed one$/m);
  // A state without records (a mistyped --state) is said, and not made.
  const nowhere = join(dir.path, 'nowhere');
  for (const args of [['revoke', 'nosuch'], ['list']]) {
    const r = await runKiln(['token', ...args, '--state', nowhere]);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /^kiln: error \[usage\]: \S+nowhere holds no kiln state \(no \S+kiln\.db\): no tokens there$/m, explain(r));
  }
  assert.equal(existsSync(nowhere), false);
  const made = await runKiln(['token', 'create', 'alice', '--state', state]);
  assert.equal(made.code, 0, explain(made));
  const revoke = await runKiln(['token', 'revoke', 'nosuch', '--state', state]);
  assert.equal(revoke.code, 2, explain(revoke));
  assert.match(revoke.stderr, /^kiln: error \[token-not-found\]: no live token has the id or tenant "nosuch"$/m);
  const empty = join(dir.path, 'debs');
  await mkdir(empty);
  for (const what of [empty, join(dir.path, 'missing')]) {
    const pub = await runKiln(['repo', 'publish', what, '--state', state]);
    assert.equal(pub.code, 2, explain(pub));
    assert.match(pub.stderr, /^kiln: error \[usage\]: \S+: (has no \.deb, \.udeb or \.dsc files|no such file or directory)$/m, 'the input is checked before the key');
  }
  // env export into a folder that does not exist: said before anything is packed.
  const exp = await runKiln(['env', 'export', 'bookworm-amd64', join(dir.path, 'no-such-dir', 'x.tar.zst'), '--state', state]);
  assert.equal(exp.code, 2, explain(exp));
  assert.match(exp.stderr, /^kiln: error \[path-unusable\]: \S+no-such-dir: no such directory, so \S+x\.tar\.zst cannot be written$/m);
  // A .changes is not a package: said so, with what to give instead.
  const changes = join(empty, 'hello_2.10-3_amd64.changes');
  await writeFile(changes, 'Format: 1.8\n');
  const ch = await runKiln(['repo', 'publish', changes, '--state', state]);
  assert.equal(ch.code, 2, explain(ch));
  assert.match(ch.stderr, /^kiln: error \[usage\]: \S+hello_2\.10-3_amd64\.changes: not a package: kiln repo publish takes \.deb, \.udeb and \.dsc files/m);
  assert.match(ch.stderr, /hint: name the \.debs and \.dsc the \.changes lists, or the folder holding them/);
});

test('kiln repo: a broken .udeb is named as one (alone or in a folder); a --repo that is no repository, or a suite it lacks, is named', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const udeb = join(dir.path, 'd-i_1_amd64.udeb');
  await writeFile(udeb, 'not a package\n');
  const noKey = await runKiln(['repo', 'publish', udeb, '--state', state]);
  assert.equal(noKey.code, 2, explain(noKey));
  assert.match(noKey.stderr, /^kiln: error \[key-not-found\]: kiln has no signing key in /m);
  const key = await runKiln(['key', 'create', '--state', state]);
  assert.equal(key.code, 0, explain(key));
  const alone = await runKiln(['repo', 'publish', udeb, '--state', state]);
  assert.equal(alone.code, 1, explain(alone));
  assert.match(alone.stderr, /^kiln: error \[deb-invalid\]: \S+d-i_1_amd64\.udeb is not a readable \.udeb: /m);
  const folder = join(dir.path, 'out');
  await mkdir(folder);
  await writeFile(join(folder, 'x_1_amd64.udeb'), 'x\n');
  const inFolder = await runKiln(['repo', 'publish', folder, '--state', state]);
  assert.equal(inFolder.code, 1, explain(inFolder));
  assert.match(inFolder.stderr, /^kiln: error \[deb-invalid\]: \S+out\/x_1_amd64\.udeb is not a readable \.udeb: /m);
  const missing = await runKiln(['repo', 'list', '--repo', join(dir.path, 'nonexist'), '--state', state]);
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /^kiln: error \[usage\]: \S+nonexist: no apt repository there \(no dists\/\)$/m);
  await mkdir(join(dir.path, 'repo', 'dists', 'bookworm'), { recursive: true });
  const noSuite = await runKiln(['repo', 'list', '--repo', join(dir.path, 'repo'), '--suite', 'trixie', '--state', state]);
  assert.equal(noSuite.code, 2, explain(noSuite));
  assert.match(noSuite.stderr, /has no suite "trixie"\n {2}hint: its suites: bookworm/);
});

test('a host-sandbox build with a state directory whose path holds a space is refused before anything runs ($CPPFLAGS and $LDFLAGS would split); kiln plan says so', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'my state');
  const t = await tree(join(dir.path, 't'));
  const plan = await runKiln(['plan', '--tree', t, '--state', state, '--sandbox', 'host']);
  assert.equal(plan.code, 0, explain(plan));
  assert.match(plan.stderr, /the state directory ".*my state" holds a space: kiln build refuses it on the host sandbox/, explain(plan));
  const r = await runKiln(['build', '--tree', t, '--state', state, '--sandbox', 'host'], { timeoutMs: 60_000 });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /error \[path-unusable\]: the state directory ".*my state" holds a space: builds on the host sandbox get their workspace paths \(under it\) in \$CPPFLAGS and \$LDFLAGS/);
  assert.match(r.stderr, /hint: use a state directory whose path has no spaces/);
  assert.ok(!existsSync(join(state, 'runs')), 'no run was started');
});
