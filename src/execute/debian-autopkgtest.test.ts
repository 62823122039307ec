import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRelations } from '../debian/relation.ts';
import { countsOf, expandDepends, shownText, binaryNames, testRunsOn, outcomeOf, testScript, testStanzas, testsuiteOf, toolsScript, verdictOf } from './debian-autopkgtest.ts';

const CONTROL = [
  'Tests: smoke, upgrade',
  'Restrictions: allow-stderr needs-root',
  '',
  'Test-Command: foo --version',
  'Depends: @, python3 (>= 3.9) | python3-minimal,',
  ' hello',
  '',
  'Tests: build',
  'Depends: @builddeps@',
  'Restrictions: build-needed, needs-recommends',
  '',
  'Test-Command: /usr/share/pkg-perl-autopkgtest/runner build-deps',
  'Features: test-name=autodep8-perl-build-deps',
  '',
  'Test-Command: true',
  'Architecture: !s390x',
  '',
].join('\n');

test('testStanzas: test names (a Test-Command by its test-name feature, else numbered, as autopkgtest names them), Depends (default @), Restrictions', () => {
  const { tests, problems } = testStanzas(CONTROL);
  assert.deepEqual(problems, []);
  assert.deepEqual(tests, [
    { names: ['smoke', 'upgrade'], depends: '@', restrictions: ['allow-stderr', 'needs-root'], architecture: [] },
    { names: ['command1'], depends: '@, python3 (>= 3.9) | python3-minimal, hello', restrictions: [], architecture: [] },
    { names: ['build'], depends: '@builddeps@', restrictions: ['build-needed', 'needs-recommends'], architecture: [] },
    { names: ['autodep8-perl-build-deps'], depends: '@', restrictions: [], architecture: [] },
    { names: ['command2'], depends: '@', restrictions: [], architecture: ['!s390x'] },
  ]);
  assert.equal(testStanzas('Tests: a\n not a continuation of anything\n:bad\n').tests.length, 0);
  assert.equal(testStanzas('Tests: a\n not a continuation of anything\n:bad\n').problems.length, 1);
});

test('expandDepends: @ is the built packages, @builddeps@ the build dependencies and build-essential, needs-recommends adds their Recommends', () => {
  const [smoke, command, build] = testStanzas(CONTROL).tests;
  const o = { built: ['foo', 'libfoo1'], buildDepends: parseRelations('debhelper-compat (= 13), libbar-dev').groups, recommends: parseRelations('foo-doc').groups };
  assert.equal(expandDepends(smoke!, o), 'foo, libfoo1');
  assert.equal(expandDepends(command!, o), 'foo, libfoo1, python3 (>= 3.9) | python3-minimal, hello');
  assert.equal(expandDepends(build!, o), 'debhelper-compat (= 13), libbar-dev, build-essential, foo-doc');
  // Every expansion parses as relations, for the closure and apt-get satisfy.
  for (const t of [smoke!, command!, build!]) assert.deepEqual(parseRelations(expandDepends(t, o)).errors, []);
});

test('outcomeOf: the exit status, the summary (a result said twice kept once), autopkgtest\'s messages; other lines are not read', () => {
  const out = [
    'Reading package lists...',
    'kiln-autopkgtest: exit 4',
    'kiln-autopkgtest: result breaks               SKIP Test restriction "breaks-testbed" requires testbed capability "revert-full-system"',
    'kiln-autopkgtest: result breaks               SKIP Test restriction "breaks-testbed" requires testbed capability "revert-full-system"',
    'kiln-autopkgtest: result works                PASS',
    'kiln-autopkgtest: result fails                FAIL non-zero exit status 1',
    'kiln-autopkgtest: result blame: arg:/kiln/src/foo_1.0.dsc',
    'a line of apt\'s: kiln-autopkgtest: exit 0',
  ].join('\n');
  const o = outcomeOf(out);
  assert.equal(o.exit, 4);
  assert.deepEqual(o.results, [
    { name: 'breaks', result: 'SKIP', detail: 'Test restriction "breaks-testbed" requires testbed capability "revert-full-system"' },
    { name: 'works', result: 'PASS', detail: '' },
    { name: 'fails', result: 'FAIL', detail: 'non-zero exit status 1' },
  ]);
  assert.deepEqual(o.messages, ['blame: arg:/kiln/src/foo_1.0.dsc']);
  assert.equal(countsOf(o.results), '1 passed, 1 failed, 1 skipped');
});

