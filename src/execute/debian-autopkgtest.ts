// `kiln build --debian … --autopkgtest` (sbuild's --run-autopkgtest): once a Debian build
// has made its .debs, the source's tests (its debian/tests/control, and those autodep8
// makes for a `Testsuite: autopkgtest-pkg-*` source) are run by autopkgtest itself, in a
// fresh root of the same env (an overlay over its base, without the build's dependencies),
// with the null virtualisation server: the root is the testbed, thrown away afterwards.
// autopkgtest gets the built .debs and the .dsc, installs each test's dependencies and
// runs the tests as the build user (as root for `needs-root`). A test that fails, or a
// package whose tests autopkgtest cannot run (unsatisfiable test dependencies, a broken
// test control file), is a warning of the job (failing it with --fail-on-warnings);
// passed and skipped tests are notes of its log, and every result goes to
// `<log>.autopkgtest.json` for the run's report and junit.xml.
//
// Offline as the build is (debian-fresh-root.ts): apt in the root sees the suite's
// packages cut to the closure of what autopkgtest and the tests need, and this run's .debs
// pinned above them; what apt's simulation of each test's dependencies asks for is
// fetched on the host through the downloads cache first.

import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { regularFilesIn } from '../cache/output-folder.ts';
import { join } from 'node:path';
import { parseDeb822, words } from '../debian/deb822.ts';
import { fieldValue, readDebControl } from '../debian/deb-file.ts';
import { archMatches, formatRelations, parseRelations } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import { openFreshRoot, runPackageNames, type CheckOptions } from './debian-fresh-root.ts';

/** What kiln's scripts print for kiln to read (one line each, on stdout). */
const MARK = 'kiln-autopkgtest:';

/** What the root needs besides the tests' own dependencies: autopkgtest, and dpkg-source for the .dsc. */
const TOOLS = 'autopkgtest, dpkg-dev';

/** The build user of kiln's roots (sandbox/chroot/build-user.ts): tests without needs-root run as it. */
const TEST_USER = 'kiln';

export interface TestStanza {
  /** The test names (Tests:), or for a Test-Command its `Features: test-name=NAME`, else `command1`, `command2`…, as autopkgtest names them. */
  readonly names: readonly string[];
  /** The Depends field as written (`@` when absent, autopkgtest's default). */
  readonly depends: string;
  readonly restrictions: readonly string[];
  /** The Architecture field's words (empty: every arch). */
  readonly architecture: readonly string[];
}

/** The stanzas of a debian/tests/control (pure); `problems` when it does not parse (autopkgtest then says more). */
export function testStanzas(text: string): { tests: TestStanza[]; problems: string[] } {
  let paragraphs;
  try {
    paragraphs = parseDeb822(text, { source: 'debian/tests/control' });
  } catch (e) {
    return { tests: [], problems: [(e as Error).message] };
  }
  const tests: TestStanza[] = [];
  let commands = 0;
  for (const p of paragraphs) {
    const list = (name: string) => words(p.fields.get(name)?.replace(/,/g, ' '));
    // `Features: test-name=NAME` names a Test-Command; the others are numbered, as autopkgtest does.
    const named = list('features').find((f) => f.startsWith('test-name='))?.slice('test-name='.length);
    const names = p.fields.has('test-command') ? [named ?? `command${++commands}`] : list('tests');
    tests.push({ names, depends: (p.fields.get('depends') ?? '@').replace(/\s*\n\s*/g, ' ').trim() || '@', restrictions: list('restrictions'), architecture: list('architecture') });
  }
  return { tests, problems: [] };
}

/**
 * A test's Depends with autopkgtest's substitutions made (pure): `@` the source's binary
 * packages this build made, `@builddeps@` its build dependencies and build-essential,
 * `@recommends@` what those binaries recommend. A `needs-recommends` test gets the
 * recommends too, as autopkgtest gives them. The result is one relation string for
 * `apt-get satisfy`.
 */
export function expandDepends(t: TestStanza, o: { built: readonly string[]; buildDepends: readonly AltGroup[]; recommends: readonly AltGroup[] }): string {
  const parts: string[] = [];
  const groups = t.depends.split(',').map((g) => g.trim()).filter((g) => g !== '');
  if (t.restrictions.includes('needs-recommends')) groups.push('@recommends@');
  for (const g of groups) {
    if (g === '@') parts.push(...o.built);
    else if (g === '@builddeps@') parts.push(...(o.buildDepends.length > 0 ? [formatRelations(o.buildDepends)] : []), 'build-essential');
    else if (g === '@recommends@') parts.push(...(o.recommends.length > 0 ? [formatRelations(o.recommends)] : []));
    else parts.push(g);
  }
  return parts.join(', ');
}

