// `kiln build --debian … --autopkgtest` (sbuild's --run-autopkgtest): once a Debian build
// has made its .debs, the source's own tests (debian/tests/control) are run by autopkgtest
// itself, in a fresh root of the same env (an overlay over its base, without the build's
// dependencies), with the null virtualisation server: the root is the testbed, thrown away
// afterwards. autopkgtest gets the built .debs and the .dsc, installs each test's
// dependencies and runs the tests as the build user (as root for `needs-root`). A test
// that fails, or a package whose tests autopkgtest cannot run (unsatisfiable test
// dependencies, a broken test control file), is a warning of the job (failing it with
// --fail-on-warnings); passed and skipped tests are notes of its log.
//
// Offline as the build is (debian-offline-apt.ts): apt in the root sees the suite's
// packages cut to the closure of what autopkgtest and the tests need, and this run's .debs
// pinned above them; what apt's simulation of each test's dependencies asks for is
// fetched on the host through the downloads cache first.

import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { closure } from '../debian/binary-closure.ts';
import { parseDeb822, words } from '../debian/deb822.ts';
import { fieldValue, readDebControl } from '../debian/deb-file.ts';
import type { BinaryUniverse } from '../debian/lazy-index.ts';
import { formatRelations, parseRelations } from '../debian/relation.ts';
import type { AltGroup } from '../debian/relation-types.ts';
import type { JobLog } from '../logs/job-log.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { parseAptSimulation } from './debian-build-steps.ts';
import { fetchWanted, localPackages, offlineSourcesScript, stagedDebs, stanzasOfNames, writeCutArchive } from './debian-offline-apt.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
    tests.push({ names, depends: (p.fields.get('depends') ?? '@').replace(/\s*\n\s*/g, ' ').trim() || '@', restrictions: list('restrictions') });
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
export function outcomeOf(output: string): { exit: number | undefined; results: TestResult[]; messages: string[]; unresolvable: number[]; setupFailed: boolean; asRoot: boolean } {
  let exit: number | undefined;
  const results: TestResult[] = [];
  const messages: string[] = [];
  const unresolvable: number[] = [];
  let setupFailed = false;
  let asRoot = false;
  for (const line of output.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const rest = line.slice(MARK.length).trim();
    const [what, ...tail] = rest.split(' ');
    if (what === 'exit') exit = Number(tail[0]);
    else if (what === 'setup-failed') setupFailed = true;
    else if (what === 'as-root') asRoot = true;
    else if (what === 'unresolvable') unresolvable.push(Number(tail[0]));
    else if (what === 'result') {
      const text = tail.join(' ').trim();
      const m = /^(\S+)\s+([A-Z]+)(?:\s+(.*))?$/.exec(text);
      // `badpkg: …`, `blame: …`, `erroneous package: …`, `testbed failure: …`
      if (m === null || m[1]!.endsWith(':')) messages.push(text);
      // autopkgtest reports a test skipped for its restrictions twice.
      else if (!results.some((r) => r.name === m[1] && r.result === m[2] && r.detail === (m[3] ?? '').trim())) results.push({ name: m[1]!, result: m[2]!, detail: (m[3] ?? '').trim() });
    }
  }
  return { exit, results, messages, unresolvable, setupFailed, asRoot };
}

/** The job's warnings and the log's notes for an outcome (pure); see autopkgtest(1), EXIT STATUS. */
export function verdictOf(o: ReturnType<typeof outcomeOf>): { warnings: string[]; notes: string[] } {
  const warnings: string[] = [];
  const notes: string[] = [];
  if (o.setupFailed) return { warnings: ['autopkgtest: could not install autopkgtest into the fresh root (apt-get install failed: see the log)'], notes };
  for (const r of o.results) {
    const line = `autopkgtest: ${r.name === '*' ? '' : `${r.name} `}${r.result}${r.detail === '' ? '' : r.detail.startsWith('(') ? ` ${r.detail}` : ` (${r.detail})`}`;
    if (r.result === 'FAIL') warnings.push(`autopkgtest: test ${r.name} failed${r.detail === '' ? '' : `: ${r.detail}`} (see the log)`);
    else notes.push(line);
  }
  const said = o.messages.length === 0 ? '' : `: ${o.messages.join('; ')}`;
  if (o.exit === undefined) warnings.push('autopkgtest: did not finish (killed, timed out, or kiln\'s side failed): see the log');
  else if (o.exit === 12 || o.exit === 14) warnings.push(`autopkgtest: the package's tests cannot be run (erroneous package, exit ${o.exit})${said}`);
  else if (o.exit === 16) warnings.push(`autopkgtest: testbed failure (exit 16)${said}`);
  else if (o.exit >= 20 || ![0, 2, 4, 6, 8].includes(o.exit)) warnings.push(`autopkgtest: failed unexpectedly (exit ${o.exit})${said}: see the log`);
  else if ((o.exit === 4 || o.exit === 6) && !o.results.some((r) => r.result === 'FAIL')) warnings.push(`autopkgtest: at least one test failed (exit ${o.exit}): see the log`);
  if (o.asRoot) notes.push(`autopkgtest: the tests ran as root: su cannot switch to the build user ${TEST_USER} in this sandbox`);
  if (o.exit === 8) notes.push('autopkgtest: no test ran (no tests, or every one skipped)');
  return { warnings, notes };
}

