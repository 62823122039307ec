// The Debian flow's command-line refusals, through the real CLI and plan-only runs (a few
// seconds each, no build): Debian-only options with no Debian part, the host sandbox, an
// env of another suite, a suite or arch the mirror lacks named where it was given
// (--debian, or debian.toml), and Debian options passed through to a tree's debian.toml.
// The runs that read the archive's indexes skip without a Debian mirror in the host's apt
// sources; the env check needs the shared trixie env (KILN_TEST_ENVS) and skips without it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror, readAptSources } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource } from '../helpers/debian-source.ts';
import { REPO_ROOT, runKiln, type KilnResult } from '../helpers/run-kiln.ts';

const noMirror = (await hostDebianMirror({})) === undefined ? 'the host has no Debian mirror in its apt sources' : false;
const SHARED_CACHE = process.env['KILN_TEST_CACHE'] ?? '/var/tmp/kiln-test-cache';

function explain(r: KilnResult): string {
  return `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-3000)}\n--- stdout ---\n${r.stdout.slice(-2000)}`;
}

test('Debian-only options with no --debian, --dsc or debian.toml are a usage error naming them, and write nothing', async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const state = join(dir.path, 'state');
  const cases: [string[], RegExp][] = [
    // (--twice is for recipe trees too: not named.)
    [['build', '--tree', join(REPO_ROOT, 'examples'), '--twice', '--lintian'], /error \[usage\]: --lintian applies to Debian builds only.*no --debian SUITE, no --dsc, no debian\.toml/],
    [['build', '--tree', join(REPO_ROOT, 'examples'), '--verify', '--no-install-check'], /error \[usage\]: --no-install-check, --verify apply to Debian builds only/],
    [['plan', '--tree', join(REPO_ROOT, 'examples'), '--nocheck', '--cpus', '2'], /error \[usage\]: --nocheck, --cpus apply to Debian builds only/],
  ];
  for (const [args, re] of cases) {
    const r = await runKiln([...args, '--state', state]);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, re, explain(r));
  }
  assert.equal(existsSync(state), false, 'no state directory is made');
});

test('a Debian build with --sandbox host is refused at plan time (before any index is read)', async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  for (const verb of ['plan', 'build']) {
    const r = await runKiln([verb, '--debian', 'bookworm', 'hello', '--sandbox', 'host', '--mirror', 'http://127.0.0.1:9/debian', '--state', join(dir.path, 'state')]);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /error \[sandbox-unavailable\]: Debian source packages build only in an isolated sandbox with an env/, explain(r));
  }
});

test('--cross with --nats is refused before anything is planned: the workers build each job in an env of its own arch', async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const r = await runKiln(['build', '--debian', 'bookworm', 'hello', '--arch', 'arm64', '--cross', '--nats', 'nats://127.0.0.1:9', '--mirror', 'http://127.0.0.1:9/debian', '--state', join(dir.path, 'state')]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /error \[usage\]: --cross with --nats: not supported yet \(the workers build each job in an env of its own arch\)/, explain(r));
  assert.equal(existsSync(join(dir.path, 'state')), false, 'nothing planned, no state directory');
});