test('verdictOf: a failed test, an erroneous package, a testbed failure, an unexpected exit or no exit at all are warnings; passes and skips are notes', () => {
  const base = { results: [], messages: [], setupFailed: false, asRoot: false };
  const table: [Partial<ReturnType<typeof outcomeOf>>, string[]][] = [
    [{ exit: 0, results: [{ name: 'works', result: 'PASS', detail: '' }] }, []],
    [{ exit: 2, results: [{ name: 'net', result: 'SKIP', detail: 'needs-internet' }] }, []],
    [{ exit: 4, results: [{ name: 'fails', result: 'FAIL', detail: 'non-zero exit status 1' }] }, ['autopkgtest: test fails failed: non-zero exit status 1 (see the log)']],
    [{ exit: 4 }, ['autopkgtest: at least one test failed (exit 4): see the log']],
    [{ exit: 8, results: [{ name: '*', result: 'SKIP', detail: 'no tests in this package' }] }, []],
    [{ exit: 12, messages: ['blame: arg:x.deb', 'badpkg: Test dependencies are unsatisfiable. A common reason is that your testbed is out of date with respect to the archive, and you need to use a current testbed or run apt-get update or use -U.'] }, ['autopkgtest: the package\'s tests cannot be run (erroneous package, exit 12): Test dependencies are unsatisfiable']],
    [{ exit: 12, results: [{ name: 'a', result: 'PASS', detail: '' }], messages: ['badpkg: rules extract failed', 'erroneous package: rules extract failed'] }, ['autopkgtest: some of the package\'s tests cannot be run (erroneous package, exit 12): rules extract failed']],
    [{ exit: 16 }, ['autopkgtest: testbed failure (exit 16)']],
    [{ exit: 20, messages: ['quitting: unexpected error, see log'] }, ['autopkgtest: failed unexpectedly (exit 20): quitting: unexpected error, see log: see the log']],
    [{ exit: undefined }, ['autopkgtest: did not finish (killed, timed out, or kiln\'s side failed): see the log']],
    [{ exit: undefined, setupFailed: true }, ['autopkgtest: could not install autopkgtest into the fresh root (apt-get install failed: see the log)']],
  ];
  for (const [o, warnings] of table) assert.deepEqual(verdictOf({ ...base, exit: undefined, ...o }).warnings, warnings, JSON.stringify(o));
  assert.deepEqual(verdictOf({ ...base, exit: 4, results: [{ name: 'mounts', result: 'FAIL', detail: 'non-zero exit status 32' }] }, new Set(['mounts'])).warnings, [
    'autopkgtest: test mounts failed: non-zero exit status 32 (see the log; it needs root, and root in kiln\'s sandbox may not mount, chroot or gain privileges, as it may on Debian\'s CI)',
  ]);
  assert.deepEqual(verdictOf({ ...base, exit: 8 }).notes, ['autopkgtest: no test ran but superficial ones (or none at all: every test skipped)']);
  assert.match(verdictOf({ ...base, exit: 0, asRoot: true }).notes.join('\n'), /ran as root: su cannot switch/);
});

test('testScript: autopkgtest with the null server, internet tests skipped, the summary marked for kiln, its exit status whatever it is', () => {
  const s = testScript();
  assert.match(s, /autopkgtest --summary=\S+ --needs-internet=skip \$user "\$@" -- null/);
  assert.match(s, /set \+e/);
  assert.match(s, /echo "kiln-autopkgtest: exit \$rc"/);
});

