// kiln build --debian … --autopkgtest, for real, in the shared bookworm amd64 env (chroot
// sandbox): after the build, autopkgtest itself runs the source's debian/tests/control in a
// fresh root of the env (the null virtualisation server), on the built .deb, offline: a test
// that passes as the build user, one that needs root, a Test-Command depending on an
// archive package (hello), one that fails (the job's warning; a failure with
// --fail-on-warnings) and one autopkgtest skips (breaks-testbed). A source without tests is
// said so and not tested. Slow (a minute): skipped as the other Debian tests are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostDebianMirror } from '../../src/config/mirrors.ts';
import { sharedEnv, sharedEnvSkip } from '../helpers/shared-env.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { makeSource, RULES_HEAD } from '../helpers/debian-source.ts';
import { saveCache, seededCache } from '../helpers/shared-cache.ts';
import { explain, jobLogOf, runKiln } from '../helpers/run-kiln.ts';

const noMirror = (await hostDebianMirror({})) === undefined ? 'the host has no Debian mirror in its apt sources' : false;
const skip = sharedEnvSkip() ?? noMirror;

/** An arch-all package installing /usr/bin/NAME, which prints "NAME works"; `tests` are debian/tests files. */
function source(src: string, name: string, tests: Record<string, string>, buildDepends = 'make'): Promise<string> {
  return makeSource(src, name, {
    arch: 'all',
    buildDepends,
    control: `Package: ${name}\nArchitecture: all\nDescription: kiln autopkgtest test\n kiln test.\n`,
    rules: `${RULES_HEAD}build build-arch build-indep:\n\t@true\nclean:\n\trm -rf debian/tmp debian/files\nbinary binary-arch binary-indep:\n\trm -rf debian/tmp && mkdir -p debian/tmp/DEBIAN debian/tmp/usr/bin\n\tinstall -m755 ${name}.sh debian/tmp/usr/bin/${name}\n\tdpkg-gencontrol -p${name} -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n`,
    files: { [`${name}.sh`]: `#!/bin/sh\necho "${name} works"\n`, ...tests },
  });
}

const CONTROL = [
  'Tests: works',
  '',
  'Tests: as-root',
  'Restrictions: needs-root',
  '',
  "Test-Command: hello | grep -q 'Hello, world'",
  'Depends: hello',
  '',
  'Tests: fails',
  '',
  'Tests: breaks',
  'Restrictions: breaks-testbed',
  '',
].join('\n');