/** `3 passed, 1 failed, 1 skipped` (pure). */
export function countsOf(results: readonly TestResult[]): string {
  const n = (r: string) => results.filter((x) => x.name !== '*' && x.result === r).length;
  const parts = [[n('PASS'), 'passed'], [n('FAIL'), 'failed'], [n('SKIP'), 'skipped'], [n('FLAKY'), 'flaky']] as const;
  const said = parts.filter(([k]) => k > 0).map(([k, w]) => `${k} ${w}`);
  return said.length === 0 ? 'no test ran' : said.join(', ');
}

/** The script (as root in the fresh root) that installs the tools, then prints autodep8's control for the .dsc (its argument) when asked to (pure). */
export function toolsScript(tools: string, autodep8: boolean): string {
  const fast = "'-oDpkg::Options::=--force-unsafe-io'";
  const names = parseRelations(tools).groups.map((g) => g[0]!.name).join(' ');
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'rm -f /var/lib/man-db/auto-update',
    `echo "kiln: ==> autopkgtest: apt-get install ${names}" >&2`,
    `if ! apt-get install -y --no-install-recommends ${fast} ${names} >&2; then echo "${MARK} setup-failed"; exit 0; fi`,
    ...(autodep8 ? [
      'rm -rf /kiln/tmp/autodep8 && dpkg-source --no-check -x "$1" /kiln/tmp/autodep8 >&2',
      'echo "kiln: ==> autopkgtest: autodep8 (the tests its Testsuite field asks for)" >&2',
      `echo "${MARK} control-begin"`,
      '(cd /kiln/tmp/autodep8 && autodep8) || echo "kiln: autodep8 generated no tests (exit $?)" >&2',
      `echo "${MARK} control-end"`,
    ] : []),
  ].join('\n');
}