test('toolsScript: installs the tools offline, unpacks the .dsc and shows its controls (and autodep8\'s, when asked) between marks that shownText reads', () => {
  const plain = toolsScript('autopkgtest, dpkg-dev', false);
  assert.match(plain, /apt-get install -y --no-install-recommends \S+ autopkgtest dpkg-dev >&2/);
  assert.match(plain, /dpkg-source --no-check -x "\$1" \/kiln\/tmp\/unpacked/);
  assert.doesNotMatch(plain, /autodep8/);
  const with8 = toolsScript('autopkgtest, dpkg-dev, autodep8', true);
  assert.match(with8, /autopkgtest dpkg-dev autodep8 >&2/);
  const out = 'noise\nkiln-autopkgtest: control-begin\nSource: x\n\nPackage: x\nArchitecture: any\nkiln-autopkgtest: control-end\nkiln-autopkgtest: tests-begin\nkiln-autopkgtest: tests-end\nkiln-autopkgtest: autodep8-begin\nTest-Command: true\nFeatures: test-name=x\n\nkiln-autopkgtest: autodep8-end\nmore noise\n';
  assert.equal(shownText(out, 'autodep8'), 'Test-Command: true\nFeatures: test-name=x\n\n');
  assert.equal(shownText(out, 'control'), 'Source: x\n\nPackage: x\nArchitecture: any\n');
  assert.equal(shownText(out, 'tests'), undefined);
  assert.equal(shownText('nothing', 'tests'), undefined);
});

test('binaryNames: @ is every deb package of debian/control built for the arch, whatever this build made (a <!nodoc> package too)', () => {
  const control = 'Source: foo\nBuild-Depends: debhelper-compat (= 13)\n\nPackage: foo\nArchitecture: any\n\nPackage: foo-doc\nArchitecture: all\nBuild-Profiles: <!nodoc>\n\nPackage: foo-udeb\nPackage-Type: udeb\nArchitecture: any\n\nPackage: foo-arm\nArchitecture: arm64 armhf\n\nPackage: foo-linux\nArchitecture: linux-any\n';
  assert.deepEqual(binaryNames(control, 'amd64'), ['foo', 'foo-doc', 'foo-linux']);
  assert.deepEqual(binaryNames(control, 'arm64'), ['foo', 'foo-doc', 'foo-arm', 'foo-linux']);
  assert.deepEqual(binaryNames(':not deb822', 'amd64'), []);
});

test('testRunsOn: a test\'s Architecture field, with negation, as autopkgtest reads it', () => {
  const t = (architecture: string[]) => ({ architecture });
  assert.equal(testRunsOn(t([]), 'amd64'), true);
  assert.equal(testRunsOn(t(['arm64']), 'amd64'), false);
  assert.equal(testRunsOn(t(['amd64', 'arm64']), 'amd64'), true);
  assert.equal(testRunsOn(t(['!amd64']), 'amd64'), false);
  assert.equal(testRunsOn(t(['!amd64']), 'riscv64'), true);
  assert.equal(testRunsOn(t(['linux-any']), 'riscv64'), true);
});

test('testsuiteOf: tests when the .dsc has a Testsuite field (as Debian\'s CI decides), autodep8 when it names one of its kinds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-testsuite-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dsc = async (testsuite: string | undefined) => {
    const f = join(dir, 'x.dsc');
    await writeFile(f, `Format: 3.0 (quilt)\nSource: x\n${testsuite === undefined ? '' : `Testsuite: ${testsuite}\n`}Version: 1.0-1\n`);
    return f;
  };
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest')), { autodep8: false });
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest, autopkgtest-pkg-python')), { autodep8: true });
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest-pkg-perl')), { autodep8: true });
  assert.match((await testsuiteOf(await dsc(undefined)) as { none: string }).none, /^the source declares no tests \(no Testsuite field/);
});