test('--autopkgtest: the source\'s tests run by autopkgtest in a fresh root; a failed test is a warning (a failure with --fail-on-warnings)', { skip, timeout: 30 * 60_000 }, async () => {
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-autopkgtest-');
  const src = join(dir.path, 'src');
  await mkdir(src);
  const tested = await source(src, 'kiln-tested', {
    'debian/tests/control': CONTROL,
    // Run as the build user, not root: autopkgtest's --user.
    'debian/tests/works': '#!/bin/sh\nset -e\nkiln-tested | grep -q "kiln-tested works"\necho "works: running as $(id -un)"\n[ "$(id -u)" != 0 ]\n',
    'debian/tests/as-root': '#!/bin/sh\nset -e\n[ "$(id -u)" = 0 ]\n',
    'debian/tests/fails': '#!/bin/sh\necho "kiln-tested: this test fails on purpose"\nexit 1\n',
    'debian/tests/breaks': '#!/bin/sh\nexit 0\n',
  });
  const untested = await source(src, 'kiln-untested', {});
  // A rebuild of a package the env's base has at a higher version (hostname 3.23 there, 1.0
  // here, as a binNMU of the archive is above its source's rebuild): the build's is tested.
  const base = await source(src, 'hostname', {
    'debian/tests/control': 'Tests: version\n',
    'debian/tests/version': '#!/bin/sh\nset -e\necho "version: $(dpkg-query -W -f=\'${Version}\' hostname)"\n[ "$(dpkg-query -W -f=\'${Version}\' hostname)" = 1.0 ]\n',
  });
  // A build-needed test: autopkgtest builds the source again in the root, with its build
  // dependencies (libbz2-dev), which kiln fetches too.
  const rebuilt = await source(src, 'kiln-rebuilt', {
    'debian/tests/control': 'Tests: header\nRestrictions: build-needed\n',
    'debian/tests/header': '#!/bin/sh\nset -e\ntest -f /usr/include/bzlib.h\necho "header: bzlib.h is there"\n',
  }, 'make, libbz2-dev');
  // A package of this run (hello 1.0, here) that the archive has at a higher version
  // (2.10-3): a test of a source built against it gets the run's, as the build did.
  const hello = await source(src, 'hello', {});
  const user = await source(src, 'kiln-hello-user', {
    'debian/tests/control': 'Tests: which-hello\nDepends: @, hello\n',
    'debian/tests/which-hello': '#!/bin/sh\nset -e\necho "which-hello: $(dpkg-query -W -f=\'${Version}\' hello)"\n[ "$(dpkg-query -W -f=\'${Version}\' hello)" = 1.0 ]\n',
  }, 'make, hello');
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  const built = await runKiln(['build', '--debian', 'bookworm', '--dsc', tested, '--dsc', untested, '--dsc', base, '--dsc', rebuilt, '--dsc', hello, '--dsc', user, '--autopkgtest', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.counts.built, 6, explain(built));
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; warnings?: string[] }[]; autopkgtest?: { job: string; test: string; result: string; detail: string }[] };
  const warningsOf = (name: string): string[] => report.packages.find((p) => p.name === name)?.warnings ?? [];
  assert.deepEqual(warningsOf('kiln-tested'), ['autopkgtest: test fails failed: non-zero exit status 1 (see the log)']);
  // Each test in the report, in junit.xml for a CI's test view, and a line on the console.
  assert.deepEqual(report.autopkgtest?.filter((e) => e.job === 'kiln-tested@all').map((e) => `${e.test} ${e.result}`), ['breaks SKIP', 'works PASS', 'as-root PASS', 'command1 PASS', 'fails FAIL']);
  const junit = readFileSync(join(dirname(built.summary!.report), 'junit.xml'), 'utf8');
  assert.match(junit, /<testcase classname="autopkgtest\.kiln-tested@all" name="fails">\n<failure type="autopkgtest" message="non-zero exit status 1">/);
  assert.match(built.stdout + built.stderr, /autopkgtest kiln-tested@all: 3 passed, 1 failed, 1 skipped/);
  const log = jobLogOf(built, 'kiln-tested');
  assert.match(log, /autopkgtest: 5 test\(s\) \(works, as-root, command1, fails, breaks\) of kiln-tested_1\.0\.dsc, on kiln-tested/);
  assert.match(log, /works: running as kiln/);
  assert.match(log, /kiln-tested: this test fails on purpose/);
  // hello comes from the archive, through the downloads cache, offline.
  assert.match(log, /Unpacking hello /);
  assert.match(log, /autopkgtest: breaks SKIP \(Test restriction "breaks-testbed"/);
  assert.match(log, /autopkgtest: 3 passed, 1 failed, 1 skipped/);
  assert.deepEqual(warningsOf('kiln-untested'), []);
  assert.deepEqual(warningsOf('hostname'), []);
  assert.match(jobLogOf(built, 'hostname'), /version: 1\.0\n[^]*autopkgtest: 1 passed/);
  assert.deepEqual(warningsOf('kiln-rebuilt'), []);
  assert.match(jobLogOf(built, 'kiln-rebuilt'), /header: bzlib\.h is there\n[^]*autopkgtest: 1 passed/);
  assert.deepEqual(warningsOf('kiln-hello-user'), []);
  assert.match(jobLogOf(built, 'kiln-hello-user'), /which-hello: 1\.0\n[^]*autopkgtest: 1 passed/);
  assert.match(jobLogOf(built, 'kiln-untested'), /autopkgtest: not run: the source declares no tests/);
  assert.ok(built.events.some((e) => e.type === 'job-finished' && e.name === 'kiln-tested' && (e.warnings ?? []).length === 1), explain(built));

  // A package found up to date is not tested again, and the run says so.
  const again = await runKiln(['build', '--debian', 'bookworm', '--dsc', base, '--autopkgtest', '--state', state, '--cache', cache], { env: envs, timeoutMs: 5 * 60_000 });
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout + again.stderr, /--autopkgtest: hostname@all was found up to date, not checked again: `--force hostname --autopkgtest` rebuilds and checks it/);

  // With --fail-on-warnings the package fails, and nothing is stored for it.
  const strict = await runKiln(['build', '--debian', 'bookworm', '--dsc', tested, '--autopkgtest', '--fail-on-warnings', '--force', 'kiln-tested', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  assert.equal(strict.code, 1, explain(strict));
  const failed = JSON.parse(readFileSync(strict.summary!.report, 'utf8')) as { packages: { name: string; state: string; cause: string | null }[] };
  assert.match(failed.packages.find((p) => p.name === 'kiln-tested')?.cause ?? '', /test fails failed.*warnings fail the build: --fail-on-warnings/);
});

test('--autopkgtest: a real source whose tests autodep8 generates (Testsuite: autopkgtest-pkg-perl), from the suite', { skip, timeout: 30 * 60_000 }, async () => {
  const envs = await sharedEnv();
  await using dir = await tmpDir('kiln-debian-autodep8-');
  const state = join(dir.path, 'state');
  const cache = await seededCache(dir.path);
  // --nocheck: the build skips the test suite; autopkgtest's @builddeps@ still has the
  // <!nocheck> build dependencies (libcapture-tiny-perl), as the testbed has no profile.
  const built = await runKiln(['build', '--debian', 'bookworm', 'libtry-tiny-perl', '--nocheck', '--autopkgtest', '--state', state, '--cache', cache, '--json'], { env: envs, timeoutMs: 20 * 60_000 });
  saveCache(cache);
  assert.equal(built.code, 0, explain(built));
  const report = JSON.parse(readFileSync(built.summary!.report, 'utf8')) as { packages: { name: string; warnings?: string[] }[] };
  assert.deepEqual(report.packages.find((p) => p.name === 'libtry-tiny-perl')?.warnings ?? [], []);
  const log = jobLogOf(built, 'libtry-tiny-perl');
  assert.match(log, /autopkgtest: 3 test\(s\) \(autodep8-perl-build-deps, autodep8-perl, autodep8-perl-recommends; generated by autodep8\)/);
  assert.match(log, /autopkgtest: autodep8-perl-build-deps PASS\n/);
  assert.match(log, /autopkgtest: 3 passed/);
});
