// The post-build report of one run, built from the records database alone (so it can be
// regenerated for any past run), written as <stateDir>/runs/<runId>/report.json and
// report.html next to it.

import { KILN_VERSION } from '../lib/kiln-version.ts';
import { closeSync, openSync, readSync, fstatSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { KilnError } from '../errors.ts';
import { EXCERPT_NOTE } from '../logs/log-compress.ts';
import { PACKAGE_VERSIONS_NOTE } from '../envs/package-versions.ts';
import { atomicWrite } from '../lib/atomic-write.ts';
import type { FailureReason, JobState } from '../plan/job.ts';
import { describeReason, type ReasonKind } from '../plan/reason.ts';
import type { PartChange } from '../plan/input-parts.ts';
import type { JobRecord, Records } from '../records/records.ts';
import { renderReportHtml } from './report-html.ts';
import { renderJunit } from './report-junit.ts';
import { diagnosticsOf, failedDependencyOf, isIgnoredCause } from './report-diagnostics.ts';
import { triageFailures, type FailureGroup } from './failure-triage.ts';
import { artifactLabels, type ArtifactLabels } from './artifact-labels.ts';
import type { BuildMode } from '../run/build-mode.ts';

export interface ReportPackage {
  readonly name: string;
  /** The category folder of the tree the package is in (docs/recipes.md; present only then). */
  readonly category?: string;
  readonly version: string;
  readonly arch: string;
  /**
   * How its arch was (or would have been) built when not natively (run/build-mode.ts; absent
   * for a native build, and in a report remade from the records or of a --nats run): `cross`,
   * kiln cross-built it (--cross: dpkg-buildpackage -a ARCH with the cross and nocheck profiles,
   * so no tests ran); `emulated`, in an env of its arch under QEMU user emulation;
   * `recipe-cross`, its recipe's script ran on another arch (the host sandbox, or the build
   * arch's env under --cross) and had to cross-compile for $KILN_ARCH itself.
   */
  readonly buildMode?: Exclude<BuildMode, 'native'>;
  readonly state: JobState;
  /** Why it was (re)built; null for packages that did not run. */
  readonly why: ReasonKind | null;
  /** why is dependency-changed: the job id (`name@arch`) of the dependency whose output changed (present only then). */
  readonly whyDependency?: string;
  /** why is recipe-changed or source-changed: what changed since its last good build, when both recorded it (plan/input-parts.ts; present only then). */
  readonly whyChanges?: readonly PartChange[];
  /** The reason in words, as the build printed it (`recipe-changed: build.sh changed`); present when why is. */
  readonly whyText?: string;
  /** failed: the failure message; skipped: which dependency; broken: the reason chain (several lines for an invalid recipe). */
  readonly cause: string | null;
  /** null when the package did not run. */
  readonly durationMs: number | null;
  readonly log: string | null;
  readonly artifact: string | null;
  /** An invalid recipe: its problems, one `FILE: KEY: MESSAGE` each (present only then). */
  readonly diagnostics?: readonly string[];
  /** failed: why, as a stable code (`exit-status`, `timeout`, `out-of-memory`, …; present only then). */
  readonly reason?: FailureReason;
  /** skipped: the job ids (`name@arch`) of the failed packages that caused the skip (present only then). */
  readonly skippedBecause?: readonly string[];
  /** broken: true when a recipe's `ignore` accounts for it (it does not fail the run; present only then). */
  readonly ignored?: true;
  /** built: what the output checks warned of, `check: message` each (present only then). */
  readonly warnings?: readonly string[];
  /** With --nats: the kiln worker whose result it is (present only then). */
  readonly worker?: string;
  /** Built or up to date: its recipe's summary and license, as its artifact's meta.json says them (present only then). */
  readonly summary?: string;
  readonly license?: string;
  /** Built or up to date, and restricted (recipe key `restricted`): why; it is not in the package index, nor served (present only then). */
  readonly restricted?: string;
  /** A Debian binNMU that was built: its binary packages' version, VERSION+bN (present only then). */
  readonly binaryVersion?: string;
  /** failed: how many packages are skipped because of it (fix the most blocking first; present only then). */
  readonly blocks?: number;
  /** failed: the line of its log that says why, when one does (failure-triage.ts; present only then). */
  readonly errorLine?: string;
  /** Failed: the emulator may be at fault (failure-triage.ts mayBeEmulator): its error line is QEMU user emulation's own failure, or, built under emulation, it died of an illegal instruction (SIGILL). */
  readonly underEmulation?: boolean;
}

export interface RunReport {
  readonly runId: string;
  /** ISO 8601. */
  readonly start: string;
  /** ISO 8601; null while the run is still going. */
  readonly end: string | null;
  /** The run's state: running, done, failed or cancelled (absent in reports made before it was kept). */
  readonly state?: string;
  /** The tree built, the arches and the most jobs at once (--jobs) of the run (absent in reports made before they were kept). */
  readonly tree?: string;
  readonly archs?: readonly string[];
  readonly maxJobs?: number;
  /** The version of kiln that wrote the report. */
  readonly kilnVersion?: string;
  readonly counts: Readonly<Record<JobState, number>>;
  /** Sorted by name, then arch. */
  readonly packages: readonly ReportPackage[];
  /** While the run goes (end null): the jobs building now, and how many wait their turn. */
  readonly running?: readonly { readonly job: string; readonly startedAt: string; readonly log: string | null }[];
  readonly waiting?: number;
  /** Debian runs with --verify or --twice: one entry per .deb compared. */
  readonly reproducibility?: readonly ReproducibilityEntry[];
  /** `--lintian`: lintian's tags for each .changes the run built (absent otherwise). */
  readonly lintian?: readonly LintianEntry[];
  /** `--autopkgtest`: each test autopkgtest ran for a package the run built (absent otherwise). */
  readonly autopkgtest?: readonly AutopkgtestEntry[];
  /** The failures grouped by their error line, biggest group first (present when some failed). */
  readonly failureGroups?: readonly FailureGroup[];
  /** A Debian run: why its apt repository could not be published (the run failed for it; absent otherwise). */
  readonly publishError?: string;
}

/** One .deb compared with the archive's binary (--verify) or with a varied rebuild (--twice). */
export interface ReproducibilityEntry {
  readonly check: 'archive' | 'twice';
  /** The job (`name@arch`) that built it. */
  readonly job: string;
  readonly deb: string;
  readonly status: 'reproducible' | 'differs' | 'not-in-archive' | 'error';
  /** One line, e.g. `data: 1 of 143 entries differ (usr/bin/hello: 2022 → 2026 in .text …)`. */
  readonly summary: string;
  /** The full comparison, as `kiln verify` prints it. */
  readonly details: readonly string[];
}

/** One test autopkgtest ran after a Debian build (`--autopkgtest`; execute/debian-autopkgtest.ts). */
export interface AutopkgtestEntry {
  /** The job (`name@arch`) that built the packages tested. */
  readonly job: string;
  readonly test: string;
  /** As autopkgtest says it: PASS, FAIL, SKIP, FLAKY… */
  readonly result: string;
  /** Its reason (`non-zero exit status 1`, a skip's restriction), '' when none. */
  readonly detail: string;
}

/** What lintian said of one .changes a run built (`--lintian`; debian/lintian.ts). */
export interface LintianEntry {
  /** The job (`name@arch`) that built it. */
  readonly job: string;
  readonly changes: string;
  readonly errors?: number;
  readonly warnings?: number;
  /** Every tag line, as lintian printed it (`W: hello: some-tag context`). */
  readonly tags: readonly string[];
  /** Set when lintian could not run. */
  readonly error?: string;
}

/** Lines of log shown per failure in report.html. */
export const LOG_TAIL_LINES = 50;

/**
 * The report of a run from its records. `categories`: the category folder of each package
 * in one, by name (the plan knows them; the records do not keep them).
 */
/**
 * The report of run `runId` from the records; `categories` by package name, and
 * `binaryVersions` by job id (Debian binNMUs found up to date: their artifacts say it).
 */
/**
 * `labels`: each package's summary, license and restricted mark from the run's recipes
 * (labelsOf); without it (kiln status, the daemon) they are read from each artifact's
 * meta.json. A run passes them: a no-change run of 10,000 packages reads no meta.json.
 * `buildModes`: how each job not built natively was built, by job id (buildModesOf, from the
 * run's plan and envs; the records do not keep it).
 */
export function buildReport(records: Records, runId: string, categories?: ReadonlyMap<string, string>, binaryVersions?: ReadonlyMap<string, string>, labels?: ReadonlyMap<string, ArtifactLabels>, buildModes?: ReadonlyMap<string, Exclude<BuildMode, 'native'>>): RunReport {
  const run = records.getRun(runId);
  if (run === undefined) {
    throw new KilnError('run-not-found', `no run ${runId} in the records at ${records.path}`, {
      hint: 'list runs with `kiln status`',
    });
  }
  const packages: ReportPackage[] = [];
  const running: { job: string; startedAt: string; log: string | null }[] = [];
  const jobs = records.jobsOfRun(runId);
  // name + arch → job id of each failed job: what a skipped package's cause names.
  const failedIds = new Map(jobs.filter((j) => j.state === 'failed').map((j) => [`${j.name} ${j.arch}`, j.jobId]));
  for (const j of jobs) {
    // A job still 'running' in a finished run was cut off (markInterruptedRuns normally
    // fixes the row first); in a live run it is not settled yet and is left out.
    if (j.state === 'running' && run.state === 'running') {
      running.push({ job: j.jobId, startedAt: new Date(j.startedAt ?? run.startedAt).toISOString(), log: j.log });
      continue;
    }
    const binaryVersion = j.binaryVersion ?? binaryVersions?.get(j.jobId);
    packages.push(toPackage(binaryVersion === undefined ? j : { ...j, binaryVersion }, j.state === 'running' ? 'cancelled' : j.state, failedIds, categories?.get(j.name), labels, buildModes?.get(j.jobId)));
  }
  packages.sort((a, b) => compare(a.name, b.name) || compare(a.arch, b.arch));
  const counts: Record<JobState, number> = { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 };
  for (const p of packages) counts[p.state]++;
  return {
    runId,
    start: new Date(run.startedAt).toISOString(),
    end: run.endedAt === null ? null : new Date(run.endedAt).toISOString(),
    state: run.state,
    tree: run.tree,
    archs: run.archs,
    ...(run.maxJobs === null ? {} : { maxJobs: run.maxJobs }),
    ...(KILN_VERSION === undefined ? {} : { kilnVersion: KILN_VERSION }),
    counts,
    packages,
    ...(run.state === 'running' ? { running, waiting: records.waitingCount(runId) } : {}),
  };
}

function toPackage(j: JobRecord, state: JobState, failedIds: ReadonlyMap<string, string>, category: string | undefined, labels: ReadonlyMap<string, ArtifactLabels> | undefined, buildMode: Exclude<BuildMode, 'native'> | undefined): ReportPackage {
  const diagnostics = state === 'broken' ? diagnosticsOf(j.cause) : [];
  const reason = state === 'failed' ? j.failureReason : null;
  // The scheduler names the failed job in the cause; kept as data only when that job
  // failed in this run (a cause that merely looks like one names nothing).
  const dep = state === 'skipped' ? failedDependencyOf(j.cause) : undefined;
  const because = dep === undefined ? undefined : failedIds.get(`${dep.name} ${dep.arch}`);
  return {
    name: j.name,
    ...(category === undefined ? {} : { category }),
    version: j.version,
    arch: j.arch,
    ...(buildMode === undefined ? {} : { buildMode }),
    state,
    why: j.why?.kind ?? null,
    ...(j.why?.kind === 'dependency-changed' ? { whyDependency: j.why.dependency } : {}),
    ...((j.why?.kind === 'recipe-changed' || j.why?.kind === 'source-changed') && j.why.changes !== undefined ? { whyChanges: j.why.changes } : {}),
    ...(j.why === null ? {} : { whyText: describeReason(j.why) }),
    cause: j.cause,
    durationMs: j.durationMs,
    log: j.log,
    artifact: j.artifact,
    ...(diagnostics.length === 0 ? {} : { diagnostics }),
    ...(reason === null ? {} : { reason }),
    ...(because === undefined ? {} : { skippedBecause: [because] }),
    ...(state === 'broken' && isIgnoredCause(j.cause) ? { ignored: true as const } : {}),
    ...(j.warnings === undefined || j.warnings.length === 0 ? {} : { warnings: j.warnings }),
    ...(j.worker === undefined ? {} : { worker: j.worker }),
    ...(j.binaryVersion === undefined ? {} : { binaryVersion: j.binaryVersion }),
    ...((state === 'built' || state === 'up-to-date') && j.artifact !== null ? (labels === undefined ? artifactLabels(j.artifact) : (labels.get(j.name) ?? {})) : {}),
  };
}


export interface WriteReportOptions {
  /** The last lines of a log, for failures in the HTML; default: read the file (plain or .gz). */
  readonly logTail?: (logPath: string) => string[];
}

/** Write report.json and report.html atomically; returns their paths. */
export async function writeReport(
  stateDir: string,
  given: RunReport,
  options: WriteReportOptions = {},
): Promise<{ json: string; html: string; report: RunReport }> {
  let report = given;
  const dir = reportDir(stateDir, report.runId);
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  const logTail = options.logTail ?? ((log: string) => readLogTail(isAbsolute(log) ? log : resolve(stateDir, log), LOG_TAIL_LINES));
  // Which failures hold most back, and which failed alike (their logs' error lines).
  report = triageFailures(report, (p) => (p.log === null ? [] : logTail(p.log)));
  await atomicWrite(json, `${JSON.stringify(report, null, 2)}\n`);
  await atomicWrite(html, renderReportHtml(report, { logTail, logHref: (log) => relativeHref(dir, isAbsolute(log) ? log : resolve(stateDir, log)) }));
  // For CI test reporters, once the run has ended: junit.xml beside them.
  if (report.end !== null) await atomicWrite(join(dir, 'junit.xml'), renderJunit(report, (log) => logTail(log).slice(-JUNIT_TAIL_LINES)));
  return { json, html, report };
}

/** Lines of a failed build's log in junit.xml. */
const JUNIT_TAIL_LINES = 30;

export function reportDir(stateDir: string, runId: string): string {
  // The run id becomes a directory name: refuse anything that could leave runs/.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) {
    throw new KilnError('unsafe-path', `run id ${JSON.stringify(runId)} cannot be used as a directory name under ${join(stateDir, 'runs')}`, {
      hint: 'run ids are letters, digits, dot, dash and underscore',
    });
  }
  return join(stateDir, 'runs', runId);
}

