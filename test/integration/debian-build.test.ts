// Debian source packages, for real, in the shared bookworm amd64 env (chroot sandbox):
//
//   1. `kiln build --debian bookworm hello` from the archive: built offline in the
//      sandbox, published to kiln's signed apt repository; apt in a fresh sandbox of the
//      env, given only kiln's exported key, installs hello from that repository and runs
//      it; `kiln verify` says whether it is bit-identical to the archive's binary (and if
//      not, what differs); a second run is up to date.
//   2. Two local source packages where one build-depends on the other's binary, built in
//      one run: the plan shows the wait, and the second's log shows it installed the
//      first one's fresh .deb.
//
// Slow (minutes): skipped with KILN_SKIP_SLOW=1, when not root, or without mmdebstrap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { createEnvStore } from '../../src/envs/env-store.ts';
import { createChrootBackend } from '../../src/sandbox/chroot/chroot-backend.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeChainSources, makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { rootSh as sh } from '../helpers/root-sh.ts';
import { jobLogOf, runKiln, type KilnResult } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();
function explain(r: KilnResult): string {
  return `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-4000)}\n--- stdout ---\n${r.stdout.slice(-4000)}`;
}

const logOf = jobLogOf;

test('hello from bookworm: built offline in the env, installed by apt from kiln\'s signed repository, compared with the archive, then up to date', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  process.env['KILN_ENVS'] = envs.KILN_ENVS;
  await using dir = await tmpDir('kiln-debian-');
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const common = ['--state', state, '--cache', cache];

  const plan = await runKiln(['plan', '--debian', 'bookworm', 'hello', '--json', ...common], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(plan.code, 0, explain(plan));
  const planned = JSON.parse(plan.stdout) as { packages: { id: string; state: string }[] };
  assert.deepEqual(planned.packages.map((p) => [p.id, p.state]), [['hello@amd64', 'to-build']]);

  const t0 = Date.now();
  const built = await runKiln(['build', '--debian', 'bookworm', 'hello', '--lintian', '--json', ...common], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 1, explain(built));
  // --lintian: lintian read the .changes the run built; its tags are in the report, whatever they are.
  const lint = (JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { lintian?: { job: string; changes: string; tags: string[]; error?: string }[] }).lintian;
  assert.equal(lint?.length, 1, JSON.stringify(lint));
  assert.match(lint![0]!.changes, /^hello_2\.10-3_amd64\.changes$/);
  assert.equal(lint![0]!.error, undefined, lint![0]!.error);
  assert.ok(built.events.some((e) => e.type === 'note' && /^lintian hello_2\.10-3_amd64\.changes: /.test((e as { text: string }).text)));
  t.diagnostic(`kiln build --debian bookworm hello: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const log = logOf(built, 'hello');
  for (const phase of ['fetch', 'install', 'build', 'collect']) assert.match(log, new RegExp(`==> phase ${phase} `), `log has phase ${phase}`);
  assert.match(log, /dpkg-buildpackage -us -uc -B/);
  assert.match(log, /collected hello_2\.10-3_amd64\.deb/);
  // What it was built with, as sbuild's "Package versions" lists it.
  const versionsAt = log.indexOf('k package versions in the build root:');
  assert.ok(versionsAt > 0, 'the log lists the package versions');
  assert.match(log.slice(versionsAt), /^\[ *[\d.]+\] k debhelper \d\S* all$/m);
  assert.ok(existsSync(join(state, 'repo', 'dists', 'bookworm', 'InRelease')), 'the run published a signed repository');
  const published = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.match(published, /^Package: hello$/m);

  // apt in a fresh sandbox of the env, with kiln's key only.
  const keyFile = join(dir.path, 'keys', 'kiln.gpg');
  await mkdir(join(dir.path, 'keys'));
  const exported = await runKiln(['key', 'export', '--binary', '-o', keyFile, '--state', state]);
  assert.equal(exported.code, 0, explain(exported));
  await chmod(join(dir.path, 'keys'), 0o755);
  const store = createEnvStore({ stateDir: state });
  {
    await using lease = await store.acquire('bookworm-amd64');
    const backend = createChrootBackend({ stateDir: state });
    await using sb = await backend.create({
      env: lease.env,
      jobId: 'apt-check',
      workDir: join(dir.path, 'apt-check'),
      limits: { cpus: 1, memoryBytes: 1 << 30 },
      readOnlyBinds: [{ host: join(state, 'repo'), inside: '/srv/repo' }, { host: join(dir.path, 'keys'), inside: '/srv/keys' }],
    });
    const r = await sh(sb, [
      'set -e',
      'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*',
      'rm -rf /var/lib/apt/lists/*',
      "echo 'deb [signed-by=/srv/keys/kiln.gpg] file:/srv/repo bookworm main' > /etc/apt/sources.list.d/kiln.list",
      "echo 'deb-src [signed-by=/srv/keys/kiln.gpg] file:/srv/repo bookworm main' >> /etc/apt/sources.list.d/kiln.list",
      'apt-get update -o Acquire::Languages=none',
      'apt-get install -y --no-install-recommends hello',
      'dpkg-query -W hello',
      'hello',
      // The source it was built from comes with it (a deb-src line on the same repository).
      'mkdir /tmp/src && cd /tmp/src && apt-get source --download-only hello && ls',
    ].join('\n'));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /hello\t2\.10-3/);
    assert.match(r.out, /Hello, world!/);
    assert.match(r.out, /^hello_2\.10-3\.dsc$/m, r.out);
    assert.match(r.out, /^hello_2\.10\.orig\.tar\.gz$/m, r.out);
  }

  // Bit-identical to the archive's binary? Either way, the answer must say what differs.
  const debs = (await readdir(join(state, 'repo', 'pool'), { recursive: true })).filter((f) => String(f).endsWith('hello_2.10-3_amd64.deb'));
  assert.equal(debs.length, 1);
  const verified = await runKiln(['verify', join(state, 'repo', 'pool', String(debs[0])), '--suite', 'bookworm', ...common], { env: envs, timeoutMs: 5 * 60_000 });
  assert.ok(verified.code === 0 || verified.code === 1, explain(verified));
  t.diagnostic(`kiln verify hello: ${verified.stdout.trim().split('\n').slice(0, 12).join(' | ')}`);
  if (verified.code === 1) assert.match(verified.stdout, /usr\/bin\/hello/, 'a difference names the file');

  const again = await runKiln(['build', '--debian', 'bookworm', 'hello', '--json', ...common], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts['up-to-date'], 1, explain(again));
});



test('two local sources, one build-depending on the other\'s binary: the second waits and installs the fresh .deb', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-chain-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const { liba, app } = await makeChainSources(src);
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const common = ['--debian', 'bookworm', '--dsc', liba, '--dsc', app, '--state', state, '--cache', cache];

  const plan = await runKiln(['plan', ...common, '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(plan.code, 0, explain(plan));
  const planned = JSON.parse(plan.stdout) as { packages: { id: string; state: string; waitsFor: string[] }[] };
  const byId = new Map(planned.packages.map((p) => [p.id, p]));
  assert.equal(byId.get('kiln-liba@all')?.state, 'to-build', plan.stdout);
  assert.deepEqual(byId.get('kiln-app@amd64')?.waitsFor, ['kiln-liba@all'], plan.stdout);
  const text = await runKiln(['plan', ...common], { env: envs, timeoutMs: 10 * 60_000 });
  assert.match(text.stdout, /kiln-app@amd64.*after kiln-liba@all/);

  const built = await runKiln(['build', ...common, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 2, explain(built));
  const order = built.events.filter((e) => e.type === 'job-finished').map((e) => (e as { jobId: string }).jobId);
  assert.deepEqual(order, ['kiln-liba@all', 'kiln-app@amd64']);
  const log = logOf(built, 'kiln-app');
  assert.match(log, /install libkiln-a-dev 1\.0 \[all\] \(from this run's packages\)/, 'the second build installed the fresh .deb');
  // apt takes the run's own repository (in $SYSROOT) without a warning about its Release
  // (it said "No Hash entry in Release file …_kiln_sysroot_._Release", "Invalid 'Date' entry").
  assert.match(log, /Get:\d+ file:\/kiln\/sysroot \.\/ libkiln-a-dev 1\.0/, 'apt read the run\'s repository');
  assert.doesNotMatch(log, /^\[[ \d.]+\] [eo] W: /m, 'apt printed no warning');
  assert.match(log, /hello from a fresh libkiln-a-dev/, 'and compiled against it');
  // No service starts in the build's root (its build dependencies' postinsts ask invoke-rc.d).
  assert.match(log, /policy-rc\.d: 101/, 'a policy-rc.d that says no');
  // What the .deb holds, as sbuild's log shows it.
  assert.match(log, /kiln: ==> kiln-app_1\.0_amd64\.deb\n(.*\n)*.* Package: kiln-app\n(.*\n)*.*-rwxr-xr-x root\/root .* \.\/usr\/bin\/kiln-app\n/);
  const published = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  assert.match(published, /^Package: libkiln-a-dev$/m);
  assert.match(published, /^Package: kiln-app$/m);
  // Their sources beside them (local .dsc files): one Sources entry each, the .dsc in the pool.
  const sources = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'source', 'Sources'), 'utf8');
  assert.deepEqual([...sources.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort(), ['kiln-app', 'kiln-liba'], sources);
  assert.match(sources, /^Directory: pool\/main\/k\/kiln-app$/m);
  assert.ok(existsSync(join(state, 'repo', 'pool', 'main', 'k', 'kiln-app', 'kiln-app_1.0.dsc')), 'the .dsc is in the pool');
  assert.ok(built.events.some((e) => e.type === 'note' && /^published \d+ \.deb\(s\) and 2 source\(s\) to /.test((e as { text: string }).text)), explain(built));
  assert.match(log, /kept the installed build dependencies as layer [0-9a-f]{16}/);
  // The .changes names the suite built for (as sbuild -d does), not the changelog's unstable.
  assert.match(changesOf(built, 'kiln-app'), /^Distribution: bookworm$/m);

  // --extra-repository: kiln-app alone, in a fresh state, takes libkiln-a-dev from the
  // repository the first run published (signed by its key), as sbuild --extra-repository.
  const repoLine = `deb file://${join(state, 'repo')} bookworm main`;
  const state2 = join(dir.path, 'state2');
  const alone = ['--debian', 'bookworm', '--dsc', app, '--state', state2, '--cache', cache, '--json'];
  const unsigned = await runKiln(['build', ...alone, '--extra-repository', repoLine], { env: envs, timeoutMs: 10 * 60_000 });
  assert.notEqual(unsigned.code, 0, explain(unsigned));
  assert.match(unsigned.stderr, /--extra-repository "deb file:\/\/.*\/repo bookworm main": .*InRelease: is signed only by keys not in the keyring/, explain(unsigned));
  assert.match(unsigned.stderr, /--extra-repository-key FILE/, 'the hint says how to give its key');
  const key = join(dir.path, 'kiln-repo.asc');
  const exported = await runKiln(['key', 'export', '--state', state, '-o', key], { env: envs });
  assert.equal(exported.code, 0, explain(exported));
  const extra = await runKiln(['build', ...alone, '--extra-repository', repoLine, '--extra-repository-key', key], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(extra.code, 0, explain(extra));
  assert.equal(extra.summary?.counts.built, 1, explain(extra));
  const extraLog = logOf(extra, 'kiln-app');
  assert.match(extraLog, /with the extra repository file:\/\/\S+\/repo bookworm main: \d+ of its binaries for amd64 are in the index/);
  assert.match(extraLog, /install libkiln-a-dev 1\.0 \[all\] \(from the extra repository file:\/\/\S+\/repo\)/);
  assert.match(extraLog, /hello from a fresh libkiln-a-dev/, 'and compiled against it');

  // --lintian over a run with nothing to build: lintian checks what a run builds, and says
  // only that (not that the run which built them had --lintian: this one's did not).
  const linted = await runKiln(['build', ...common, '--lintian', '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  assert.equal(linted.code, 0, explain(linted));
  assert.equal(linted.summary?.counts['up-to-date'], 2, explain(linted));
  const lintNotes = linted.events.filter((e) => e.type === 'note' && /^lintian: /.test((e as { text: string }).text)).map((e) => (e as { text: string }).text);
  assert.deepEqual(lintNotes.sort(), [
    'lintian: kiln-app@amd64 was found up to date, not checked: lintian checks what a run builds; `--force kiln-app --lintian` rebuilds and checks it',
    'lintian: kiln-liba@all was found up to date, not checked: lintian checks what a run builds; `--force kiln-liba --lintian` rebuilds and checks it',
  ], explain(linted));

  // A forced rebuild with the same resolution mounts the kept layer instead of installing.
  // --out: the upload files of the built package and of the up-to-date one, as the .changes lists them.
  const out = join(dir.path, 'upload');
  const again = await runKiln(['build', ...common, '--force', 'kiln-app', '--out', out, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts.built, 1, explain(again));
  const uploaded = (await readdir(out)).sort();
  assert.deepEqual(uploaded, ['kiln-app_1.0_amd64.buildinfo', 'kiln-app_1.0_amd64.changes', 'kiln-app_1.0_amd64.deb', 'kiln-liba_1.0_all.buildinfo', 'kiln-liba_1.0_all.changes', 'libkiln-a-dev_1.0_all.deb']);
  const listed = [...readFileSync(join(out, 'kiln-app_1.0_amd64.changes'), 'utf8').matchAll(/^ [0-9a-f]{64} \d+ (\S+)$/gm)].map((m) => m[1]).sort();
  assert.deepEqual(listed, ['kiln-app_1.0_amd64.buildinfo', 'kiln-app_1.0_amd64.deb'], 'the .changes lists the files beside it');
  const log2 = logOf(again, 'kiln-app');
  assert.match(log2, /build dependencies: already installed in the cached layer/);
  assert.match(log2, /hello from a fresh libkiln-a-dev/, 'the layer holds the fresh libkiln-a-dev');

  // A binNMU: built again as 1.0+b1 (-B), which the repository lists over 1.0.
  const nmu = await runKiln(['build', ...common, '--binnmu', '1', '--twice', '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  assert.equal(nmu.code, 0, explain(nmu));
  // --twice builds the binNMU again the same way and compares the +b1 files.
  assert.match(nmu.stderr + nmu.stdout, /twice kiln-app_1\.0\+b1_amd64\.deb \(kiln-app@amd64\): (reproducible|differs)/, explain(nmu));
  const log3 = logOf(nmu, 'kiln-app');
  // A .deb whose two builds differ is kept, both builds, beside the log (for diffoscope).
  if (/twice kiln-app_1\.0\+b1_amd64\.deb \(kiln-app@amd64\): differs/.test(nmu.stderr + nmu.stdout)) {
    const logPath = (nmu.events.find((e) => e.type === 'job-started' && e.name === 'kiln-app') as { log: string }).log;
    for (const which of ['first', 'second']) assert.ok(existsSync(join(`${logPath}.twice`, which, 'kiln-app_1.0+b1_amd64.deb')), `the ${which} build is kept`);
    assert.match(readFileSync(`${logPath}.twice.json`, 'utf8'), new RegExp(`a: ${logPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.twice/first/`));
  }
  assert.match(log3, /kiln: binNMU: kiln-app 1\.0\+b1/);
  assert.match(log3, /dpkg-buildpackage -us -uc -B/);
  const after = readFileSync(join(state, 'repo', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages'), 'utf8');
  // The binary's version is the binNMU's; its Source field keeps the source's version.
  assert.match(after, /^Package: kiln-app\nSource: kiln-app \(1\.0\)\nVersion: 1\.0\+b1$/m, after);
  assert.match(after, /^Filename: pool\/main\/k\/kiln-app\/kiln-app_1\.0\+b1_amd64\.deb$/m, after);
  // The binNMU's changelog entry is for the suite built for, as sbuild's --make-binNMU's.
  const nmuChanges = changesOf(nmu, 'kiln-app');
  assert.match(nmuChanges, /^Distribution: bookworm$/m);
  assert.match(nmuChanges, /^ kiln-app \(1\.0\+b1\) bookworm; urgency=medium, binary-only=yes$/m);
});

/** The .changes of a package's build in a run, from its artifact. */
function changesOf(r: KilnResult, name: string): string {
  const done = r.events.find((e) => e.type === 'job-finished' && (e as { name?: string }).name === name) as { artifact?: string } | undefined;
  assert.ok(done?.artifact !== undefined, `no artifact of ${name}`);
  return execFileSync('tar', ['--zstd', '-xOf', done.artifact, '--wildcards', '*.changes'], { encoding: 'utf8' });
}

/** debian/rules' binary targets of a one-binary source whose build installs nothing (no debhelper). */
const binary = (name: string): string => `binary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN\n\tdpkg-gencontrol -p${name} -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`;

test('a Debian build has HOME a path that does not exist and cannot be made (as on the buildds); a failing one names dpkg-buildpackage', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-home-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  // Reads HOME only (as most builds): builds, with kiln's own steps (dpkg-source, the binNMU entry, collect).
  const reads = await makeSource(src, 'kiln-home-reads', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: kiln-home-reads\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@echo "kiln-test: HOME=$$HOME"; test ! -e "$$HOME"\nclean:\n\trm -rf debian/tmp debian/files\n${binary('kiln-home-reads')}`,
    files: {},
  });
  // Writes to HOME (makes it first, as a tool's config folder would): fails, as on Debian's buildds.
  const writes = await makeSource(src, 'kiln-home-writes', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: kiln-home-writes\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\tmkdir -p "$$HOME/.config" && touch "$$HOME/.config/kiln-test"\nclean:\n\trm -rf debian/tmp debian/files\n${binary('kiln-home-writes')}`,
    files: {},
  });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const built = await runKiln(['build', '--debian', 'bookworm', '--dsc', reads, '--dsc', writes, '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.summary?.counts.built, 1, explain(built));
  assert.equal(built.summary?.counts.failed, 1, explain(built));
  const readsLog = logOf(built, 'kiln-home-reads');
  assert.match(readsLog, /kiln-test: HOME=\/kiln-nonexistent$/m);
  assert.doesNotMatch(readsLog, /kiln: warning: HOME=/);
  const writesLog = logOf(built, 'kiln-home-writes');
  assert.match(writesLog, /mkdir: cannot create directory .\/kiln-nonexistent.: Permission denied/, writesLog);
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; state: string; cause: string | null }[] };
  const failed = report.packages.find((p) => p.name === 'kiln-home-writes');
  assert.equal(failed?.state, 'failed');
  assert.equal(failed?.cause, 'dpkg-buildpackage exited with status 2', JSON.stringify(failed));
});

test('a Debian run whose apt repository cannot be published fails (exit 1), and its report and junit.xml say why; the next run publishes it', { skip, timeout: 30 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-unpublished-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const dsc = await makeSource(src, 'kiln-unpublished', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: kiln-unpublished\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\nclean:\n\trm -rf debian/tmp debian/files\n${binary('kiln-unpublished')}`,
    files: {},
  });
  // And one that fails to build: the run has failed already, and still says why nothing was published.
  const fails = await makeSource(src, 'kiln-unpublished-fails', {
    arch: 'all',
    buildDepends: 'make',
    control: 'Package: kiln-unpublished-fails\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\tfalse\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep: build\n`,
    files: {},
  });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  // The repository's folder is a file: publishing cannot make it (as a read-only or full disk would not let it).
  await mkdir(state, { recursive: true });
  await writeFile(join(state, 'repo'), 'not a folder\n');
  const built = await runKiln(['build', '--debian', 'bookworm', '--dsc', dsc, '--dsc', fails, '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 1, explain(built));
  assert.equal(built.summary?.state, 'failed', explain(built));
  assert.equal(built.summary?.counts.built, 1, explain(built));
  assert.equal(built.summary?.counts.failed, 1, explain(built));
  assert.match(built.stdout + built.stderr, /publishing the apt repository failed: .*repo/, explain(built));
  // (The run had failed already: no second word of failing, but the report says why nothing was published.)
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { state: string; publishError?: string };
  assert.equal(report.state, 'failed');
  assert.match(report.publishError ?? '', /repo/);
  assert.match(readFileSync(join(dirname(built.summary!.report), 'junit.xml'), 'utf8'), /<testcase classname="publish" name="apt repository" time="0\.000">\n<failure type="publish"/);
  // Mended: the next run finds the package up to date and publishes it.
  await rm(join(state, 'repo'));
  const again = await runKiln(['build', '--debian', 'bookworm', '--dsc', dsc, '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.summary?.counts['up-to-date'], 1, explain(again));
  assert.ok(existsSync(join(state, 'repo', 'pool', 'main', 'k', 'kiln-unpublished', 'kiln-unpublished_1.0_all.deb')), explain(again));
});
