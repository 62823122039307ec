// The dose-builddebcheck runs of a Debian plan: one per build arch and build mode (a -B
// build is checked without Build-Depends-Indep, a -A build without Build-Depends-Arch, as
// Debian's buildds do), each over the stanzas of the sources built that way there.
//
// For a whole suite the runs can be told from three raw fields of each stanza (Version,
// Extra-Source-Only, Architecture) before the index is parsed, so dose starts at once and
// kiln parses meanwhile. That early guess is then checked against the runs the parsed
// sources call for (`covers`): every source checked by those is checked by the guess, in
// the same mode with the same stanza; the guess may check more (a source whose relations
// kiln cannot parse, left out of the plan), and dose's answers about those are dropped.
// When the guess does not cover the runs, they are run again as they should be.

import type { DebianBuildMode } from './debian-spec.ts';
import { words } from './deb822.ts';
import { rawField, type LazyIndex } from './lazy-index.ts';
import { archMatches } from './relation.ts';
import type { Uninstallable } from './installability.ts';
import { crossMode, indepArchOf, indexArchsOf, isCrossJob } from './cross.ts';
import { compareVersions } from './version.ts';

/** A source as far as the runs care: its name, its stanza and its Architecture words. */
export interface Checkable {
  readonly name: string;
  readonly stanza: string;
  readonly architecture: readonly string[];
}

export interface DoseRun {
  readonly arch: string;
  readonly mode: DebianBuildMode;
  /** --cross: the build arch this run's arch is cross-built from (dose's native arch; `arch` is its host arch). */
  readonly cross?: string;
  /** Source name → the stanza checked, in the order handed to dose. */
  readonly sources: ReadonlyMap<string, string>;
  /**
   * The stanzas are the index's bytes read as latin1 (one character per byte, which is
   * quick to read and cut): they go back to dose as those same bytes.
   */
  readonly latin1?: boolean;
}

const MODES: readonly DebianBuildMode[] = ['binary', 'binary-arch', 'binary-indep'];

/** The archs of this run a source builds for: `all` when it builds only arch-independent packages. */
export function targetArchsOf(words: readonly string[], archs: readonly string[], mode: DebianBuildMode = 'binary'): string[] {
  // -A: the arch-independent packages, built once (the `all` job, on the run's first arch).
  if (mode === 'binary-indep') return words.includes('all') ? ['all'] : [];
  // -B: the arch-dependent ones, on each arch of the run that has them; no `all` job.
  if (mode === 'binary-arch') return archs.filter((a) => words.some((w) => w !== 'all' && archMatches(a, w)));
  const indepOnly = words.length > 0 && words.every((w) => w === 'all');
  if (indepOnly) return ['all'];
  const matching = archs.filter((a) => words.some((w) => w !== 'all' && archMatches(a, w)));
  // `i386 all` on amd64: the arch-independent part is still built here (as buildds do).
  if (matching.length === 0 && words.includes('all')) return ['all'];
  return matching;
}

/** -b on the primary arch (arch and indep packages), -B elsewhere; -A for arch-all-only sources. */
export function modeOfWords(words: readonly string[], arch: string, req: RunShape): DebianBuildMode {
  if (arch === 'all') return 'binary-indep';
  // --cross: a cross job builds the architecture-dependent half only (cross.ts).
  if (isCrossJob(req.cross, arch)) return crossMode(req.options.mode);
  if (req.options.mode !== 'binary') return req.options.mode;
  const hasIndep = words.includes('all');
  // -b on the first arch of the run that builds the source natively (not always the run's first).
  const native = targetArchsOf(words, req.archs).filter((a) => !isCrossJob(req.cross, a));
  return hasIndep && arch === native[0] ? 'binary' : 'binary-arch';
}

/**
 * The mode that decides a source's jobs (targetArchsOf): the one asked for, but for a binNMU,
 * whose -B is its own (debian-plan.ts) and whose arch-independent-only sources are still
 * built, under the source's version, as they were before -A and -B chose jobs.
 */
export function jobsMode(o: { readonly mode: DebianBuildMode; readonly binnmu?: number }): DebianBuildMode {
  return typeof o.binnmu === 'number' ? 'binary' : o.mode;
}

/** What of a run shapes its modes: its archs, the mode asked for, and --cross's build arch. */
export interface RunShape {
  readonly archs: readonly string[];
  readonly options: { readonly mode: DebianBuildMode; readonly binnmu?: number };
  readonly cross?: string | undefined;
}