/** The control text the tools script printed between its marks (pure); undefined when it printed none. */
export function generatedControl(output: string): string | undefined {
  const m = new RegExp(`^${MARK} control-begin\\n([^]*?)^${MARK} control-end$`, 'm').exec(output);
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

export interface AutopkgtestResult {
  /** One line per problem (the warnings of the job). */
  readonly problems: readonly string[];
}

export async function runAutopkgtest(o: {
  /** A fresh sandbox over the env alone (no build dependencies). */
  create: () => Promise<Sandbox>;
  /** debian/tests/control of the built source (undefined: it has none). */
  control: string | undefined;
  /** The .dsc's Testsuite asks autodep8 for tests (autopkgtest-pkg-perl…). */
  autodep8: boolean;
  /** Host folder holding the placed source (the .dsc and its files). */
  sourceDir: string;
  dscName: string;
  /** Host folder holding the build's .debs. */
  builtDir: string;
  /** Host folder holding the .debs the build was staged with (this run's other packages). */
  runDebsDir: string;
  /** The source's build dependencies for this build (for `@builddeps@`). */
  buildDepends: readonly AltGroup[];
  universe: BinaryUniverse;
  arch: string;
  mirror: string;
  downloads: Downloads;
  log: JobLog;
  signal: AbortSignal;
  /** Each of its runs' wall-clock limit (the build's). */
  timeoutMs?: number | undefined;
}): Promise<AutopkgtestResult> {
  const { log } = o;
  const tools = o.autodep8 ? `${TOOLS}, autodep8` : TOOLS;
  await using sb = await o.create();
  const debsOf = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.deb'));
  const builtFiles = (await debsOf(o.builtDir)).filter((f) => !f.split('_')[0]!.endsWith('-dbgsym'));
  // Every .deb this run has here, the build's last (a rebuilt name=version wins).
  for (const f of await debsOf(o.runDebsDir)) await copyFile(join(o.runDebsDir, f), join(sb.host.sysroot, f));
  for (const f of builtFiles) await copyFile(join(o.builtDir, f), join(sb.host.sysroot, f));
  // The .dsc and its files, for autopkgtest to unpack.
  for (const f of await readdir(o.sourceDir)) await copyFile(join(o.sourceDir, f), join(sb.host.src, f));
  const dscInside = `${sb.inside.src}/${o.dscName}`;
  const built: string[] = [];
  const builtRoots: AltGroup[] = [...parseRelations(tools).groups];
  const recommends: AltGroup[] = [];
  for (const f of builtFiles) {
    const control = await readDebControl(join(o.builtDir, f), { signal: o.signal });
    built.push(control.package);
    for (const field of ['Pre-Depends', 'Depends']) builtRoots.push(...parseRelations(fieldValue(control.fields, field) ?? '').groups);
    recommends.push(...parseRelations(fieldValue(control.fields, 'Recommends') ?? '').groups);
  }
  const wsInside = dirname(sb.inside.src);
  const archiveHost = join(dirname(sb.host.src), 'apt', 'archive');
  const archiveInside = `${wsInside}/apt/archive`;
  await mkdir(archiveHost, { recursive: true });
  const staged = await stagedDebs(sb.host.sysroot);
  /** apt's view of the suite: the closure of the tools, the built packages' dependencies and `more`. Returns its size. */
  const cut = async (more: readonly AltGroup[]): Promise<number> => {
    const names = closure([...builtRoots, ...more], [...o.universe.essential()], o.universe, o.arch);
    // The archive's own versions of what the build made are left out: autopkgtest pins every
    // local repository alike, and would reinstall a higher archive version (a binNMU the env's
    // base has, bzip2 1.0.8-5+b1 over the built 1.0.8-5) instead of testing the build's.
    await writeCutArchive(archiveHost, stanzasOfNames([...names].filter((n) => !built.includes(n)), o.universe), staged);
    return names.size;
  };
  const env = { PATH, DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: '/root' };
  const run = async (script: string, args: readonly string[], capture: Buffer[]): Promise<boolean> => {
    const r = await sb.run({
      argv: ['/bin/bash', '-e', '-c', script, 'autopkgtest', ...args],
      cwd: '/',
      env,
      user: 'root',
      onOutput: (stream, chunk) => (stream === 'stdout' ? void capture.push(chunk) : log.write(stream, chunk)),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      signal: o.signal,
    });
    return r.exitCode === 0 && r.signal === null && r.killedFor === undefined;
  };
  /** What apt would install for each relation string, fetched on the host into the cut archive, as for a build; the indexes of those it cannot resolve. */
  const fetchFor = async (relations: readonly string[], what: string): Promise<{ unresolvable: number[] } | { problem: string }> => {
    const plan: Buffer[] = [];
    const simulate = [
      ...offlineSourcesScript(archiveInside, sb.inside.sysroot),
      'i=0',
      `for d in "$@"; do apt-get satisfy -s --no-install-recommends "$d" || echo "${MARK} unresolvable $i"; i=$((i + 1)); done`,
    ].join('\n');
    if (!(await run(simulate, relations, plan))) return { problem: 'autopkgtest: could not set up apt in the fresh root (see the log)' };
    const simulated = Buffer.concat(plan).toString();
    const wanted = [...new Map(parseAptSimulation(simulated).map((w) => [`${w.name}=${w.version}:${w.arch}`, w])).values()];
    const local = await localPackages(join(sb.host.sysroot, 'Packages'));
    const problems = await fetchWanted({ wanted, local, universes: [o.universe], archiveHost, mirror: o.mirror, downloads: o.downloads, note: (t) => log.note(t), what, signal: o.signal });
    if (problems.length > 0) return { problem: `autopkgtest: cannot fetch ${what}: ${problems.join('; ')}` };
    return { unresolvable: outcomeOf(simulated).unresolvable };
  };

  // 1. autopkgtest (and autodep8) in the root, from the suite.
  await cut([]);
  const forTools = await fetchFor([tools], 'packages for autopkgtest');
  if ('problem' in forTools) return { problems: [forTools.problem] };
  if (forTools.unresolvable.length > 0) return { problems: [`autopkgtest: not run: apt cannot install ${tools} from the suite (see the log)`] };
  const setup: Buffer[] = [];
  const setUp = await run(toolsScript(tools, o.autodep8), [dscInside], setup);
  if (!setUp || outcomeOf(Buffer.concat(setup).toString()).setupFailed) return { problems: verdictOf({ ...outcomeOf(''), setupFailed: true }).warnings };
  const generated = o.autodep8 ? generatedControl(Buffer.concat(setup).toString()) : undefined;

  // 2. the tests and what they depend on.
  const read = [o.control, generated].filter((c) => c !== undefined).map((c) => testStanzas(c));
  const tests = read.flatMap((r) => r.tests);
  const controlProblems = read.flatMap((r) => r.problems);
  const testNames = [...new Set(tests.flatMap((t) => t.names))];
  if (controlProblems.length > 0) log.note(`autopkgtest: kiln could not read the tests' control (${controlProblems.join('; ')}): autopkgtest says more below`);
  if (tests.length === 0 && controlProblems.length === 0) {
    log.note('autopkgtest: not run: autodep8 generated no tests for this source (its log lines above say why)');
    return { problems: [] };
  }
  const needs = tests.map((t) => expandDepends(t, { built, buildDepends: o.buildDepends, recommends }));
  const needRoots = needs.flatMap((n) => parseRelations(n).groups);
  // A build-needed test builds the source again in the root: its build dependencies too.
  if (tests.some((t) => t.restrictions.includes('build-needed'))) needRoots.push(...o.buildDepends, ...parseRelations('build-essential, fakeroot').groups);
  const seen = await cut(needRoots);
  log.note(`autopkgtest: ${testNames.length} test(s) (${testNames.join(', ')}${generated === undefined ? '' : o.control === undefined ? '; generated by autodep8' : '; some generated by autodep8'}) of ${o.dscName}, on ${built.join(', ')}, in a fresh root of the env (autopkgtest's null virtualisation server; apt sees ${seen} of the suite's binary packages)`);
  const forTests = await fetchFor(needs, 'packages for the tests');
  if ('problem' in forTests) return { problems: [forTests.problem] };
  for (const i of forTests.unresolvable) log.note(`autopkgtest: apt cannot resolve the dependencies of test(s) ${tests[i]?.names.join(', ')} (${needs[i]}) from the suite and this build's packages: autopkgtest will say so`);

  // 3. autopkgtest itself.
  const output: Buffer[] = [];
  const args = [...builtFiles.map((f) => `${sb.inside.sysroot}/${f}`), dscInside];
  const ran = await run(testScript(), args, output);
  const outcome = outcomeOf(Buffer.concat(output).toString());
  const { warnings, notes } = verdictOf(ran ? outcome : { ...outcome, exit: undefined });
  for (const n of notes) log.note(n);
  log.note(`autopkgtest: ${countsOf(outcome.results)}${warnings.length === 0 ? '' : `\n${warnings.join('\n')}`}`);
  return { problems: warnings };
}

/**
 * What autopkgtest will run for a source: its debian/tests/control and whether its .dsc's
 * Testsuite asks autodep8 for tests (autopkgtest-pkg-perl…); or why it has no tests.
 */
export async function testsuiteOf(dscPath: string, control: string | undefined): Promise<{ control: string | undefined; autodep8: boolean } | { none: string }> {
  const dsc = await readFile(dscPath, 'utf8').catch(() => '');
  const testsuite = words(/^Testsuite:[ \t]*(.*)$/im.exec(dsc)?.[1]?.replace(/,/g, ' '));
  // As autopkgtest decides: autodep8 when there is no debian/tests/control, or when Testsuite names one of its kinds.
  const autodep8 = testsuite.some((t) => t.startsWith('autopkgtest-pkg-')) || (control === undefined && testsuite.length > 0);
  if (control === undefined && !autodep8) return { none: 'the source declares no tests (no debian/tests/control, no Testsuite field in its .dsc)' };
  return { control, autodep8 };
}
