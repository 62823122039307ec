// Failure triage for a run's report: which failures to fix first, and which failed for the
// same reason. A bulk build of a distribution fails by the hundred; what a maintainer needs
// is (1) the failures that hold the most of the tree back (each skipped package names the
// failed job that stopped it), and (2) failures grouped by their error, so that one missing
// header or one compiler change is seen as one problem, not forty. Pure: the caller gives
// each failure's log tail.

import type { ReportPackage, RunReport } from './report.ts';

/** A group of failures with the same error (report.json's failureGroups). */
export interface FailureGroup {
  /** The error line, normalised (paths, line numbers, numbers and temporary names taken out). */
  readonly signature: string;
  /** The failed jobs (`name@arch`) in it, the ones blocking most first. */
  readonly jobs: readonly string[];
  /** How many packages these failures hold back between them (skipped because of them). */
  readonly blocks: number;
}

/** The longest part of a log line looked at (a compiler's error line is far shorter). */
const MAX_LINE = 1000;

/** The prefix kiln writes before each line of a log: `[  12.345] o ` (time, then o/e for the build's stdout/stderr, k for kiln's own). */
const LOG_PREFIX = /^\[[ \d.]+\] ([oek]) /;

/**
 * What QEMU user emulation says when it may be the emulator, not the package, that failed
 * (an arch built under qemu-user-static): a system call it does not implement, a CPU
 * exception it does not handle, an instruction it does not know (SIGILL), its own fatal
 * error or crash (`QEMU internal SIGSEGV {code=…}` in newer versions). Not any `uncaught target signal`: that is how it reports a program of the build
 * dying of a signal (an abort, a segfault), which would die natively too.
 */
export const QEMU_ERROR = /\bqemu(?:-[\w.-]+)?: (?:uncaught target signal 4 \(Illegal instruction\)|unhandled CPU exception|[Uu]nsupported syscall|fatal:)|\bQEMU internal SIG[A-Z]+/;

/**
 * What says a program died of SIGILL without qemu saying anything (qemu 7.2 prints no
 * `uncaught target signal 4` for it): the shell's report of the command (`bash: line 3:
 * 1234 Illegal instruction (core dumped) ./conftest`, dash's `Illegal instruction`).
 */
const ILLEGAL_INSTRUCTION = /\bIllegal instruction\b/;

/** A failure's cause as run-verdict.ts words a build killed by SIGILL, or exiting 132 (128 + 4: the shell's status after a command died of SIGILL). */
const SIGILL_CAUSE = /\bwas killed by SIGILL\b|\bexited with status 132\b/;

/**
 * Whether a failure may be QEMU user emulation's rather than the package's (pure): its error
 * line is the emulator's own (QEMU_ERROR), or, for a job built under emulation (report.json's
 * buildMode `emulated`), it died of an illegal instruction (killed by SIGILL, exit status
 * 132, or the shell's `Illegal instruction` as its error line): an instruction the emulated
 * CPU lacks (an extension qemu does not implement, or implements otherwise) is the usual
 * cause there. Natively a SIGILL is the program's own doing, and is not taken so.
 */
export function mayBeEmulator(p: Pick<ReportPackage, 'buildMode' | 'cause'>, line: string | undefined): boolean {
  if (line !== undefined && QEMU_ERROR.test(line)) return true;
  if (p.buildMode !== 'emulated') return false;
  return (line !== undefined && ILLEGAL_INSTRUCTION.test(line)) || SIGILL_CAUSE.test(causeLine(p) ?? '');
}

/** Lines that say what went wrong, most telling first. */
const ERROR_PATTERNS: readonly RegExp[] = [
  // The emulator's own failure explains the package's errors after it.
  QEMU_ERROR,
  // patch (dpkg-source -x applying a quilt series): which hunk of which file did not apply.
  /\bhunks? FAILED\b/,
  /\bfatal error\b/i,
  /\berror:/,
  /undefined reference to/,
  /\bcannot find -l/,
  /No such file or directory/,
  /command not found/,
  /\bE: /,
  /dpkg-buildpackage: error/,
  /\bERROR\b/,
  /\bError\b/,
  /\bfailed\b/i,
];

