// Reliability/security cases of the research notes ("Test cases for kiln"), through the real
// CLI, closing what an audit found untested:
//   27 secrets: a netrc password for a private mirror is in no unpacked artifact file, no
//      manifest, no log, no record, no build environment, and not in the input key (the
//      same build with a rotated password is up to date);
//   21 resource limits (chroot sandbox): 1 GiB under `memory = "256M"` fails out-of-memory
//      and a fork bomb fails pids-limit (long before its timeout), while a sibling builds;
//   19 writes outside the sandbox (chroot sandbox): the host's $HOME, /tmp, the cache dir
//      and the state's kiln.db, named by their host paths, are out of the build's reach;
//   19 also through descriptors: kiln started with extra open descriptors (a CI runner's
//      pipes, a shell's `3</`) hands none of them to a build, in any sandbox, through either
//      launcher helper (not with KILN_NO_PREFORK=1, a debugging switch that spawns directly);
//   23 untrusted names: `name = "../../etc"`, a source `dest` of "../../x" or "/abs", and a
//      target `../../etc` are refused with a clear error, nothing written outside.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { filesContaining, scanArtifacts } from '../helpers/secret-scan.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

const recipe = (name: string, body: string): string => `name = "${name}"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n${body}\n`;

async function writeTree(tree: string, recipes: Readonly<Record<string, string>>, kilnToml?: string): Promise<void> {
  for (const [folder, text] of Object.entries(recipes)) {
    await mkdir(join(tree, folder), { recursive: true });
    await writeFile(join(tree, folder, 'recipe.toml'), text);
  }
  if (kilnToml !== undefined) await writeFile(join(tree, 'kiln.toml'), kilnToml);
}