export interface TestResult {
  readonly name: string;
  /** PASS, FAIL, SKIP, FLAKY, … as autopkgtest writes it. */
  readonly result: string;
  readonly detail: string;
}

/** What the run printed for kiln (pure): autopkgtest's exit status and its summary. */
export function outcomeOf(output: string): { exit: number | undefined; results: TestResult[]; messages: string[]; setupFailed: boolean; asRoot: boolean } {
  let exit: number | undefined;
  const results: TestResult[] = [];
  const messages: string[] = [];
  let setupFailed = false;
  let asRoot = false;
  for (const line of output.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const rest = line.slice(MARK.length).trim();
    const [what, ...tail] = rest.split(' ');
    if (what === 'exit') exit = Number(tail[0]);
    else if (what === 'setup-failed') setupFailed = true;
    else if (what === 'as-root') asRoot = true;
    else if (what === 'result') {
      const text = tail.join(' ').trim();
      const m = /^(\S+)\s+([A-Z]+)(?:\s+(.*))?$/.exec(text);
      // `badpkg: …`, `blame: …`, `erroneous package: …`, `testbed failure: …`
      if (m === null || m[1]!.endsWith(':')) messages.push(text);
      // autopkgtest reports a test skipped for its restrictions twice.
      else if (!results.some((r) => r.name === m[1] && r.result === m[2] && r.detail === (m[3] ?? '').trim())) results.push({ name: m[1]!, result: m[2]!, detail: (m[3] ?? '').trim() });
    }
  }
  return { exit, results, messages, setupFailed, asRoot };
}

/** The job's warnings and the log's notes for an outcome (pure); see autopkgtest(1), EXIT STATUS. */
export function verdictOf(o: ReturnType<typeof outcomeOf>, rootTests: ReadonlySet<string> = new Set()): { warnings: string[]; notes: string[] } {
  const warnings: string[] = [];
  const notes: string[] = [];
  if (o.setupFailed) return { warnings: ['autopkgtest: could not install autopkgtest into the fresh root (apt-get install failed: see the log)'], notes };
  for (const r of o.results) {
    const line = `autopkgtest: ${r.name === '*' ? '' : `${r.name} `}${r.result}${r.detail === '' ? '' : r.detail.startsWith('(') ? ` ${r.detail}` : ` (${r.detail})`}`;
    // kiln's root keeps a few capabilities only (sandbox/chroot/scripts.ts, ROOT_RUN_CAPS): a
    // needs-root test that mounts, chroots or sets file capabilities fails here alone.
    const limited = rootTests.has(r.name) ? '; it needs root, and root in kiln\'s sandbox may not mount, chroot or gain privileges, as it may on Debian\'s CI' : '';
    if (r.result === 'FAIL') warnings.push(`autopkgtest: test ${r.name} failed${r.detail === '' ? '' : `: ${r.detail}`} (see the log${limited})`);
    else notes.push(line);
  }
  // autopkgtest's own words, without its blame lines, the same message said twice, nor its
  // advice to update the testbed (`apt-get update` or -U: nothing to update offline).
  const kept = [...new Set(o.messages.filter((m) => !m.startsWith('blame:')).map((m) => m.replace(/^(?:badpkg|erroneous package): /, '').replace(/\. A common reason is .*$/, '')))];
  const said = kept.length === 0 ? '' : `: ${kept.join('; ')}`;
  if (o.exit === undefined) warnings.push('autopkgtest: did not finish (killed, timed out, or kiln\'s side failed): see the log');
  else if (o.exit === 12 || o.exit === 14) warnings.push(`autopkgtest: ${o.results.some((r) => r.result === 'PASS') ? 'some of the package\'s tests' : 'the package\'s tests'} cannot be run (erroneous package, exit ${o.exit})${said}`);
  else if (o.exit === 16) warnings.push(`autopkgtest: testbed failure (exit 16)${said}`);
  else if (o.exit >= 20 || ![0, 2, 4, 6, 8].includes(o.exit)) warnings.push(`autopkgtest: failed unexpectedly (exit ${o.exit})${said}: see the log`);
  else if ((o.exit === 4 || o.exit === 6) && !o.results.some((r) => r.result === 'FAIL')) warnings.push(`autopkgtest: at least one test failed (exit ${o.exit}): see the log`);
  if (o.asRoot) notes.push(`autopkgtest: the tests ran as root: su cannot switch to the build user ${TEST_USER} in this sandbox`);
  if (o.exit === 8) notes.push('autopkgtest: no test ran but superficial ones (or none at all: every test skipped)');
  return { warnings, notes };
}