/** The runs for `list` (in its order), per arch of the run and mode; none for an empty group. */
export function doseRuns(list: readonly Checkable[], req: RunShape, latin1 = false): DoseRun[] {
  const primary = indepArchOf(req);
  // With --cross, arch-independent sources are checked on the build arch even when the run does not build for it.
  const runArchs = indexArchsOf(req);
  const groups = new Map<string, Map<string, string>>();
  const group = (arch: string, mode: DebianBuildMode): Map<string, string> => {
    const k = `${arch} ${mode}`;
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = new Map()));
    return g;
  };
  // Per distinct Architecture field (a suite has a few dozen): the groups it goes in.
  const groupsOf = new Map<string, Map<string, string>[]>();
  for (const c of list) {
    const key = c.architecture.length === 1 ? c.architecture[0]! : c.architecture.join(' ');
    let mine = groupsOf.get(key);
    if (mine === undefined) {
      const targets = targetArchsOf(c.architecture, req.archs, jobsMode(req.options));
      mine = runArchs.filter((arch) => targets.some((a) => (a === 'all' ? primary : a) === arch))
        .map((arch) => group(arch, modeOfWords(c.architecture, targets.includes(arch) ? arch : 'all', req)));
      groupsOf.set(key, mine);
    }
    for (const g of mine) g.set(c.name, c.stanza);
  }
  const runs: DoseRun[] = [];
  for (const arch of runArchs) {
    for (const mode of MODES) {
      const g = groups.get(`${arch} ${mode}`);
      if (g !== undefined) runs.push({ arch, mode, sources: g, ...(isCrossJob(req.cross, arch) ? { cross: req.cross } : {}), ...(latin1 ? { latin1 } : {}) });
    }
  }
  return runs;
}

/**
 * The stanza `selectSource` picks for --all, from raw fields only: the highest version
 * (the first in index order among equal ones) whose stanza is not Extra-Source-Only.
 * undefined when there is none; `unsure` when one of several stanzas has no Version to
 * order them by (the parse decides).
 */
export function quickPick(sources: LazyIndex<unknown>, name: string): string | undefined | 'unsure' {
  const raws = sources.raw(name);
  // One stanza (most names): no versions to order (one without a Version fails the parse).
  if (raws.length === 1) return rawField(raws[0]!, 'Extra-Source-Only') === 'yes' ? undefined : raws[0]!;
  const entries: { raw: string; version: string }[] = [];
  for (const raw of raws) {
    const version = rawField(raw, 'Version');
    if (version === undefined) return 'unsure';
    entries.push({ raw, version });
  }
  entries.sort((a, b) => compareVersions(b.version, a.version));
  // The stanza of a version is the first one listing it (as LazyIndex.stanza finds it).
  const stanzaOf = (v: string): string => entries.find((e) => e.version === v)!.raw;
  const pick = entries.find((e) => rawField(stanzaOf(e.version), 'Extra-Source-Only') !== 'yes');
  return pick === undefined ? undefined : stanzaOf(pick.version);
}

/** The Architecture words of a raw stanza, as the parsed source has them. */
export function rawArchitecture(stanza: string): string[] {
  return words(rawField(stanza, 'Architecture'));
}

/**
 * For each of `wanted`, the run of `guess` that checks all its sources in the same way, or
 * undefined when some run is not covered.
 */
export function covers(guess: readonly DoseRun[], wanted: readonly DoseRun[]): number[] | undefined {
  const out: number[] = [];
  for (const w of wanted) {
    const i = guess.findIndex((g) => g.arch === w.arch && g.mode === w.mode);
    if (i === -1) return undefined;
    const g = guess[i]!;
    for (const [name, stanza] of w.sources) if (!sameStanza(g, g.sources.get(name), w, stanza)) return undefined;
    out.push(i);
  }
  return out;
}

/** Whether two stanzas are the same bytes (each as its run holds it). */
function sameStanza(a: DoseRun, x: string | undefined, b: DoseRun, y: string): boolean {
  if (x === undefined) return false;
  if (x === y) return a.latin1 === b.latin1 || isAscii(x);
  return Buffer.from(x, a.latin1 === true ? 'latin1' : 'utf8').equals(Buffer.from(y, b.latin1 === true ? 'latin1' : 'utf8'));
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/** The bytes dose gets for a run's stanzas. */
export function runSources(run: DoseRun): string | Buffer {
  const text = [...run.sources.values()].join('\n\n') + '\n';
  return run.latin1 === true ? Buffer.from(text, 'latin1') : text;
}

/** Source → why it is not installable, one message per arch, from the answers of `runs` (dose's answers about other sources dropped). */
export function brokenFrom(runs: readonly DoseRun[], answers: readonly (readonly Uninstallable[])[]): Map<string, string[]> {
  const broken = new Map<string, string[]>();
  runs.forEach((run, i) => {
    for (const f of answers[i] ?? []) {
      if (!run.sources.has(f.source)) continue;
      const list = broken.get(f.source) ?? [];
      // A cross build says so: a plain `make` (not `make:native`) is a host-arch tool there.
      list.push(run.cross === undefined
        ? `${run.arch}: build dependencies not installable: ${f.reason}`
        : `${run.arch}: build dependencies not installable for a cross build from ${run.cross}: ${f.reason} (a source that cross-builds names its build tools :native, or the tools are Multi-Arch: foreign; build this one natively, without --cross)`);
      broken.set(f.source, list);
    }
  });
  return broken;
}