test('case 27: a private mirror password is in no unpacked artifact, manifest, log, record or build env, and not in the input key', async () => {
  await using dir = await tmpDir();
  const login = 'builder';
  const first = `pw-${randomBytes(8).toString('hex')}`;
  const rotated = `pw-${randomBytes(8).toString('hex')}`;
  const content = 'private 1.0: only for those who log in\n';
  const sha = createHash('sha256').update(content).digest('hex');
  const header = (pw: string): string => `Basic ${Buffer.from(`${login}:${pw}`).toString('base64')}`;
  let accepted = header(first);
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== accepted) res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end();
    else if (req.url === '/base/private-1.0.txt') res.writeHead(200).end(content);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const tree = join(dir.path, 'tree');
    await writeTree(tree, {
      private: recipe('private', `[[sources]]
url = "mirror://private/private-1.0.txt"
sha256 = "${sha}"

[build]
script = '''
grep -q 'only for those' private-1.0.txt
mkdir -p "$DESTDIR/usr/share/private"
env > "$DESTDIR/usr/share/private/env.txt"
cp -a . "$DESTDIR/usr/share/private/src"
cat "$HOME/.netrc" /root/.netrc 2>&1 || true
echo "build env follows"; env
'''`),
    }, `[mirrors]\nprivate = "http://127.0.0.1:${port}/base"\n`);
    const state = join(dir.path, 'state');
    const cache = join(dir.path, 'cache');
    const netrc = join(dir.path, 'netrc');
    await writeFile(netrc, `machine http://127.0.0.1:${port}/base login ${login} password ${first}\n`);
    const args = ['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'];

    const built = await runKiln(args, { cache, env: { KILN_NETRC: netrc } });
    assert.equal(built.code, 0, explain(built));
    const pkg = pkgOf(await readReport(built), 'private');
    assert.equal(pkg.state, 'built', explain(built));
    assert.ok(seen.includes(header(first)), 'the mirror never got the credentials');
    const key = eventsOf(built.events, 'job-finished').find((e) => e.name === 'private')?.key;
    assert.ok(key !== undefined, explain(built));

    const needles = [first, Buffer.from(`${login}:${first}`).toString('base64')];
    // The artifacts, unpacked (zstd hides a string from a raw scan), and their manifests.
    const artifacts = await scanArtifacts(cache, needles);
    assert.equal(artifacts.length, 1, `one artifact expected under ${cache}: ${built.stdout.match(/"artifact":"[^"]*"/)?.[0]}`);
    assert.ok(artifacts[0]!.files.includes('usr/share/private/env.txt'), `unpacked: ${artifacts[0]!.files.join(', ')}`);
    assert.ok(artifacts[0]!.files.includes('usr/share/private/src/private-1.0.txt'), `unpacked: ${artifacts[0]!.files.join(', ')}`);
    assert.deepEqual(artifacts.flatMap((a) => a.hits.map((h) => `${a.archive}: ${h}`)), [], 'the password is in an artifact');
    // The build's environment, as it wrote it into its artifact and its log.
    const log = await readFile(pkg.log!, 'utf8');
    assert.match(log, /build env follows/);
    assert.doesNotMatch(log, /KILN_NETRC|\/netrc\b|password/, log);
    // Raw bytes of everything kiln wrote: records (kiln.db), logs, reports, cache, what it printed.
    for (const where of [state, cache]) assert.deepEqual(await filesContaining(where, needles), [], `the password is written under ${where}`);
    assert.ok(!needles.some((n) => built.stdout.includes(n) || built.stderr.includes(n)), explain(built));

    // The password is rotated: the input key does not depend on it, so the package is up to date.
    accepted = header(rotated);
    await writeFile(netrc, `machine http://127.0.0.1:${port}/base login ${login} password ${rotated}\n`);
    const again = await runKiln(args, { cache, env: { KILN_NETRC: netrc } });
    assert.equal(again.code, 0, explain(again));
    assert.equal(pkgOf(await readReport(again), 'private').state, 'up-to-date', explain(again));
    const settled = eventsOf(again.events, 'job-settled').find((e) => e.name === 'private');
    assert.equal(settled?.key, key, explain(again));
    // A plan says so too, and the new password is written nowhere either.
    const plan = await runKiln(['plan', '--tree', tree, '--state', state], { cache, env: { KILN_NETRC: netrc } });
    assert.equal(plan.code, 0, explain(plan));
    assert.match(plan.stdout, /^\s*up-to-date\s+private@amd64\b/m, explain(plan));
    const rotatedNeedles = [rotated, Buffer.from(`${login}:${rotated}`).toString('base64')];
    for (const where of [state, cache]) assert.deepEqual(await filesContaining(where, rotatedNeedles), [], `the rotated password is written under ${where}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('case 21: 1 GiB under memory = "256M" fails out-of-memory, a fork bomb fails pids-limit before its timeout; a sibling builds (chroot)', { skip: sharedEnvSkip(), timeout: 8 * 60_000 }, async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await writeTree(tree, {
    // perl (in every buildd env) really holds the gigabyte: one string of 2^30 bytes.
    hog: recipe('hog', `[build]\nmemory = "256M"\nscript = '''\nperl -e '$x = "a" x (1 << 30); print "held ", length($x), " bytes\\n"'\n'''`),
    // Never ends by itself: each refused fork frees a slot for the next. The timeout is a net.
    bomb: recipe('bomb', `[build]\nmemory = "4G"\ntimeout = "240s"\nscript = '''\nb() { b | b; }; b\n'''`),
    ok: recipe('ok', `[build]\nscript = '''\nmkdir -p "$DESTDIR/usr/share/ok" && echo ok > "$DESTDIR/usr/share/ok/ok"\n'''`),
  }, 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--jobs', '2', '--json'], { env: await sharedEnv(), timeoutMs: 7 * 60_000 });
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { hog: 'failed', bomb: 'failed', ok: 'built' }, explain(r));
  const hog = pkgOf(report, 'hog');
  assert.equal(hog.reason, 'out-of-memory', explain(r));
  assert.doesNotMatch(await readFile(hog.log!, 'utf8'), /held \d+ bytes/);
  const bomb = pkgOf(report, 'bomb');
  assert.equal(bomb.reason, 'pids-limit', `${bomb.cause}\n${explain(r)}`);
  assert.match(bomb.cause ?? '', /fork was refused at the sandbox's limit of processes/);
  assert.ok(bomb.durationMs !== null && bomb.durationMs < 120_000, `the bomb ran ${bomb.durationMs} ms`);
});

test('case 19: a build cannot write the host $HOME, /tmp, the cache dir or kiln.db by their host paths (chroot)', { skip: sharedEnvSkip(), timeout: 5 * 60_000 }, async (t) => {
  await using dir = await tmpDir();
  const tag = `kiln-canary-${randomBytes(6).toString('hex')}`;
  const state = join(dir.path, 'state');
  const cache = join(dir.path, 'cache');
  const db = join(state, 'kiln.db');
  const home = homedir();
  const downloads = join(cache, 'downloads');
  // Plain writes: each must fail (read-only, permission, or no such path inside).
  const refused: Record<string, string> = {
    home: join(home, tag),
    db,
    'db-via-proc': `/proc/1/root${db}`,
    cache: join(cache, tag),
    'cache-downloads': join(downloads, tag),
    'downloads-inside': `/var/cache/kiln/downloads/${tag}`,
  };
  // Writes after `mkdir -p`: they may land in the sandbox's own root; never on the host.
  const contained: Record<string, string> = {
    tmp: `/tmp/${tag}`,
    'db-mkdir': db,
    'artifacts-mkdir': join(cache, 'artifacts', 'aa', tag),
  };
  const lines = [
    'attempt() { if sh -c "echo $3 >> \\"\\$1\\"" x "$2" 2>"${TMPDIR:-/tmp}/err"; then echo "ATTEMPT $1: WROTE"; else echo "ATTEMPT $1: $(cat "${TMPDIR:-/tmp}/err")"; fi; }',
    ...Object.entries(refused).map(([what, path]) => `attempt ${what} '${path}' ${tag}`),
    ...Object.entries(contained).map(([what, path]) => `mkdir -p "$(dirname '${path}')" 2>/dev/null; attempt ${what} '${path}' ${tag}`),
    'mkdir -p "$DESTDIR/usr/share/escape" && echo done > "$DESTDIR/usr/share/escape/done"',
  ];
  const tree = join(dir.path, 'tree');
  await writeTree(tree, {
    escape: recipe('escape', `[build]\nscript = '''\n${lines.join('\n')}\n'''`),
  }, 'env = "bookworm-{arch}"\nsandbox = "chroot"\n');
  // kiln.db and the downloads cache exist on the host before the build (a plan makes the db).
  const env = await sharedEnv();
  const first = await runKiln(['plan', '--tree', tree, '--state', state], { cache, env });
  assert.equal(first.code, 0, explain(first));
  assert.ok(existsSync(db), `${db} exists before the build`);
  await mkdir(downloads, { recursive: true });

  // Should the sandbox fail, the test's canaries outside its temp dir are removed again.
  t.after(() => Promise.all([refused['home']!, contained['tmp']!].map((p) => rm(p, { force: true }))));
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--json'], { cache, env, timeoutMs: 4 * 60_000 });
  assert.equal(r.code, 0, explain(r));
  const pkg = pkgOf(await readReport(r), 'escape');
  assert.equal(pkg.state, 'built', explain(r));
  const log = await readFile(pkg.log!, 'utf8');
  const results = new Map([...log.matchAll(/^\[[^\]]*\] o ATTEMPT (\S+): (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  for (const [what, said] of results) t.diagnostic(`${what}: ${said}`);
  for (const what of Object.keys(refused)) {
    const said = results.get(what);
    assert.ok(said !== undefined, `no result for ${what}\n${log}`);
    assert.match(said, /Read-only file system|Permission denied|No such file or directory|Directory nonexistent/, `${what} (${refused[what]}): ${said}`);
  }
  for (const what of Object.keys(contained)) assert.ok(results.has(what), `no result for ${what}\n${log}`);

  // The host is unchanged.
  for (const path of [...Object.values(refused), ...Object.values(contained)].filter((p) => p !== db && !p.startsWith('/proc/'))) {
    assert.equal(existsSync(path), false, `${path} was written on the host`);
  }
  // (The build's log and report quote its script, marker and all; so does the scan cache, once the recipe is old enough to be kept there.)
  const quoting = (p: string): boolean => ['logs', 'runs', 'scan-cache'].some((d) => p.startsWith(join(state, d) + '/'));
  assert.deepEqual((await filesContaining(state, [tag])).filter((p) => !quoting(p)), [], 'the marker reached the state dir');
  assert.deepEqual(await filesContaining(cache, [tag]).then((f) => f.filter((p) => !p.endsWith('.tar.zst'))), [], 'the marker reached the cache dir');
  assert.equal((await readFile(db)).subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
  const status = await runKiln(['status', '--state', state]);
  assert.equal(status.code, 0, explain(status));
  assert.match(status.stdout, /escape/, explain(status));
});

// What a build's bash has open, and whether it could read the host's / or append to a host
// file through what kiln inherited as fds 3 and 4.
const FD_PROBE = `[build]
script = \'\'\'
ls -l /proc/$$/fd/ | sed -n "s/.* \\([0-9][0-9]*\\) -> \\(.*\\)/FD \\1 \\2/p"
if ls /proc/$$/fd/3/ >/dev/null 2>&1; then echo "READ 3"; fi
if echo escaped >> /proc/$$/fd/4 2>/dev/null; then echo "WROTE 4"; fi
mkdir -p "$DESTDIR/usr/share/fds" && echo ok > "$DESTDIR/usr/share/fds/ok"
\'\'\'`;

async function fdsOfBuild(o: { sandbox: 'host' | 'chroot'; launcher?: 'perl' }): Promise<{ fds: string[]; lines: string[]; hostFile: string }> {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await writeTree(tree, { fds: recipe('fds', FD_PROBE) }, o.sandbox === 'chroot' ? 'env = "bookworm-{arch}"\nsandbox = "chroot"\n' : undefined);
  const hostFile = join(dir.path, 'host-file');
  await writeFile(hostFile, '');
  const root = openSync('/', 'r');
  const file = openSync(hostFile, 'a');
  try {
    const env = { ...(o.sandbox === 'chroot' ? await sharedEnv() : {}), ...(o.launcher === 'perl' ? { KILN_LAUNCHER: 'perl' } : {}) };
    const args = ['build', '--tree', tree, '--state', join(dir.path, 'state'), '--cache', join(dir.path, 'cache'), '--json', ...(o.sandbox === 'host' ? ['--sandbox', 'host'] : [])];
    const r = await runKiln(args, { env, inheritFds: [root, file], timeoutMs: 4 * 60_000 });
    assert.equal(r.code, 0, explain(r));
    const pkg = pkgOf(await readReport(r), 'fds');
    const log = await readFile(pkg.log!, 'utf8');
    const lines = [...log.matchAll(/^\[[^\]]*\] o ((?:FD|READ|WROTE) .*)$/gm)].map((m) => m[1]!);
    return { fds: lines.filter((l) => l.startsWith('FD ')).map((l) => l.split(' ')[1]!), lines, hostFile: await readFile(hostFile, 'utf8') };
  } finally {
    closeSync(root);
    closeSync(file);
  }
}

for (const o of [{ sandbox: 'host' }, { sandbox: 'host', launcher: 'perl' }] as const) {
  test(`case 19: descriptors kiln inherited reach no build (${o.sandbox} sandbox${'launcher' in o ? ', perl launcher' : ''})`, async () => {
    const got = await fdsOfBuild(o);
    assert.deepEqual(got.fds, ['0', '1', '2'], got.lines.join('\n'));
    assert.equal(got.hostFile, '');
  });
}

test('case 19: descriptors kiln inherited reach no build, so none leads out of its root (chroot)', { skip: sharedEnvSkip(), timeout: 5 * 60_000 }, async () => {
  const got = await fdsOfBuild({ sandbox: 'chroot' });
  assert.deepEqual(got.fds, ['0', '1', '2'], got.lines.join('\n'));
  assert.equal(got.hostFile, '', 'the build appended to a host file through an inherited descriptor');
});

test('staging: two build dependencies that install one path differently (a link and a directory) fail the dependent before anything is staged, whatever their order', async () => {
  await using dir = await tmpDir();
  const outside = join(dir.path, 'outside');
  await mkdir(outside);
  for (const order of [['alnk', 'fil'], ['fil', 'alnk']]) {
    const tree = join(dir.path, `tree-${order[0]}`);
    const script = (s: string): string => `[build]\nscript = '''\n${s}\n'''`;
    await writeTree(tree, {
      alnk: recipe('alnk', `[build]\nskip-checks = ["symlinks"]\nscript = '''\nmkdir -p "$DESTDIR/usr/lib" && ln -s ${outside} "$DESTDIR/usr/lib/x"\n'''`),
      fil: recipe('fil', script('mkdir -p "$DESTDIR/usr/lib/x" && echo evil > "$DESTDIR/usr/lib/x/evil"')),
      both: recipe('both', `build-depends = ["${order[0]}", "${order[1]}"]\n${script('mkdir -p "$DESTDIR/usr/share/both" && echo ok > "$DESTDIR/usr/share/both/ok"')}`),
    });
    const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, `state-${order[0]}`), '--cache', join(dir.path, 'cache'), '--sandbox', 'host', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, explain(r));
    const both = pkgOf(await readReport(r), 'both');
    assert.equal(both.state, 'failed', explain(r));
    assert.equal(both.reason, 'stage-failed', explain(r));
    assert.match(both.cause ?? '', /usr\/lib\/x is (a link to \S+ in alnk@amd64 and a directory in fil@amd64|a directory in fil@amd64 and a link to \S+ in alnk@amd64)/, both.cause ?? undefined);
    assert.deepEqual(await readdir(outside), [], 'nothing was written through the link');
  }
});

