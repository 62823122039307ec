import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRelations } from '../debian/relation.ts';
import { countsOf, expandDepends, generatedControl, outcomeOf, testScript, testStanzas, testsuiteOf, toolsScript, verdictOf } from './debian-autopkgtest.ts';

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
  '',
].join('\n');

test('testStanzas: test names (a Test-Command by its test-name feature, else numbered, as autopkgtest names them), Depends (default @), Restrictions', () => {
  const { tests, problems } = testStanzas(CONTROL);
  assert.deepEqual(problems, []);
  assert.deepEqual(tests, [
    { names: ['smoke', 'upgrade'], depends: '@', restrictions: ['allow-stderr', 'needs-root'] },
    { names: ['command1'], depends: '@, python3 (>= 3.9) | python3-minimal, hello', restrictions: [] },
    { names: ['build'], depends: '@builddeps@', restrictions: ['build-needed', 'needs-recommends'] },
    { names: ['autodep8-perl-build-deps'], depends: '@', restrictions: [] },
    { names: ['command2'], depends: '@', restrictions: [] },
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

test('outcomeOf: the exit status, the summary (a result said twice kept once), autopkgtest\'s messages, kiln\'s own marks; other lines are not read', () => {
  const out = [
    'kiln-autopkgtest: unresolvable 2',
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
  assert.deepEqual(o.unresolvable, [2]);
  assert.deepEqual(o.results, [
    { name: 'breaks', result: 'SKIP', detail: 'Test restriction "breaks-testbed" requires testbed capability "revert-full-system"' },
    { name: 'works', result: 'PASS', detail: '' },
    { name: 'fails', result: 'FAIL', detail: 'non-zero exit status 1' },
  ]);
  assert.deepEqual(o.messages, ['blame: arg:/kiln/src/foo_1.0.dsc']);
  assert.equal(countsOf(o.results), '1 passed, 1 failed, 1 skipped');
});

test('verdictOf: a failed test, an erroneous package, a testbed failure, an unexpected exit or no exit at all are warnings; passes and skips are notes', () => {
  const base = { results: [], messages: [], unresolvable: [], setupFailed: false, asRoot: false };
  const table: [Partial<ReturnType<typeof outcomeOf>>, string[]][] = [
    [{ exit: 0, results: [{ name: 'works', result: 'PASS', detail: '' }] }, []],
    [{ exit: 2, results: [{ name: 'net', result: 'SKIP', detail: 'needs-internet' }] }, []],
    [{ exit: 4, results: [{ name: 'fails', result: 'FAIL', detail: 'non-zero exit status 1' }] }, ['autopkgtest: test fails failed: non-zero exit status 1 (see the log)']],
    [{ exit: 4 }, ['autopkgtest: at least one test failed (exit 4): see the log']],
    [{ exit: 8, results: [{ name: '*', result: 'SKIP', detail: 'no tests in this package' }] }, []],
    [{ exit: 12, messages: ['badpkg: Test dependencies are unsatisfiable'] }, ['autopkgtest: the package\'s tests cannot be run (erroneous package, exit 12): badpkg: Test dependencies are unsatisfiable']],
    [{ exit: 16 }, ['autopkgtest: testbed failure (exit 16)']],
    [{ exit: 20, messages: ['quitting: unexpected error, see log'] }, ['autopkgtest: failed unexpectedly (exit 20): quitting: unexpected error, see log: see the log']],
    [{ exit: undefined }, ['autopkgtest: did not finish (killed, timed out, or kiln\'s side failed): see the log']],
    [{ exit: undefined, setupFailed: true }, ['autopkgtest: could not install autopkgtest into the fresh root (apt-get install failed: see the log)']],
  ];
  for (const [o, warnings] of table) assert.deepEqual(verdictOf({ ...base, exit: undefined, ...o }).warnings, warnings, JSON.stringify(o));
  assert.deepEqual(verdictOf({ ...base, exit: 8 }).notes, ['autopkgtest: no test ran (no tests, or every one skipped)']);
  assert.match(verdictOf({ ...base, exit: 0, asRoot: true }).notes.join('\n'), /ran as root: su cannot switch/);
});

test('testScript: autopkgtest with the null server, internet tests skipped, the summary marked for kiln, its exit status whatever it is', () => {
  const s = testScript();
  assert.match(s, /autopkgtest --summary=\S+ --needs-internet=skip \$user "\$@" -- null/);
  assert.match(s, /set \+e/);
  assert.match(s, /echo "kiln-autopkgtest: exit \$rc"/);
});

test('toolsScript: installs the tools offline; with autodep8, prints its control for the unpacked .dsc between marks that generatedControl reads', () => {
  const plain = toolsScript('autopkgtest, dpkg-dev', false);
  assert.match(plain, /apt-get install -y --no-install-recommends \S+ autopkgtest dpkg-dev >&2/);
  assert.doesNotMatch(plain, /autodep8/);
  const with8 = toolsScript('autopkgtest, dpkg-dev, autodep8', true);
  assert.match(with8, /autopkgtest dpkg-dev autodep8 >&2/);
  assert.match(with8, /dpkg-source --no-check -x "\$1" \/kiln\/tmp\/autodep8/);
  const out = 'noise\nkiln-autopkgtest: control-begin\nTest-Command: true\nFeatures: test-name=x\n\nkiln-autopkgtest: control-end\nmore noise\n';
  assert.equal(generatedControl(out), 'Test-Command: true\nFeatures: test-name=x\n\n');
  assert.equal(generatedControl('kiln-autopkgtest: control-begin\nkiln-autopkgtest: control-end\n'), undefined);
  assert.equal(generatedControl('nothing'), undefined);
});

test('testsuiteOf: a debian/tests/control, autodep8 when the .dsc\'s Testsuite names one of its kinds (or tests are declared without a control), else why there are none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-testsuite-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dsc = async (testsuite: string | undefined) => {
    const f = join(dir, 'x.dsc');
    await writeFile(f, `Format: 3.0 (quilt)\nSource: x\n${testsuite === undefined ? '' : `Testsuite: ${testsuite}\n`}Version: 1.0-1\n`);
    return f;
  };
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest'), 'Tests: a\n'), { control: 'Tests: a\n', autodep8: false });
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest, autopkgtest-pkg-python'), 'Tests: a\n'), { control: 'Tests: a\n', autodep8: true });
  assert.deepEqual(await testsuiteOf(await dsc('autopkgtest-pkg-perl'), undefined), { control: undefined, autodep8: true });
  assert.deepEqual(await testsuiteOf(await dsc(undefined), undefined), { none: 'the source declares no tests (no debian/tests/control, no Testsuite field in its .dsc)' });
});