/** `3 passed, 1 failed, 1 skipped` (pure). */
export function countsOf(results: readonly TestResult[]): string {
  const n = (r: string) => results.filter((x) => x.name !== '*' && x.result === r).length;
  const parts = [[n('PASS'), 'passed'], [n('FAIL'), 'failed'], [n('SKIP'), 'skipped'], [n('FLAKY'), 'flaky']] as const;
  const said = parts.filter(([k]) => k > 0).map(([k, w]) => `${k} ${w}`);
  return said.length === 0 ? 'no test ran' : said.join(', ');
}

/** Does a test run on `arch` (its Architecture field, `!` negating, as autopkgtest reads it)? Pure. */
export function testRunsOn(t: Pick<TestStanza, 'architecture'>, arch: string): boolean {
  if (t.architecture.length === 0) return true;
  const negated = t.architecture.filter((w) => w.startsWith('!')).map((w) => w.slice(1));
  const wanted = t.architecture.filter((w) => !w.startsWith('!'));
  if (negated.some((w) => archMatches(arch, w))) return false;
  return wanted.length === 0 || wanted.some((w) => w === 'all' || archMatches(arch, w));
}

/** What `@` stands for, as autopkgtest reads it: the deb packages of debian/control built for `arch` (pure). */
export function binaryNames(debianControl: string, arch: string): string[] {
  let paragraphs;
  try {
    paragraphs = parseDeb822(debianControl, { source: 'debian/control' });
  } catch {
    return [];
  }
  return paragraphs.slice(1)
    .filter((p) => p.fields.has('package') && (p.fields.get('package-type') ?? 'deb') === 'deb')
    .filter((p) => words(p.fields.get('architecture')).some((w) => w === 'all' || archMatches(arch, w)))
    .map((p) => p.fields.get('package')!.trim());
}

/**
 * The script (as root in the fresh root) that installs the tools, unpacks the .dsc (its
 * argument) and prints, between marks, its debian/control, its debian/tests/control and,
 * when asked, what autodep8 makes of it (pure).
 */
export function toolsScript(tools: string, autodep8: boolean): string {
  const fast = "'-oDpkg::Options::=--force-unsafe-io'";
  const names = parseRelations(tools).groups.map((g) => g[0]!.name).join(' ');
  const show = (what: string, command: string) => [`echo "${MARK} ${what}-begin"`, command, `echo "${MARK} ${what}-end"`];
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'rm -f /var/lib/man-db/auto-update',
    `echo "kiln: ==> autopkgtest: apt-get install ${names}" >&2`,
    `if ! apt-get install -y --no-install-recommends ${fast} ${names} >&2; then echo "${MARK} setup-failed"; exit 0; fi`,
    'rm -rf /kiln/tmp/unpacked && dpkg-source --no-check -x "$1" /kiln/tmp/unpacked >&2',
    'cd /kiln/tmp/unpacked',
    ...show('control', 'cat debian/control'),
    ...show('tests', 'if [ -f debian/tests/control ]; then cat debian/tests/control; fi'),
    ...(autodep8 ? [
      'echo "kiln: ==> autopkgtest: autodep8 (the tests its Testsuite field asks for)" >&2',
      ...show('autodep8', 'autodep8 || echo "kiln: autodep8 generated no tests (exit $?)" >&2'),
    ] : []),
  ].join('\n');
}

/** The text the tools script printed between its marks for `what` (pure); undefined when it printed none. */
export function shownText(output: string, what: 'control' | 'tests' | 'autodep8'): string | undefined {
  const m = new RegExp(`^${MARK} ${what}-begin\\n([^]*?)^${MARK} ${what}-end$`, 'm').exec(output);
  return m === null || m[1]!.trim() === '' ? undefined : m[1]!;
}

/** The script (as root in the fresh root) that runs autopkgtest on the .debs and the .dsc, its arguments (pure). */
export function testScript(): string {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    // autopkgtest switches to the user with su: where su cannot (a rootless sandbox), the tests run as root.
    `user=; if su -s /bin/sh ${TEST_USER} -c true > /dev/null 2>&1; then user=--user=${TEST_USER}; else echo "${MARK} as-root"; fi`,
    'echo "kiln: ==> autopkgtest --summary=/kiln/tmp/autopkgtest.summary --needs-internet=skip $user $* -- null" >&2',
    'set +e',
    // Its trace and its report go to the log; the summary comes back marked.
    'autopkgtest --summary=/kiln/tmp/autopkgtest.summary --needs-internet=skip $user "$@" -- null >&2',
    'rc=$?',
    'set -e',
    `echo "${MARK} exit $rc"`,
    `if [ -f /kiln/tmp/autopkgtest.summary ]; then sed 's/^/${MARK} result /' /kiln/tmp/autopkgtest.summary; fi`,
  ].join('\n');
}

