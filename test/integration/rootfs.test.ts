// kiln rootfs with the real CLI: a tree of a library, a program that depends on it, a
// package nothing needs and one that ships the library's file too, built on the host
// sandbox; then roots made of them: the program's root holds it and its library (not the
// rest) with installed.json saying why, --tar makes a tarball of the same files, and a
// file conflict or a package the index lacks fails without leaving anything at OUT.
// And (slow, as root with mmdebstrap and the host's mirror) a --debian root holding a .deb
// published to the state dir's signed repository.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { tmpDir, type TmpDir } from '../helpers/tmp.ts';
import { explain, runKiln, spawnKiln } from '../helpers/run-kiln.ts';

const RECIPES: Readonly<Record<string, string>> = {
  libfoo: `version = "1.2"
script = '''
mkdir -p "$DESTDIR/usr/lib"
echo libfoo-1.2 > "$DESTDIR/usr/lib/libfoo.so.1"
'''`,
  app: `version = "0.5"
depends = ["libmissing | libfoo (>= 1.1)"]
script = '''
mkdir -p "$DESTDIR/usr/bin"
printf '#!/bin/sh\\necho app\\n' > "$DESTDIR/usr/bin/app"
chmod 755 "$DESTDIR/usr/bin/app"
'''`,
  extra: `version = "1"
script = '''
mkdir -p "$DESTDIR/usr/share/extra"
echo extra > "$DESTDIR/usr/share/extra/data"
'''`,
  clash: `version = "1"
script = '''
mkdir -p "$DESTDIR/usr/lib"
echo not-libfoo > "$DESTDIR/usr/lib/libfoo.so.1"
'''`,
  // A real shared library and two programs linked against it: one lists it in depends, one forgets to.
  libgreet: `version = "1"
script = '''
printf 'const char *greet(void) { return "hi"; }\\n' > greet.c
cc -shared -fPIC -Wl,-soname,libgreet.so.1 -o libgreet.so.1 greet.c
mkdir -p "$DESTDIR/usr/lib"
cp libgreet.so.1 "$DESTDIR/usr/lib/" && ln -s libgreet.so.1 "$DESTDIR/usr/lib/libgreet.so"
'''`,
  greet: `version = "1"
build-depends = ["libgreet"]
script = '''
printf '#include <stdio.h>\\nconst char *greet(void);\\nint main(void) { puts(greet()); return 0; }\\n' > main.c
cc -o greet main.c -lgreet
mkdir -p "$DESTDIR/usr/bin" && cp greet "$DESTDIR/usr/bin/"
'''`,
  greet2: `version = "1"
build-depends = ["libgreet"]
depends = ["libgreet"]
script = '''
printf '#include <stdio.h>\\nconst char *greet(void);\\nint main(void) { puts(greet()); return 0; }\\n' > main.c
cc -o greet2 main.c -lgreet
mkdir -p "$DESTDIR/usr/bin" && cp greet2 "$DESTDIR/usr/bin/"
'''`,
  broken: `version = "1"
depends = ["nosuch (>= 2)"]
script = '''
mkdir -p "$DESTDIR/etc"
echo broken > "$DESTDIR/etc/broken"
'''`,
};

/** The recipe lines above [build]. */
const topLevel = (l: string): boolean => l.startsWith('depends') || l.startsWith('build-depends');

let dir: TmpDir;
let state: string;

before(async () => {
  dir = await tmpDir('kiln-rootfs-');
  const tree = join(dir.path, 'tree');
  for (const [name, body] of Object.entries(RECIPES)) {
    await mkdir(join(tree, name), { recursive: true });
    const [version, ...rest] = body.split('\n');
    await writeFile(join(tree, name, 'recipe.toml'), `name = "${name}"\n${version}\nsummary = "test ${name}"\nlicense = "MIT"\n${rest.filter(topLevel).join('\n')}\n[build]\n${rest.filter((l) => !topLevel(l)).join('\n')}\n`);
  }
  state = join(dir.path, 'state');
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host'], { timeoutMs: 5 * 60_000 });
  assert.equal(r.code, 0, explain(r));
});

after(async () => dir?.[Symbol.asyncDispose]());

/** Every path under root, files as `path` and directories as `path/`, sorted. */
function tree(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .map((e) => `${join(e.parentPath, e.name).slice(root.length + 1)}${e.isDirectory() ? '/' : ''}`)
    .sort();
}