test('an unknown suite or arch is a clear error naming debian.toml or the flag; Debian options reach debian.toml', { skip: noMirror, timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const common = ['--state', join(dir.path, 'state'), '--cache', SHARED_CACHE];
  const tree = (name: string, toml: string): Promise<string> => writeFile(join(dir.path, `${name}.toml`), toml).then(async () => {
    const { mkdir, rename } = await import('node:fs/promises');
    await mkdir(join(dir.path, name));
    await rename(join(dir.path, `${name}.toml`), join(dir.path, name, 'debian.toml'));
    return join(dir.path, name);
  });
  const typo = await tree('typo', 'suite = "bookwrm"\nsources = ["hello"]\n');
  const r1 = await runKiln(['plan', '--tree', typo, ...common], { timeoutMs: 120_000 });
  assert.equal(r1.code, 2, explain(r1));
  assert.match(r1.stderr, new RegExp(`error \\[config-invalid\\]: ${join(typo, 'debian.toml')}: suite: the mirror \\S+ has no suite "bookwrm"`), explain(r1));
  assert.match(r1.stderr, /did you mean "bookworm"\?/, explain(r1));

  const r2 = await runKiln(['plan', '--debian', 'bookwrm', 'hello', ...common], { timeoutMs: 120_000 });
  assert.equal(r2.code, 2, explain(r2));
  assert.match(r2.stderr, /error \[usage\]: --debian: the mirror \S+ has no suite "bookwrm"/, explain(r2));

  const arch = await tree('arch', 'suite = "bookworm"\narchs = ["amd65"]\nsources = ["hello"]\n');
  const r3 = await runKiln(['plan', '--tree', arch, ...common], { timeoutMs: 120_000 });
  assert.equal(r3.code, 2, explain(r3));
  assert.match(r3.stderr, new RegExp(`error \\[config-invalid\\]: ${join(arch, 'debian.toml')}: archs: unknown architecture "amd65": bookworm has amd64 `), explain(r3));

  // --nocheck and --binary-indep with the tree's debian.toml: taken, not refused or ignored.
  const ok = await tree('ok', 'suite = "bookworm"\nsources = ["hello"]\n');
  const r4 = await runKiln(['plan', '--tree', ok, '--nocheck', '--no-install-check', '--json', ...common], { timeoutMs: 120_000 });
  assert.equal(r4.code, 0, explain(r4));
  const plain = await runKiln(['plan', '--tree', ok, '--no-install-check', '--json', ...common], { timeoutMs: 120_000 });
  const keyOf = (r: KilnResult): string => (JSON.parse(r.stdout) as { packages: { key: string }[] }).packages[0]!.key;
  assert.notEqual(keyOf(r4), keyOf(plain), '--nocheck changes the input key of the debian.toml build');
});

test('a Debian build in an env of another suite is refused at plan time with a hint', { skip: noMirror || sharedEnvSkip(), timeout: 20 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  // The shared sid riscv64 env (debian-riscv64.test.ts) for a bookworm run: another suite.
  const env = await sharedEnv('sid-riscv64', 'sid', 'riscv64', ['--no-check-valid-until']);
  const r = await runKiln(['plan', '--debian', 'bookworm', 'hello', '--env', 'sid-riscv64', '--no-install-check', '--state', join(dir.path, 'state'), '--cache', SHARED_CACHE], {
    env, timeoutMs: 120_000,
  });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /error \[config-invalid\]: env "sid-riscv64" is of suite sid, but this run builds Debian sources of bookworm/, explain(r));
  assert.match(r.stderr, /hint: .*--env "bookworm-\{arch\}"/, explain(r));
});

test('an env --env names that does not exist is refused (env-not-found, exit 2), not made under that name', { skip: noMirror, timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const state = join(dir.path, 'state');
  const r = await runKiln(['plan', '--debian', 'bookworm', 'hello', '--env', 'bookworm-amd46', '--no-install-check', '--state', state, '--cache', SHARED_CACHE], { timeoutMs: 120_000 });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /error \[env-not-found\]: env "bookworm-amd46" does not exist \(this run builds Debian sources of bookworm for \S+\)/, explain(r));
  assert.match(r.stderr, /hint: create it: kiln env create bookworm-amd46 --suite bookworm --arch \S+; or leave out --env/, explain(r));
  assert.doesNotMatch(r.stderr + r.stdout, /creating env/);
  assert.equal(existsSync(join(state, 'envs', 'bookworm-amd46')), false);
  // A name of kiln's form for another suite: not "create it" under a name that says another suite.
  const other = await runKiln(['plan', '--debian', 'bookworm', 'hello', '--arch', 'amd64', '--env', 'trixie-amd64', '--no-install-check', '--state', state, '--cache', SHARED_CACHE], { timeoutMs: 120_000 });
  assert.equal(other.code, 2, explain(other));
  assert.match(other.stderr, /error \[env-not-found\]: env "trixie-amd64" does not exist, and its name says trixie, but this run builds Debian sources of bookworm for amd64/, explain(other));
  assert.match(other.stderr, /hint: leave out --env .*--env "bookworm-\{arch\}"; to build trixie, use --debian trixie/, explain(other));
  assert.doesNotMatch(other.stderr, /kiln env create trixie-amd64 --suite bookworm/);
});