/** `<log>.autopkgtest.json`: autopkgtest's exit status (null: it did not finish) and each test's result. */
export interface AutopkgtestFile {
  readonly exit: number | null;
  readonly results: readonly TestResult[];
}

export interface AutopkgtestResult {
  /** One line per problem (the warnings of the job). */
  readonly problems: readonly string[];
}

export async function runAutopkgtest(o: CheckOptions & {
  /** The .dsc's Testsuite asks autodep8 for tests (autopkgtest-pkg-perl…). */
  autodep8: boolean;
  /** Host folder holding the placed source (the .dsc and its files). */
  sourceDir: string;
  dscName: string;
  /** The source's build dependencies, no build profile active (for `@builddeps@` and build-needed tests). */
  buildDepends: readonly AltGroup[];
}): Promise<AutopkgtestResult> {
  const { log } = o;
  const tools = o.autodep8 ? `${TOOLS}, autodep8` : TOOLS;
  await using root = await openFreshRoot({ ...o, name: 'autopkgtest' });
  const { sb } = root;
  // The .dsc and its files, for autopkgtest (and kiln) to unpack.
  // The build's workspace: its regular files only, never through a link the build left there.
  for (const f of await regularFilesIn(o.sourceDir)) await copyFile(join(o.sourceDir, f), join(sb.host.src, f));
  const dscInside = `${sb.inside.src}/${o.dscName}`;
  const built: string[] = [];
  const builtRoots: AltGroup[] = [...parseRelations(tools).groups];
  const recommends: AltGroup[] = [];
  for (const f of root.builtFiles) {
    const control = await readDebControl(join(sb.host.sysroot, f), { signal: o.signal });
    built.push(control.package);
    for (const field of ['Pre-Depends', 'Depends']) builtRoots.push(...parseRelations(fieldValue(control.fields, field) ?? '').groups);
    recommends.push(...parseRelations(fieldValue(control.fields, 'Recommends') ?? '').groups);
  }
  // The archive's own versions of this run's packages are left out: autopkgtest pins every
  // local repository alike (Pin: origin ""), and would take a higher archive version (a
  // binNMU the env's base has, bzip2 1.0.8-5+b1 over the built 1.0.8-5) over the run's.
  const leaveOut = new Set([...built, ...(await runPackageNames(sb))]);

  // 1. autopkgtest (and autodep8) in the root, from the suite; the source's tests.
  await root.cut(builtRoots, leaveOut);
  const forTools = await root.resolve('apt-get satisfy -s --no-install-recommends', [tools], 'packages for autopkgtest');
  if ('problem' in forTools) return { problems: [`autopkgtest: ${forTools.problem}`] };
  if (forTools.unresolvable.length > 0) return { problems: [`autopkgtest: not run: apt cannot install ${tools} from the suite (see the log)`] };
  const setup: Buffer[] = [];
  const setUp = await root.run(toolsScript(tools, o.autodep8), [dscInside], setup);
  const shown = Buffer.concat(setup).toString();
  if (!setUp || outcomeOf(shown).setupFailed) return { problems: verdictOf({ ...outcomeOf(''), setupFailed: true }).warnings };
  // autodep8 prints the source's own tests before those it makes.
  const own = shownText(shown, 'tests');
  const generated = shownText(shown, 'autodep8');
  const read = [own, generated].filter((c) => c !== undefined).map((c) => testStanzas(c));
  const byNames = new Map(read.flatMap((r) => r.tests).map((t) => [t.names.join(' '), t]));
  const tests = [...byNames.values()];
  const controlProblems = read.flatMap((r) => r.problems);
  if (controlProblems.length > 0) log.note(`autopkgtest: kiln could not read the tests' control (${controlProblems.join('; ')}): autopkgtest says more below`);
  if (tests.length === 0 && controlProblems.length === 0) {
    log.note(`autopkgtest: not run: the source has no tests${o.autodep8 ? ' (autodep8 generated none: its lines above say why)' : ' (no debian/tests/control)'}`);
    return { problems: [] };
  }

  // 2. what the tests that run here depend on.
  const binaries = binaryNames(shownText(shown, 'control') ?? '', o.arch);
  const here = tests.filter((t) => testRunsOn(t, o.arch));
  const needs = here.map((t) => expandDepends(t, { built: binaries.length > 0 ? binaries : built, buildDepends: o.buildDepends, recommends }));
  // A build-needed test builds the source again in the root: its build dependencies too (and fakeroot, for --user).
  const rebuild = here.some((t) => t.restrictions.includes('build-needed')) ? [[...(o.buildDepends.length > 0 ? [formatRelations(o.buildDepends)] : []), 'build-essential', 'fakeroot'].join(', ')] : [];
  // (A test whose Depends expand to nothing, @recommends@ without Recommends, asks for nothing.)
  const asks = [...here.map((t, i) => ({ relation: needs[i]!, what: `the dependencies of test(s) ${t.names.join(', ')}` })), ...rebuild.map((relation) => ({ relation, what: 'the build dependencies of the build-needed tests' }))].filter((a) => a.relation !== '');
  const relations = asks.map((a) => a.relation);
  const seen = await root.cut([...builtRoots, ...relations.flatMap((r) => parseRelations(r).groups)], leaveOut);
  const testNames = tests.flatMap((t) => t.names);
  log.note(`autopkgtest: ${testNames.length} test(s) (${testNames.join(', ')}${generated === undefined ? '' : own === undefined ? '; generated by autodep8' : '; some generated by autodep8'}) of ${o.dscName}, on ${built.join(', ')}, in a fresh root of the env (autopkgtest's null virtualisation server; apt sees ${seen} of the suite's binary packages)`);
  const forTests = await root.resolve('apt-get satisfy -s --no-install-recommends', relations, 'packages for the tests');
  if ('problem' in forTests) return { problems: [`autopkgtest: ${forTests.problem}`] };
  for (const i of forTests.unresolvable) log.note(`autopkgtest: apt cannot resolve ${asks[i]!.what} (${asks[i]!.relation}) from the suite and this build's packages: autopkgtest will say so`);

  // 3. autopkgtest itself.
  const output: Buffer[] = [];
  const args = [...root.builtFiles.map((f) => `${sb.inside.sysroot}/${f}`), dscInside];
  let unfetched: string | undefined;
  let carry = '';
  const ran = await root.run(testScript(), args, output, (chunk) => {
    // apt in the root wanting a .deb kiln did not fetch: kiln's fault, not the package's
    // (the end of the last chunk kept, for a line cut in two).
    const text = carry + chunk.toString();
    unfetched ??= /File not found - (\/kiln\/\S+\.deb)\s/.exec(text)?.[1];
    carry = text.slice(-300);
  });
  const outcome = outcomeOf(Buffer.concat(output).toString());
  const rootTests = new Set(tests.filter((t) => t.restrictions.includes('needs-root')).flatMap((t) => t.names));
  const { warnings, notes } = verdictOf(ran ? outcome : { ...outcome, exit: undefined }, rootTests);
  if (unfetched !== undefined) warnings.push(`autopkgtest: apt in the fresh root asked for ${unfetched.split('/').pop()}, which kiln had not fetched: kiln's mistake, not the package's (please report it with the log)`);
  for (const n of notes) log.note(n);
  log.note(`autopkgtest: ${countsOf(outcome.results)}${warnings.length === 0 ? '' : `\n${warnings.join('\n')}`}`);
  // Each test's result for the run's report and junit.xml (run/publish-debian.ts reads it).
  const file: AutopkgtestFile = { exit: ran ? (outcome.exit ?? null) : null, results: outcome.results.filter((r) => r.name !== '*') };
  await writeFile(`${log.path}.autopkgtest.json`, `${JSON.stringify(file, null, 2)}\n`);
  return { problems: warnings };
}

/**
 * Whether autopkgtest has tests to run for a source, by its .dsc's Testsuite field (as
 * Debian's CI decides): and whether that field asks autodep8 for tests (autopkgtest-pkg-perl…).
 */
export async function testsuiteOf(dscPath: string): Promise<{ autodep8: boolean } | { none: string }> {
  const dsc = await readFile(dscPath, 'utf8').catch(() => '');
  const testsuite = words(/^Testsuite:[ \t]*(.*)$/im.exec(dsc)?.[1]?.replace(/,/g, ' '));
  if (testsuite.length === 0) return { none: 'the source declares no tests (no Testsuite field in its .dsc, which dpkg-source writes when debian/tests/control exists)' };
  return { autodep8: testsuite.some((t) => t.startsWith('autopkgtest-pkg-')) };
}