test('kiln rootfs installs the named program and its runtime depends, in order, with installed.json', { timeout: 60_000 }, async () => {
  const out = join(dir.path, 'root');
  const r = await runKiln(['rootfs', out, 'app', '--state', state]);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(tree(out), [
    'usr/', 'usr/bin/', 'usr/bin/app', 'usr/lib/', 'usr/lib/libfoo.so.1',
    'var/', 'var/lib/', 'var/lib/kiln/', 'var/lib/kiln/installed.json',
  ]);
  assert.equal(readFileSync(join(out, 'usr/lib/libfoo.so.1'), 'utf8'), 'libfoo-1.2\n');
  assert.equal(statSync(join(out, 'usr/bin/app')).mode & 0o111, 0o111, 'the program stays executable');
  const installed = JSON.parse(readFileSync(join(out, 'var/lib/kiln/installed.json'), 'utf8')) as { packages: { name: string; version: string; release: number; sha256: string; why: string }[] };
  assert.deepEqual(installed.packages.map((p) => `${p.name} ${p.version}-${p.release} ${p.why}`), ['libfoo 1.2-1 needed by app', 'app 0.5-1 named']);
  const index = JSON.parse(readFileSync(join(state, 'packages/index.json'), 'utf8')) as { packages: { name: string; sha256: string }[] };
  for (const p of installed.packages) assert.equal(p.sha256, index.packages.find((x) => x.name === p.name)?.sha256);
  assert.match(r.stdout, /^ {2}libfoo +1\.2-1 .* needed by app$/m);
  assert.match(r.stdout, /^ {2}app +0\.5-1 .* named$/m);
  assert.match(r.stdout, /^kiln: 2 package\(s\) for \S+ in .*: \d+ B installed/m);
  // Nothing is left beside it.
  assert.deepEqual(readdirSync(dir.path).filter((n) => n.includes('kiln-tmp')), []);

  // OUT exists now: refused without --force, replaced with it.
  const again = await runKiln(['rootfs', out, 'extra', '--state', state]);
  assert.equal(again.code, 2, explain(again));
  assert.match(again.stderr, /\[path-unusable\].*already exists/);
  assert.match(again.stderr, /--force/);
  const forced = await runKiln(['rootfs', out, 'extra', '--state', state, '--force']);
  assert.equal(forced.code, 0, explain(forced));
  assert.ok(existsSync(join(out, 'usr/share/extra/data')));
  assert.ok(!existsSync(join(out, 'usr/bin/app')), 'the old root was replaced, not added to');
});

test('kiln rootfs says what the root\'s programs need and it lacks: a library a recipe links without listing it in depends, the C library, the program loader', { timeout: 60_000 }, async () => {
  const forgot = await runKiln(['rootfs', join(dir.path, 'greet-root'), 'greet', '--state', state, '--json']);
  assert.equal(forgot.code, 0, `a warning, the root is made\n${explain(forgot)}`);
  assert.match(forgot.stderr, /^kiln: warning: libgreet\.so\.1, needed by 1 file\(s\) of greet \(usr\/bin\/greet\), is in no package of the root: add the package that ships it to the root, or to the depends of its recipe$/m, explain(forgot));
  assert.match(forgot.stderr, /^kiln: warning: libc\.so\.6, needed by 1 file\(s\) of greet/m, 'no C library in a tree of these recipes');
  assert.match(forgot.stderr, /^kiln: warning: the program loader \/\S+ld\S+, which 1 file\(s\) of greet \(usr\/bin\/greet\) start with, is in no package of the root/m);
  const missing = (JSON.parse(forgot.stdout) as { missing: { name: string; kind: string; neededBy: { file: string; pkg: string }[] }[] }).missing;
  assert.deepEqual(missing.find((m) => m.name === 'libgreet.so.1'), { name: 'libgreet.so.1', kind: 'library', neededBy: [{ file: 'usr/bin/greet', pkg: 'greet' }] });
  // Listed in depends: in the root, found (by its file name, the soname the program was linked with).
  const listed = await runKiln(['rootfs', join(dir.path, 'greet2-root'), 'greet2', '--state', state]);
  assert.equal(listed.code, 0, explain(listed));
  assert.doesNotMatch(listed.stderr, /libgreet/, explain(listed));
  assert.match(listed.stderr, /^kiln: warning: libc\.so\.6, needed by \d+ file\(s\) of (libgreet, )?greet2 /m, explain(listed));
  // A script is no ELF file: nothing to say of app's root.
  const app = await runKiln(['rootfs', join(dir.path, 'app-root'), 'app', '--state', state]);
  assert.equal(app.stderr, '', explain(app));
});