test('a local .dsc whose files do not match it is one broken package, named with why; the other sources still plan', { skip: noMirror, timeout: 5 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const rules = '#!/usr/bin/make -f\nbuild build-arch build-indep binary binary-arch binary-indep clean:\n\t@true\n';
  const source = (name: string): Promise<string> => makeSource(dir.path, name, { arch: 'all', buildDepends: 'make', control: `Package: ${name}\nArchitecture: all\nDescription: kiln test\n kiln test.\n`, rules, files: {} });
  const good = await source('kiln-good');
  const bad = await source('kiln-bad');
  // One byte of its tarball changed after the .dsc was made.
  await appendFile(join(dir.path, 'kiln-bad_1.0.tar.xz'), 'x');
  // (With a profile Debian does not register, and DEB_BUILD_OPTIONS set: both said, as kiln build says them.)
  const r = await runKiln(['plan', '--debian', 'bookworm', '--dsc', good, '--dsc', bad, '--no-install-check', '--profiles', 'nochek', '--json', '--state', join(dir.path, 'state'), '--cache', SHARED_CACHE], { timeoutMs: 120_000, env: { DEB_BUILD_OPTIONS: 'nocheck' } });
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /--profiles nochek: not one of Debian's build profiles \(did you mean "nocheck"\?\)/);
  assert.match(r.stderr, /DEB_BUILD_OPTIONS="nocheck" in your environment is not passed to the builds/);
  const planned = JSON.parse(r.stdout) as { packages: { name: string; version: string; state: string; reason?: string }[] };
  const byName = new Map(planned.packages.map((p) => [p.name, p]));
  assert.equal(byName.get('kiln-good')?.state, 'to-build', r.stdout);
  assert.equal(byName.get('kiln-bad')?.state, 'broken', r.stdout);
  assert.equal(byName.get('kiln-bad')?.version, '1.0', 'the version of its .dsc, not "?"');
  assert.match(byName.get('kiln-bad')?.reason ?? '', /^not buildable: /, 'a Debian package is not a recipe');
  assert.match(byName.get('kiln-bad')?.reason ?? '', /kiln-bad_1\.0\.tar\.xz does not match .*kiln-bad_1\.0\.dsc: expected sha256 \S+ \(\d+ bytes\), got \S+ \(\d+ bytes\)/, r.stdout);
});