/**
 * Lines that only report that something before them failed: used only when nothing else is
 * found. (mount's pointer to dmesg follows its own error line, `mount: …: special device … does not exist.`.)
 */
const ECHO_LINE = /^make(\[\d+\])?: \*\*\*|^kiln: |exited with status|^dh_\S+: error: .* returned exit code|^dmesg\(\d\) may have more information after failed mount/;

/** A command make (or `set -x`) printed before running it: `echo "error: …"` is not the error, its output is. */
const COMMAND_ECHO = /^(?:\++ )?(?:echo|printf)\s/;

/**
 * The line of a failed build's log tail that says why it failed, or undefined: among the
 * lines matching the first pattern that any line matches, the first one (a compiler's
 * first error is its cause; the ones after are often its consequences); else the build's
 * last line on stderr; else make's echo of a failure.
 */
export function errorLine(tail: readonly string[]): string | undefined {
  // A line is cut to MAX_LINE first: a build may print one of megabytes, and no regex may take long on it.
  const parsed = tail.map((l) => l.slice(0, MAX_LINE)).map((l) => {
    const m = LOG_PREFIX.exec(l);
    return { kiln: m?.[1] === 'k', stderr: m?.[1] === 'e', text: (m === null ? l : l.slice(m[0].length)).trim() };
  }).filter((l) => l.text !== '');
  // kiln's own lines (phases, notes, its failure line) say what happened, not why.
  const telling = parsed.filter((l) => !l.kiln && !ECHO_LINE.test(l.text) && !COMMAND_ECHO.test(l.text)).map((l) => l.text);
  for (const pattern of ERROR_PATTERNS) {
    const hit = telling.find((l) => pattern.test(l));
    if (hit !== undefined) return hit;
  }
  // Else what the build last said on stderr, else make's echo of a failure.
  return parsed.findLast((l) => l.stderr && !ECHO_LINE.test(l.text))?.text ?? parsed.filter((l) => !l.kiln).map((l) => l.text).findLast((l) => ECHO_LINE.test(l));
}

/**
 * An error line with what differs between packages that fail alike taken out (pure): a
 * compiler's `FILE:LINE:COL:` and a linker's object file go (two packages missing one
 * header fail in files of their own), other paths and urls keep their last part, numbers become N,
 * hex and temporary names go. What stays (the message, the names in quotes) is the group.
 */