test('kiln rootfs --tar makes a reproducible tarball of the root', { timeout: 60_000 }, async () => {
  const out = join(dir.path, 'root.tar.zst');
  const r = await runKiln(['rootfs', out, 'app', '--state', state, '--tar']);
  assert.equal(r.code, 0, explain(r));
  const list = spawnSync('tar', ['--zstd', '-tvf', out], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const names = list.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(5).join(' '));
  assert.deepEqual(names, [
    'usr/', 'usr/bin/', 'usr/bin/app', 'usr/lib/', 'usr/lib/libfoo.so.1',
    'var/', 'var/lib/', 'var/lib/kiln/', 'var/lib/kiln/installed.json',
  ]);
  for (const line of list.stdout.trim().split('\n')) assert.match(line, /^\S+ 0\/0 .* 1980-01-01 00:00 /, line);
  const first = readFileSync(out);
  const again = await runKiln(['rootfs', out, 'app', '--state', state, '--tar', '--force']);
  assert.equal(again.code, 0, explain(again));
  assert.ok(readFileSync(out).equals(first), 'the same packages make the same tarball');
});

test('kiln rootfs refuses two packages shipping one file, and leaves nothing behind', { timeout: 60_000 }, async () => {
  const out = join(dir.path, 'clashing');
  const r = await runKiln(['rootfs', out, 'app', 'clash', '--state', state]);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /\[file-conflict\]: (libfoo and clash|clash and libfoo) both ship usr\/lib\/libfoo\.so\.1/);
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(dir.path).filter((n) => n.includes('kiln-tmp')), []);
});

test('kiln rootfs refuses a package the index lacks and an unmet depends, leaving nothing behind', { timeout: 60_000 }, async () => {
  const out = join(dir.path, 'missing');
  const r = await runKiln(['rootfs', out, 'app', 'nosuchpkg', '--state', state]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /\[package-not-found\]: "nosuchpkg" matches no package/);
  assert.ok(!existsSync(out));
  const unmet = await runKiln(['rootfs', out, 'broken', '--state', state]);
  assert.equal(unmet.code, 1, explain(unmet));
  assert.match(unmet.stderr, /\[depends-unmet\]: broken 1-1 \(\S+\) needs nosuch \(>= 2\), which is not in the package index/);
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(dir.path).filter((n) => n.includes('kiln-tmp')), []);
  // A mistyped arch: the nearest name, and a hint for the root's one arch (not a list).
  const typo = await runKiln(['rootfs', out, 'app', '--arch', 'amd46', '--state', state]);
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /\[usage\]: --arch: "amd46" is not a Debian architecture name\n  hint: did you mean "amd64"\? give the root's one Debian architecture name/);
});

test('kiln rootfs refuses an OUT that is, holds or is inside the state dir (even with --force), and /', { timeout: 60_000 }, async () => {
  for (const [out, why] of [[dir.path, 'holds'], [state, 'is'], [join(state, 'root'), 'is inside'], ['/', '']] as const) {
    const r = await runKiln(['rootfs', '--force', out, 'app', '--state', state]);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, why === '' ? /\[usage\]: \/: the output path is \/ / : new RegExp(`\\[usage\\]: .*the output path ${why} the state directory`));
  }
  assert.ok(existsSync(join(state, 'packages/index.json')), 'the state dir is still there');
});