test('--extra-repository: a bad line or key is a usage error before anything is read; the suite\'s -updates joins the plan; a suite the mirror lacks is named with the line', { timeout: 5 * 60_000 }, async (t) => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const state = join(dir.path, 'state');
  const common = ['plan', '--debian', 'bookworm', 'hello', '--no-install-check', '--state', state, '--cache', SHARED_CACHE];
  const cases: [string[], RegExp][] = [
    [['--extra-repository', 'deb [trusted=yes] http://repo.example/d bookworm'], /error \[usage\]: --extra-repository "deb \[trusted=yes\] http:\/\/repo\.example\/d bookworm": trusted= is not accepted/],
    [['--extra-repository', 'deb-src http://repo.example/d bookworm main'], /error \[usage\]: --extra-repository "deb-src .*": source lines are not read/],
    [['--extra-repository', 'deb http://repo.example/d bookworm', '--extra-repository-key', join(dir.path, 'nope.asc')], /error \[usage\]: --extra-repository-key \S+nope\.asc: \S+ does not exist/],
  ];
  for (const [args, re] of cases) {
    const r = await runKiln([...common, ...args]);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, re, explain(r));
  }
  if (noMirror) {
    t.skip(noMirror);
    return;
  }
  const mirror = (await hostDebianMirror({}))!;
  await writeFile(join(dir.path, 'k.asc'), '');
  const keyAlone = await runKiln([...common, '--extra-repository-key', join(dir.path, 'k.asc')], { timeoutMs: 120_000 });
  assert.equal(keyAlone.code, 2, explain(keyAlone));
  assert.match(keyAlone.stderr, /--extra-repository-key names a key for extra repositories, but this run has none/, explain(keyAlone));
  const typo = await runKiln([...common, '--extra-repository', `deb ${mirror} bookworm-updatez main`], { timeoutMs: 120_000 });
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /error \[usage\]: --extra-repository "deb \S+ bookworm-updatez main": the mirror \S+ has no suite "bookworm-updatez"/, explain(typo));
  // The Debian archive keyring signs -updates: no key to give.
  const updates = await runKiln([...common, '--json', '--extra-repository', `deb ${mirror} bookworm-updates main`], { timeoutMs: 120_000 });
  assert.equal(updates.code, 0, explain(updates));
  const planned = JSON.parse(updates.stdout) as { packages: { name: string; state: string; key: string }[]; debian: { suite: string; extraRepositories: { suite: string; added: Record<string, number> }[] } };
  assert.equal(planned.packages[0]?.state, 'to-build', updates.stdout);
  assert.equal(planned.debian.suite, 'bookworm');
  assert.equal(planned.debian.extraRepositories[0]?.suite, 'bookworm-updates', updates.stdout);
  assert.ok((planned.debian.extraRepositories[0]?.added['amd64'] ?? 0) > 0, 'the plan says what -updates added');
  // The security archive's Release lists "updates/main" and serves main/: taken as apt takes it.
  const security = (await readAptSources('/etc/apt')).find((e) => e.suites.includes('bookworm-security'))?.uris[0];
  if (security !== undefined) {
    const sec = await runKiln([...common, '--json', '--extra-repository', `deb ${security} bookworm-security main`], { timeoutMs: 120_000 });
    assert.equal(sec.code, 0, explain(sec));
  }
  // debian.toml's keys: a missing one, or keys without a repository, named by their key.
  const toml = async (text: string): Promise<string> => {
    const d = join(dir.path, `t${Math.random().toString(36).slice(2)}`);
    await mkdir(d);
    await writeFile(join(d, 'debian.toml'), `suite = "bookworm"\nsources = ["hello"]\n${text}`);
    return d;
  };
  const missingKey = await toml(`extra-repositories = ["deb ${mirror} bookworm-updates main"]\nextra-repository-keys = ["keys/nope.asc"]\n`);
  const mk = await runKiln(['plan', '--tree', missingKey, '--no-install-check', '--state', state, '--cache', SHARED_CACHE], { timeoutMs: 120_000 });
  assert.equal(mk.code, 2, explain(mk));
  assert.match(mk.stderr, /error \[config-invalid\]: \S+debian\.toml: extra-repository-keys\[0\]: \S+keys\/nope\.asc does not exist/, explain(mk));
  const keysOnly = await toml('extra-repository-keys = ["debian.toml"]\n');
  const ko = await runKiln(['plan', '--tree', keysOnly, '--no-install-check', '--state', state, '--cache', SHARED_CACHE], { timeoutMs: 120_000 });
  assert.equal(ko.code, 2, explain(ko));
  assert.match(ko.stderr, /error \[config-invalid\]: \S+debian\.toml: extra-repository-keys names a key for extra repositories, but this run has none/, explain(ko));
  // A component or arch the repository does not have is said, not a quiet no-op.
  const none = await runKiln([...common, '--extra-repository', `deb ${mirror} bookworm-updates non-existent`], { timeoutMs: 120_000 });
  assert.equal(none.code, 2, explain(none));
  assert.match(none.stderr, /has no component non-existent/, explain(none));
});

test('an arch-independent source planned for a foreign arch alone (riscv64) plans in that arch\'s env (it was an internal error: no env of the host\'s arch in the run)', { skip: noMirror || sharedEnvSkip(), timeout: 20 * 60_000 }, async () => {
  await using dir = await tmpDir('kiln-debian-cli-');
  const env = await sharedEnv('sid-riscv64', 'sid', 'riscv64', ['--no-check-valid-until']);
  const rules = '#!/usr/bin/make -f\nbuild build-arch build-indep binary binary-arch binary-indep clean:\n\t@true\n';
  const dsc = await makeSource(dir.path, 'kiln-indep', { arch: 'all', buildDepends: 'make', control: 'Package: kiln-indep\nArchitecture: all\nDescription: kiln test\n kiln test.\n', rules, files: {} });
  // sid, as the riscv64 env the tests make (debian-riscv64.test.ts: --no-check-valid-until for a snapshot mirror).
  const r = await runKiln(['plan', '--debian', 'sid', '--arch', 'riscv64', '--no-check-valid-until', '--dsc', dsc, '--no-install-check', '--json', '--state', join(dir.path, 'state'), '--cache', SHARED_CACHE], { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, explain(r));
  const planned = JSON.parse(r.stdout) as { packages: { id: string; state: string }[] };
  assert.deepEqual(planned.packages.map((p) => [p.id, p.state]), [['kiln-indep@all', 'to-build']]);
});
