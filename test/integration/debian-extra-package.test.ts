// --extra-package, for real, in the shared bookworm amd64 env (chroot sandbox), as sbuild's:
// a tiny .deb kiln-extra-dep made with dpkg-deb --build from a folder, and a tiny local
// source whose Build-Depends names it. Without --extra-package the build dependency is
// unsatisfiable, said before anything builds; with it (a folder of .debs) the source builds,
// and its log shows apt installed kiln-extra-dep from the extra package, and an extra
// `hello` of a lower version than the archive's over the archive's. The .deb rebuilt
// with other contents under the same version makes the plan rebuild the source, naming it.
// A bad --extra-package is a usage error before anything is fetched.
//
// Slow (a minute): skipped with KILN_SKIP_SLOW=1, when not root, or without mmdebstrap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { buildDeb } from '../../src/debian/deb-test-helpers.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { jobLogOf, runKiln, type KilnResult } from '../helpers/run-kiln.ts';

const skip = sharedEnvSkip();
const explain = (r: KilnResult): string => `exit ${r.code}\n--- stderr ---\n${r.stderr.slice(-4000)}\n--- stdout ---\n${r.stdout.slice(-4000)}`;

/** The extra package: a data file the source's build reads, so the log shows which one was installed. */
const extraDeb = (dir: string, greeting: string) => buildDeb(dir, 'kiln-extra-dep_1.0_all', {
  control: { Package: 'kiln-extra-dep', Version: '1.0', Architecture: 'all', Description: 'kiln test extra package\n kiln test.' },
  files: { 'usr/share/kiln-extra-dep/greeting': `${greeting}\n` },
});

test('--extra-package: a build dependency only a local .deb has is unsatisfiable without it, installed from it with it; a changed .deb rebuilds, naming it', { skip, timeout: 20 * 60_000 }, async (t) => {
  if ((await hostDebianMirror({})) === undefined) {
    t.skip('the host has no Debian mirror in its apt sources');
    return;
  }
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-extra-package-');
  const src = join(dir.path, 'src');
  const debs = join(dir.path, 'debs');
  await mkdir(src);
  await mkdir(debs);
  await extraDeb(debs, 'hello from the extra package');
  // A package the archive has too (hello 2.10-3), at a lower version: the extra one wins, as in sbuild.
  await buildDeb(debs, 'hello_0.1-kiln1_all', { control: { Package: 'hello', Version: '0.1-kiln1', Architecture: 'all', Description: 'kiln test stand-in\n kiln test.' }, files: { 'usr/share/kiln-extra-dep/hello-note': 'the extra hello\n' } });
  const dsc = await makeSource(src, 'kiln-uses-extra', {
    arch: 'all',
    buildDepends: 'kiln-extra-dep (>= 1.0), hello',
    control: 'Package: kiln-uses-extra\nArchitecture: all\nDescription: kiln test\n kiln test.\n',
    rules: `${RULES_HEAD}build build-arch build-indep:\n\tcat /usr/share/kiln-extra-dep/greeting /usr/share/kiln-extra-dep/hello-note\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep: build\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN\n\tdpkg-gencontrol -pkiln-uses-extra -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: {},
  });
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const common = ['--debian', 'bookworm', '--dsc', dsc, '--state', state, '--cache', cache];

  // A bad path: a usage error naming it, before anything is fetched.
  const missing = await runKiln(['build', ...common, '--extra-package', join(dir.path, 'nope.deb')], { env: envs, timeoutMs: 60_000 });
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /--extra-package \S+\/nope\.deb: \S+\/nope\.deb does not exist/, explain(missing));
  await writeFile(join(dir.path, 'junk.deb'), 'not a package\n');
  const junk = await runKiln(['build', ...common, '--extra-package', join(dir.path, 'junk.deb')], { env: envs, timeoutMs: 60_000 });
  assert.equal(junk.code, 2, explain(junk));
  assert.match(junk.stderr, /junk\.deb is not a valid \.deb/, explain(junk));
  // A daemon builds on its own disk: the flag is refused as local-only, not ignored.
  const remote = await runKiln(['build', '--tree', dir.path, '--server', 'http://127.0.0.1:9', '--token', 'x', '--extra-package', join(dir.path, 'junk.deb')], { env: envs, timeoutMs: 60_000 });
  assert.equal(remote.code, 2, explain(remote));
  assert.match(remote.stderr, /--server: --extra-package applies to a local build only/, explain(remote));

  // Without it: kiln-extra-dep is in no repository apt sees, said before anything builds.
  const without = await runKiln(['build', ...common, '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  saveCache(cache);
  assert.notEqual(without.code, 0, explain(without));
  assert.equal(without.summary?.counts.built ?? 0, 0, explain(without));
  assert.match(without.stdout + without.stderr, /build dependencies not installable: unsat-dependency: kiln-extra-dep/, explain(without));

  // With it (the folder): built, kiln-extra-dep installed from the extra package.
  const t0 = Date.now();
  const built = await runKiln(['build', ...common, '--extra-package', debs, '--json'], { env: envs, timeoutMs: 10 * 60_000 });
  const ms = Date.now() - t0;
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 1, explain(built));
  const log = jobLogOf(built, 'kiln-uses-extra');
  assert.match(log, /extra packages \(--extra-package\) offered to apt, preferred over the archive's packages of the same names: hello 0\.1-kiln1 \[all\] \(\S+, sha256 [0-9a-f]{12}\), kiln-extra-dep 1\.0 \[all\] \(\S+\/debs\/kiln-extra-dep_1\.0_all\.deb, sha256 [0-9a-f]{12}\)/, log);
  assert.match(log, /install kiln-extra-dep 1\.0 \[all\] \(from the extra package \S+\/debs\/kiln-extra-dep_1\.0_all\.deb\)/, log);
  assert.match(log, /install hello 0\.1-kiln1 \[all\] \(from the extra package \S+\/debs\/hello_0\.1-kiln1_all\.deb\)/, 'the extra hello over the archive\'s 2.10-3');
  assert.match(log, /hello from the extra package/, 'the build read the file the extra package installed');
  assert.match(log, /the extra hello/);
  t.diagnostic(`the build with --extra-package took ${ms} ms`);

  // The same again: up to date. The .deb rebuilt with other contents, same version: rebuilt, the reason names it.
  const again = await runKiln(['plan', ...common, '--extra-package', debs, '--json'], { env: envs, timeoutMs: 5 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  const state0 = (JSON.parse(again.stdout) as { packages: { name: string; state: string }[] }).packages.find((p) => p.name === 'kiln-uses-extra');
  assert.equal(state0?.state, 'up-to-date', again.stdout);
  await extraDeb(debs, 'hello from the fixed extra package');
  const changed = await runKiln(['plan', ...common, '--extra-package', debs], { env: envs, timeoutMs: 5 * 60_000 });
  assert.equal(changed.code, 0, explain(changed));
  assert.match(changed.stdout, /kiln-uses-extra@all.*recipe-changed: extra package kiln-extra-dep 1\.0: the \.deb's contents changed \(--extra-package\)/, explain(changed));
  assert.match(changed.stdout, /with 2 extra package\(s\), preferred over the suite's of the same name: hello 0\.1-kiln1 \[all\], kiln-extra-dep 1\.0 \[all\]/, explain(changed));
});