test('kiln rootfs: Ctrl-C while unpacking stops tar, removes the half-made root and exits 130', { timeout: 60_000 }, async () => {
  // A tar that takes its time to extract (and says when it started, and its pid).
  const bin = join(dir.path, 'slow-bin');
  await mkdir(bin, { recursive: true });
  const realTar = spawnSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).stdout.trim();
  const mark = join(dir.path, 'slow-tar-started');
  await writeFile(join(bin, 'tar'), `#!/bin/sh\nfor a in "$@"; do case "$a" in --extract) echo $$ > "$KILN_TEST_MARK"; sleep 30;; esac; done\nexec ${realTar} "$@"\n`);
  await chmod(join(bin, 'tar'), 0o755);
  const out = join(dir.path, 'interrupted');
  const k = spawnKiln(['rootfs', out, 'app', '--state', state], { env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, KILN_TEST_MARK: mark } });
  for (let i = 0; i < 300 && !existsSync(mark); i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(existsSync(mark), 'tar started extracting');
  assert.equal(readdirSync(dir.path).filter((n) => n.startsWith('.interrupted.kiln-tmp-')).length, 1, 'the root is being made beside OUT');
  process.kill(k.pid, 'SIGINT');
  const r = await k.done;
  assert.equal(r.code, 130, explain(r));
  assert.match(r.stderr, /\[cancelled\]: interrupted by SIGINT/);
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(dir.path).filter((n) => n.includes('kiln-tmp')), [], 'nothing is left beside OUT');
  const tarPid = Number(readFileSync(mark, 'utf8'));
  assert.throws(() => process.kill(tarPid, 0), /ESRCH/, 'tar was stopped');
});

/** Whether an mmdebstrap making a root beside `out` runs (its command line names the temporary folder). */
function mmdebstrapIn(out: string): boolean {
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
  return ps.split('\n').some((l) => /mmdebstrap/.test(l) && l.includes(join(dirname(out), `.${basename(out)}.kiln-tmp-`)));
}

const skipDebian =
  process.env['KILN_SKIP_SLOW'] === '1'
    ? 'KILN_SKIP_SLOW=1'
    : process.getuid?.() !== 0
      ? 'needs root (mmdebstrap)'
      : !existsSync('/usr/bin/mmdebstrap') || !existsSync('/usr/bin/dpkg-deb')
        ? 'mmdebstrap or dpkg-deb is not installed (scripts/setup.sh installs them)'
        : undefined;