/**
 * A link from a page in `fromDir` to `target`, relative (`../../logs/RUN/x_amd64.log`),
 * each path segment percent-encoded: it works from a file:// URL and behind any web
 * server that serves the state directory, wherever that is mounted.
 */
export function relativeHref(fromDir: string, target: string): string {
  return relative(fromDir, target).split(sep).map(encodeURIComponent).join('/');
}

/**
 * The last `lines` lines of a log file, without the package list, environment and script
 * kiln wrote in it; [] when it cannot be read, whatever the reason (pruned, never written because its
 * name was too long, unreadable, a corrupt .gz): a report shows the failure without its
 * tail rather than fail.
 */
export function readLogTail(path: string, lines: number): string[] {
  let text: string;
  try {
    text = path.endsWith('.gz') ? gunzipSync(readFileSync(path)).toString('utf8') : readEnd(path, 256 * 1024);
  } catch {
    return [];
  }
  let all = withoutDumps(text.split(/\r?\n/));
  if (all.at(-1) === '') all.pop();
  // A compressed log's excerpt (logs/log-compress.ts): its end is what follows the note, not the head before it.
  const note = all.findLastIndex((l) => EXCERPT_NOTE.test(l));
  if (note !== -1) all = all.slice(note + 1);
  return all.slice(-lines);
}