export function normaliseError(line: string): string {
  return line
    .slice(0, MAX_LINE)
    // A URL with no path (a server's address) keeps only its scheme: its host and port differ
    // between machines, not the failure (one with a path keeps its last part, as a path does, below).
    .replace(/\b([a-z][a-z0-9+.-]*):\/\/[^\s/'"`)\]]*?([:.,;]*)(?=$|[\s'"`)\]])/gi, '$1://…$2')
    // One with a path: its scheme and the path's last part, `https://…/zlib-N.N.tar.gz`.
    .replace(/\b([a-z][a-z0-9+.-]*):\/\/[^\s'"`)\]]*\/([\w.+~%-]+)/gi, '$1://…/$2')
    .replace(/^\S+?:\d+(?::\d+)?:\s*/, '')
    .replace(/^(\S*\bld: )\S+\.o: /, '$1')
    .replace(/(?<!…)(?:[\w.+-]*\/)+([\w.+-]+)/g, '$1')
    .replace(/\b0x[0-9a-f]+\b/gi, 'HEX')
    .replace(/\b[0-9a-f]{12,}\b/gi, 'HASH')
    .replace(/\b(tmp|cc)[A-Za-z0-9]{6,}\b/g, '$1XXXXXX')
    // Numbers (150s, 512MB too), not the digits of a word (sha256, bz2, -m64).
    .replace(/(?<![A-Za-z0-9])\d+/g, 'N')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** The first line of a failed package's cause, when it has one. */
function causeLine(p: Pick<ReportPackage, 'cause'>): string | undefined {
  const first = p.cause?.split('\n', 1)[0]?.trim();
  return first === undefined || first === '' ? undefined : first;
}

/** How many packages each failed job holds back: the skipped ones that name it. */
export function blockedCounts(packages: readonly ReportPackage[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of packages) {
    if (p.state !== 'skipped') continue;
    for (const id of p.skippedBecause ?? []) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/**
 * The report with its failures triaged: each failed package gets `blocks` (how many it
 * holds back) and `errorLine` (from its log tail, when one says why), and the report gets
 * `failureGroups`, the failures grouped by normalised error, biggest first. `tailOf` reads a
 * failed package's log tail.
 */
export function triageFailures(report: RunReport, tailOf: (pkg: ReportPackage) => readonly string[]): RunReport {
  const failed = report.packages.filter((p) => p.state === 'failed');
  if (failed.length === 0) return report;
  const blocks = blockedCounts(report.packages);
  const idOf = (p: ReportPackage): string => `${p.name}@${p.arch}`;
  const lines = new Map<string, string | undefined>();
  // A log that cannot be read (gone, unreadable) just gives no error line: a run's report is always written.
  for (const p of failed) {
    let tail: readonly string[];
    try {
      tail = tailOf(p);
    } catch {
      tail = [];
    }
    // A failure of kiln's own steps (a download, a checksum, an unsafe archive member) is
    // said by its cause, not by the build's output: that is its error line.
    lines.set(idOf(p), errorLine(tail) ?? causeLine(p));
  }
  const packages = report.packages.map((p) => {
    if (p.state !== 'failed') return p;
    const line = lines.get(idOf(p));
    return { ...p, blocks: blocks.get(idOf(p)) ?? 0, ...(line === undefined ? {} : { errorLine: line }), ...(mayBeEmulator(p, line) ? { underEmulation: true } : {}) };
  });
  const groups = new Map<string, string[]>();
  for (const p of failed) {
    const line = lines.get(idOf(p));
    // A failure with neither a telling line nor a cause is grouped by its reason code (timeout, out-of-memory…).
    const signature = line === undefined ? `(${p.reason ?? 'failed'}: no error line in its log)` : normaliseError(line);
    groups.set(signature, [...(groups.get(signature) ?? []), idOf(p)]);
  }
  const failureGroups: FailureGroup[] = [...groups].map(([signature, jobs]) => {
    const sorted = [...jobs].sort((a, b) => (blocks.get(b) ?? 0) - (blocks.get(a) ?? 0) || a.localeCompare(b));
    return { signature, jobs: sorted, blocks: sorted.reduce((n, j) => n + (blocks.get(j) ?? 0), 0) };
  }).sort((a, b) => b.jobs.length - a.jobs.length || b.blocks - a.blocks || a.signature.localeCompare(b.signature));
  return { ...report, packages, failureGroups };
}

/** The failures to fix first, most blocking first (those that block nothing left out), at most `n`. */
export function fixFirst(report: RunReport, n: number): { readonly job: string; readonly blocks: number }[] {
  return report.packages
    .filter((p) => p.state === 'failed' && (p.blocks ?? 0) > 0)
    .map((p) => ({ job: `${p.name}@${p.arch}`, blocks: p.blocks ?? 0 }))
    .sort((a, b) => b.blocks - a.blocks || a.job.localeCompare(b.job))
    .slice(0, n);
}

/**
 * What the end of a run says of its failures, when there are some worth it (pure): the
 * ones holding back the most, and an error several failed with.
 */
export function triageLines(report: RunReport): string[] {
  const out: string[] = [];
  const first = fixFirst(report, 3);
  if (first.length > 0) out.push(`fix first: ${first.map((f) => `${f.job} (holds back ${f.blocks})`).join(', ')}`);
  for (const g of (report.failureGroups ?? []).filter((x) => x.jobs.length > 1).slice(0, 3)) {
    out.push(`${g.jobs.length} failed alike: ${g.signature} (${g.jobs.slice(0, 4).join(', ')}${g.jobs.length > 4 ? ', …' : ''})`);
  }
  const emulated = report.packages.filter((p) => p.underEmulation === true).map((p) => `${p.name}@${p.arch}`);
  if (emulated.length > 0) {
    out.push(`${emulated.length} failed where QEMU's user emulation may have failed (their logs say qemu: …, or a program died of an illegal instruction under it): ${emulated.slice(0, 4).join(', ')}${emulated.length > 4 ? ', …' : ''}; the emulator may be at fault, not the package: build them on a native machine of their arch (a kiln worker there) to tell`);
  }
  return out;
}