test('case 23: a recipe name "../../etc", a source dest "../../x" or "/abs", and a target "../../etc" are refused; nothing is written outside', async () => {
  await using dir = await tmpDir();
  // Two levels down, so that anything escaping by ../.. lands where the test can see it.
  const base = join(dir.path, 'a', 'b');
  const tree = join(base, 'tree');
  const state = join(base, 'state');
  const cache = join(base, 'cache');
  const source = (dest: string): string => `[[sources]]\nurl = "file:payload"\nsha256 = "${createHash('sha256').update('payload\n').digest('hex')}"\ndest = "${dest}"\n`;
  const build = `[build]\nscript = '''\nmkdir -p "$DESTDIR/usr/share/x" && echo x > "$DESTDIR/usr/share/x/x"\n'''`;
  await writeTree(tree, {
    etc: recipe('../../etc', build),
    updest: recipe('updest', `${source('../../x')}\n${build}`),
    absdest: recipe('absdest', `${source(`${dir.path}/abs-x`)}\n${build}`),
    good: recipe('good', build),
  });
  for (const f of ['updest', 'absdest']) await writeFile(join(tree, f, 'payload'), 'payload\n');
  const outside = async (): Promise<string[]> => {
    const all = await readdir(dir.path, { recursive: true });
    return all.filter((p) => !['tree', 'state', 'cache'].some((t) => p === join('a', 'b', t) || p.startsWith(join('a', 'b', t) + '/'))).sort();
  };
  const before = await outside();
  assert.deepEqual(before, ['a', join('a', 'b')]);

  const r = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { cache });
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { etc: 'broken', updest: 'broken', absdest: 'broken', good: 'built' }, explain(r));
  const problems = report.packages.flatMap((p) => p.diagnostics ?? []).join('\n');
  assert.match(problems, /etc\/recipe\.toml: name: "\.\.\/\.\.\/etc" is not a valid package name/, problems);
  assert.match(problems, /updest\/recipe\.toml: sources\[0\]\.dest: "\.\.\/\.\.\/x" leaves \$SRCDIR/, problems);
  assert.match(problems, /absdest\/recipe\.toml: sources\[0\]\.dest: "[^"]*abs-x" leaves \$SRCDIR/, problems);

  // As a target (and to the verbs that take a package name): refused, nothing made.
  const target = await runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '../../etc'], { cache });
  assert.equal(target.code, 2, explain(target));
  assert.match(target.stderr, /error \[target-not-found\]: target "\.\.\/\.\.\/etc" matches no package of the tree/, explain(target));
  for (const verb of ['logs', 'history']) {
    const v = await runKiln([verb, '../../etc', '--state', state]);
    assert.notEqual(v.code, 0, explain(v));
    assert.match(v.stderr, /"\.\.\/\.\.\/etc"/, explain(v));
  }

  assert.deepEqual(await outside(), before, 'something was written outside the tree, state and cache');
  // Inside the state and cache too, no path holds a name that climbed out of its folder.
  for (const d of [state, cache]) {
    const odd = (await readdir(d, { recursive: true })).filter((p) => /(^|\/)(x|abs-x|payload)$/.test(p) && !p.includes('usr/share/x'));
    assert.deepEqual(odd, [], `under ${relative(dir.path, d)}`);
  }
});