test('kiln rootfs --debian: mmdebstrap of the suite with a package from kiln\'s own signed repository', { skip: skipDebian ?? false, timeout: 10 * 60_000 }, async (t) => {
  const mirror = await hostDebianMirror();
  if (mirror === undefined || !/\/debian$/.test(mirror)) return t.skip('the host\'s apt sources name no Debian mirror');
  const suite = readFileSync('/etc/os-release', 'utf8').match(/^VERSION_CODENAME=(\w+)$/m)?.[1];
  if (suite === undefined) return t.skip('no VERSION_CODENAME in /etc/os-release');
  await using d = await tmpDir('kiln-rootfs-debian-');
  const pkg = join(d.path, 'kilnhello');
  await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
  await mkdir(join(pkg, 'usr/share/kilnhello'), { recursive: true });
  await writeFile(join(pkg, 'DEBIAN/control'), 'Package: kilnhello\nVersion: 1.0\nArchitecture: all\nMaintainer: kiln test <test@example.org>\nDescription: kiln rootfs test\n');
  await writeFile(join(pkg, 'usr/share/kilnhello/hello'), 'hello from kiln\n');
  const deb = join(d.path, 'kilnhello_1.0_all.deb');
  const built = spawnSync('dpkg-deb', ['--root-owner-group', '-b', pkg, deb], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  // A rebuild of a package the suite has, with the suite's version and other bytes (a Debian
  // build without --binnmu): the root gets kiln's, not the archive's.
  const suiteHello = spawnSync('apt-cache', ['show', '--no-all-versions', 'hello'], { encoding: 'utf8' }).stdout.match(/^Version: (\S+)$/m)?.[1];
  const ours = join(d.path, 'hello');
  let oursDeb: string | undefined;
  if (suiteHello !== undefined) {
    await mkdir(join(ours, 'DEBIAN'), { recursive: true });
    await mkdir(join(ours, 'usr/share/doc/hello'), { recursive: true });
    await writeFile(join(ours, 'DEBIAN/control'), `Package: hello\nVersion: ${suiteHello}\nArchitecture: amd64\nMaintainer: kiln test <test@example.org>\nDescription: kiln's rebuild of hello\n`);
    await writeFile(join(ours, 'usr/share/doc/hello/built-by-kiln'), 'yes\n');
    oursDeb = join(d.path, `hello_${suiteHello}_amd64.deb`);
    const b = spawnSync('dpkg-deb', ['--root-owner-group', '-b', ours, oursDeb], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
  }
  // Paths with spaces (apt's one-line source splits at whitespace), a component other than main.
  const st = join(d.path, 'my state');
  for (const args of [['key', 'create'], ['repo', 'publish', '--suite', suite, '--component', 'extra', '--arch', 'amd64', deb, ...(oursDeb === undefined ? [] : [oursDeb])]]) {
    const r = await runKiln([...args, '--state', st]);
    assert.equal(r.code, 0, explain(r));
  }
  const out = join(d.path, 'the root');
  const r = await runKiln(['rootfs', out, 'kilnhello', ...(oursDeb === undefined ? [] : ['hello']), '--state', st, '--debian', suite, '--variant', 'apt', '--arch', 'amd64'], { timeoutMs: 9 * 60_000 });
  assert.equal(r.code, 0, explain(r));
  assert.equal(readFileSync(join(out, 'usr/share/kilnhello/hello'), 'utf8'), 'hello from kiln\n');
  if (oursDeb !== undefined) {
    assert.ok(existsSync(join(out, 'usr/share/doc/hello/built-by-kiln')), 'kiln\'s build of hello, not the archive\'s of the same version');
    assert.ok(!existsSync(join(out, 'usr/bin/hello')), 'not the archive\'s hello');
    assert.ok(!existsSync(join(out, 'etc/apt/preferences.d/kiln-repo')), 'the pin goes with kiln\'s source');
  }
  assert.match(readFileSync(join(out, 'var/lib/dpkg/status'), 'utf8'), /^Package: kilnhello\nStatus: install ok installed$/m);
  // Not this machine's name and name servers (mmdebstrap copies them in).
  assert.equal(readFileSync(join(out, 'etc/hostname'), 'utf8'), 'localhost\n');
  assert.ok(!existsSync(join(out, 'etc/resolv.conf')), 'no resolv.conf of this machine');
  const sources = [join(out, 'etc/apt/sources.list'), ...readdirSync(join(out, 'etc/apt/sources.list.d')).map((n) => join(out, 'etc/apt/sources.list.d', n))].filter((f) => existsSync(f));
  for (const f of sources) assert.doesNotMatch(readFileSync(f, 'utf8'), /copy:|kiln-tmp|kiln-rootfs-key/, `${f} lists only the mirror`);
  assert.deepEqual(readdirSync(d.path).filter((n) => n.includes('kiln-tmp')), []);
  assert.deepEqual(readdirSync(tmpdir()).filter((n) => n.startsWith('kiln-rootfs-key-')), [], 'the key\'s folder is removed');
  // Ctrl-C while mmdebstrap works: it is stopped (not left running on its own), nothing is left, exit 130.
  const stopped = join(d.path, 'stopped');
  const k = spawnKiln(['rootfs', stopped, 'kilnhello', '--state', st, '--debian', suite, '--variant', 'apt', '--arch', 'amd64'], { timeoutMs: 5 * 60_000 });
  for (let i = 0; i < 600 && !mmdebstrapIn(stopped); i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(mmdebstrapIn(stopped), 'mmdebstrap started');
  await new Promise((res) => setTimeout(res, 2000));
  process.kill(k.pid, 'SIGINT');
  const c = await k.done;
  assert.equal(c.code, 130, explain(c));
  assert.ok(!existsSync(stopped));
  assert.deepEqual(readdirSync(d.path).filter((n) => n.includes('kiln-tmp')), []);
  assert.ok(!mmdebstrapIn(stopped), 'mmdebstrap is not left running');
  // A package neither the mirror nor kiln's repository has: mmdebstrap fails, nothing is left.
  const bad = await runKiln(['rootfs', join(d.path, 'bad'), 'kiln-no-such-package', '--state', st, '--debian', suite, '--variant', 'apt', '--arch', 'amd64'], { timeoutMs: 9 * 60_000 });
  assert.equal(bad.code, 1, explain(bad));
  assert.match(bad.stderr, /\[env-failed\]: mmdebstrap failed .*Unable to locate package kiln-no-such-package/);
  assert.ok(!existsSync(join(d.path, 'bad')));
  assert.deepEqual(readdirSync(d.path).filter((n) => n.includes('kiln-tmp')), []);
});