/**
 * The lines of the environment and script kiln writes into a log before the build runs
 * (execute-job.ts): what a tail of a failure shows is the build's own end, not them (a
 * build that printed little would otherwise show only its environment).
 */
const DUMP_LINE = /^\[[ \d.]+\] k (?: {2}[A-Za-z_][A-Za-z0-9_]*=|\| |environment \(nothing else is inherited|script \(bash -e, in )/;

/** The header of the build root's package list (envs/package-versions.ts), with its stamp. */
const VERSIONS_NOTE = new RegExp(`^(\\[[ \\d.]+\\] k )${PACKAGE_VERSIONS_NOTE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

/** One line of that list, `name version arch` (a Debian package name, a version starting with a digit, an arch or nothing). */
const PACKAGE_LINE = /^[a-z0-9][a-z0-9+.-]* [0-9][A-Za-z0-9.+~:-]* [a-z0-9-]*$/;

/**
 * `lines` without kiln's dumps: the environment and script (DUMP_LINE), and the package list
 * of the build root (hundreds of lines, written before the build: a build that fails at
 * once would show nothing else). The list is one note, so its lines carry its header's
 * stamp: they end at the first line that does not, or does not read as a package.
 */
function withoutDumps(lines: readonly string[]): string[] {
  const out: string[] = [];
  /** The stamp and tag of the list being left out. */
  let list: string | undefined;
  for (const l of lines) {
    if (list !== undefined) {
      if (l.startsWith(list) && PACKAGE_LINE.test(l.slice(list.length))) continue;
      list = undefined;
    }
    const header = VERSIONS_NOTE.exec(l);
    if (header !== null) list = header[1];
    else if (!DUMP_LINE.test(l)) out.push(l);
  }
  return out;
}

/** The last `bytes` of a file, without reading a huge log whole. */
function readEnd(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const text = buf.toString('utf8');
    // A cut-off first line is misleading in a tail: drop it when we did not start at 0.
    return length < size ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    closeSync(fd);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The category of each package of `plan` in one, by name: what buildReport adds to the
 * records. An invalid recipe has no spec: its category is the scan's (`invalid`).
 */
/** Each package's summary, license and restricted mark, from the run's recipes (a Debian source has none of its own). */
export function labelsOf(plan: { readonly nodes: readonly { readonly name: string; readonly spec?: { readonly summary: string; readonly license: string; readonly restricted?: string | undefined; readonly debian?: unknown } | undefined }[] }): Map<string, ArtifactLabels> {
  const out = new Map<string, ArtifactLabels>();
  for (const n of plan.nodes) {
    const s = n.spec;
    if (s === undefined || out.has(n.name)) continue;
    out.set(n.name, { ...(s.debian === undefined ? { summary: s.summary, license: s.license } : {}), ...(s.restricted === undefined ? {} : { restricted: s.restricted }) });
  }
  return out;
}

export function categoriesOf(
  plan: { readonly nodes: readonly { readonly name: string; readonly spec?: { readonly category?: string | undefined } | undefined }[] },
  invalid: readonly { readonly name: string; readonly category?: string | undefined }[] = [],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of invalid) if (b.category !== undefined) out.set(b.name, b.category);
  for (const n of plan.nodes) if (n.spec?.category !== undefined) out.set(n.name, n.spec.category);
  return out;
}
