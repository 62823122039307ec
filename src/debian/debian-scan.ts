// Debian source packages as a package source: fetch and verify the suite's indexes (suite-indexes.ts),
// select the requested sources (name, name=version, local .dsc files, or --all), and
// turn each into a PackageSpec the generic planner understands:
//
//   provides      the binaries it builds (at the source's version) plus what the archive
//                 says those binaries provide: relations on them resolve to this source
//   buildDepends  only the relations whose first satisfiable alternative is a binary of
//                 another source of this run: the source waits for it and installs its
//                 fresh .deb; every other relation is satisfied from the archive
//   recipeHash    the .dsc and its files' hashes, the build mode, profiles and options,
//                 and (per arch) the exact versions a resolver picks for the build
//                 dependencies: a new upload of any of them rebuilds the source
//
// Sources whose build dependencies are not installable (dose-builddebcheck) become
// `broken`, naming the failing relation. dose is an external process and the slowest step
// by far: it starts as soon as its input is known (for --all from a few raw fields, before
// the index is parsed: dose-runs.ts) and kiln does every step that does not need its
// answer meanwhile; the answer then only drops the broken sources (and, if there are
// any, the cycles are broken again without them).

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import type { Diagnostic, InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { forgetChoices } from './binary-closure.ts';
import { debianExtras, type DebianOptions, type DebianSuite } from './debian-spec.ts';
import type { SuiteRelease } from './indexes.ts';
import { fetchIndexes, type InputOrigin } from './suite-indexes.ts';
import { DEFAULT_COMPONENTS, layeredSources, type LayeredSources } from './components.ts';
import { notInComponents } from './components-hint.ts';
import type { ExtraRepository, ExtraRepositoryUsed } from './extra-repos.ts';
import type { ExtraPackage } from './extra-package-use.ts';
import { check, discardedMs, type Checking } from './dose-check.ts';
import { lazyPackages, lazySources, type BinaryUniverse, type LazyIndex } from './lazy-index.ts';
import { brokenFrom, covers, doseRuns, quickPick, rawArchitecture, type Checkable, type DoseRun } from './dose-runs.ts';
import { forgetParsedRelations } from './relation.ts';
import type { AltGroup } from './relation-types.ts';
import type { SourcePackage } from './sources-index.ts';
import { localSource, selectSource } from './debian-select.ts';
import { indepArchOf } from './cross.ts';
import { binnmuClashes, breakCycles, checkCrossToolchains, checkOnce, closureFor, keepInstallable, prepare, relations, runBinariesOf, specOf, waitsOf, type Picked, type Prepared } from './debian-scan-steps.ts';
import { startLaps, type Laps } from '../lib/laps.ts';

export interface DebianRequest {
  readonly suite: string;
  /** Mirror base url (the directory holding dists/ and pool/). */
  readonly mirror: string;
  /** Target archs; the first is the primary one (-b there, -B elsewhere). */
  readonly archs: readonly string[];
  /** `name` or `name=version`. */
  readonly sources: readonly string[];
  /** Local .dsc files (their files beside them). */
  readonly dscs: readonly string[];
  /** Every source of the run's components. */
  readonly all: boolean;
  /** The archive components read, in the order sources are looked up (--components, debian.toml's components); default main. */
  readonly components?: readonly string[];
  readonly options: DebianOptions;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly timeoutMs: number | undefined;
  /** debian.toml loop-timeout (0: off); undefined: the default. */
  readonly loopTimeoutMs?: number | undefined;
  /** --twice: build each package a second time with variations and compare. */
  readonly twice?: boolean;
  /** --try-install: each built .deb installed into a fresh root, then purged. */
  readonly tryInstall?: boolean;
  /** --autopkgtest: the source's tests run by autopkgtest in a fresh root after the build. */
  readonly autopkgtest?: boolean;
  /** --cross: the build arch (this machine's) the other archs are cross-built from (cross.ts). */
  readonly cross?: string;
  /** Skip the dose-builddebcheck installability check. */
  readonly skipInstallability?: boolean;
  /** Where the suite and the archs were given, so a bad one is named there (default: the flags). */
  readonly origin?: { readonly suite: InputOrigin; readonly archs: InputOrigin; readonly keyring?: InputOrigin; readonly cross?: InputOrigin; readonly components?: InputOrigin };
  /** Only the sources' names for the env template, e.g. `bookworm-{arch}`. */
  readonly cacheDir: string;
  readonly downloads: Downloads;
  /** The keyring the suite's InRelease must be signed by (--keyring, debian.toml's keyring); default: Debian's archive keyring. */
  readonly keyring?: string;
  /** false: a Release past its Valid-Until is taken (--no-check-valid-until, debian.toml's check-valid-until = false): a snapshot mirror. */
  readonly checkValidUntil?: false;
  /** Repositories whose binaries join the suite's for the build dependencies (sbuild's --extra-repository). */
  readonly extraRepositories?: readonly ExtraRepository[];
  /** Keyrings an extra repository without signed-by may be signed by, besides the suite's keyring. */
  readonly extraKeys?: readonly string[];
  /** Local .debs offered to the builds (sbuild's --extra-package), read already (extra-packages.ts). */
  readonly extraPackages?: readonly ExtraPackage[];
  readonly signal?: AbortSignal;
}

export interface DebianScan {
  readonly specs: readonly PackageSpec[];
  readonly invalid: readonly InvalidPackage[];
  readonly diagnostics: readonly Diagnostic[];
  readonly suite: DebianSuite;
  /** Waits dropped to break cycles among this run's sources (`a -> b (binary)`): a uses the archive's binary. */
  readonly cyclesBroken: readonly string[];
  /**
   * Milliseconds spent in each step (for `kiln plan --json` and the bench). `installability`
   * is the wall time of the external dose-builddebcheck runs; the steps named in
   * `overlapped` ran meanwhile (their time is inside it, not after it).
   */
  readonly timings: Readonly<Record<string, number>>;
  /** Steps of `timings` that ran while dose-builddebcheck did (they do not use its answer). */
  readonly overlapped: readonly string[];
}

/** Sources between two turns of the event loop in the long loops (dose's output and exit are read meanwhile). */
const CHUNK = 512;
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One scan under way: the request, the suite's indexes, the clock and the dose runs. */
interface Scan {
  readonly req: DebianRequest;
  readonly release: SuiteRelease;
  readonly primary: string;
  readonly packagesPaths: ReadonlyMap<string, string>;
  /** The parsed Packages per arch, once `readPackages` has run. */
  readonly universes: Map<string, BinaryUniverse>;
  readonly suite: DebianSuite;
  readonly laps: Laps;
  /** Whether dose-builddebcheck runs at all (not skipped). */
  readonly dose: boolean;
  /** --all: the dose runs started on the raw fields' guess, before the parse. */
  early: Checking | undefined;
  /** The dose runs started after the parse (when there is no early one that stands). */
  checking: Checking | undefined;
  /** The early runs standing for the parsed sources' runs (`covers`), if they stand. */
  from: number[] | undefined;
}

/** Scans the requested sources of the suite into specs (see above), step by step, each step timed. */
export async function scanDebian(req: DebianRequest): Promise<DebianScan> {
  const laps = startLaps();
  const { release, packagesPaths, sourcesPaths, extras } = await fetchIndexes(req);
  laps.lap('fetch-indexes');
  const s = scanOf(req, release, packagesPaths, extras, laps);
  try {
    const sources = await readSources(s, sourcesPaths);
    // Otherwise the handful's closure needs the binaries first.
    if (!req.all) {
      await readPackages(s);
      laps.lap('read-packages');
    }
    const { picked, badDscs } = await pickSources(s, sources);
    during(s, 'select-sources');
    checkOnce(picked);
    const runBinaries = runBinariesOf(picked);
    const prep = prepare(req, release, picked);
    const { prepared } = prep;
    const invalid = [...badDscs, ...prep.invalid];
    const runs = await startInstallability(s, prepared, runBinaries);
    if (req.all) await readArchiveMeanwhile(s, prepared);
    await findWaits(s, prepared, runBinaries);
    during(s, 'waits');
    await makeSpecs(s, prepared);
    during(s, 'keys');
    // Cycles among the waits of the sources (wait-cycles.ts): again below if dose finds
    // some of them broken.
    let cycles = breakCycles(prepared, new Map());
    during(s, 'cycles');
    const broken = await installabilityAnswer(s, runs);
    if (broken.size > 0) {
      cycles = breakCycles(prepared, broken);
      laps.lap('cycles-after');
    }
    // A binNMU version the suite already has (with the archive's bytes) would be a second
    // file under one version: that source is not buildable with this --binnmu.
    const clashes = binnmuClashes(req, prepared, s.universes, s.suite.suite);
    const specs = keepInstallable(prepared, broken, invalid).filter((spec) => {
      const message = clashes.get(spec.name);
      if (message === undefined) return true;
      invalid.push({ name: spec.name, version: spec.version, debian: true, dir: spec.dir, diagnostics: [{ file: spec.dir, key: 'binnmu', message }] });
      return false;
    });
    forgetPlanning(s);
    laps.lap('specs');
    return { specs, invalid, diagnostics: [], suite: s.suite, timings: laps.timings, overlapped: laps.overlapped, cyclesBroken: cycles.dropped };
  } catch (e) {
    await stopDose(s);
    throw e;
  }
}

/** A lap of a step that does not use dose's answer: overlapped if dose runs meanwhile. */
function during(s: Scan, what: string): void {
  s.laps.lap(what);
  if (s.early !== undefined || s.checking !== undefined) s.laps.overlapped.push(what);
}

/** The scan's state once the indexes are fetched: the suite (its Packages parsed later), no dose run yet. */
function scanOf(req: DebianRequest, release: SuiteRelease, packagesPaths: ReadonlyMap<string, string>, extras: readonly ExtraRepositoryUsed[], laps: Laps): Scan {
  const universes = new Map<string, BinaryUniverse>();
  const suite: DebianSuite = {
    suite: req.suite,
    mirror: release.mirror,
    release,
    extras,
    ...((req.extraPackages ?? []).length === 0 ? {} : { extraPackages: req.extraPackages! }),
    components: req.components ?? DEFAULT_COMPONENTS,
    ...(req.keyring === undefined ? {} : { keyring: req.keyring }),
    ...(req.checkValidUntil === false ? { checkValidUntil: false as const } : {}),
    packages(arch) {
      const path = packagesPaths.get(arch);
      const universe = universes.get(arch);
      if (path === undefined || universe === undefined) throw new Error(`internal: no Packages index for ${arch} in this run`);
      return { path, universe };
    },
  };
  // dose-builddebcheck is an external process: while it runs, kiln works out everything
  // that does not depend on its answer (which then only drops the broken sources). An
  // error in kiln's own part stops it.
  return { req, release, primary: indepArchOf(req), packagesPaths, universes, suite, laps, dose: req.skipInstallability !== true, early: undefined, checking: undefined, from: undefined };
}

/** Parses the Packages index of each arch into `s.universes`. */
async function readPackages(s: Scan): Promise<void> {
  for (const [arch, path] of s.packagesPaths) s.universes.set(arch, lazyPackages(await readFile(path, 'utf8'), `${s.release.url} (${arch} Packages)`));
}

/** For --all dose reads the Packages files as they are (a cross run's: the build arch's too). */
function wholeIndex(s: Scan): (run: DoseRun) => { paths: string[] } {
  return (run) => ({ paths: [...(run.cross === undefined ? [] : [s.packagesPaths.get(run.cross)!]), s.packagesPaths.get(run.arch)!] });
}

/** Reads Sources (if fetched: one per component), starts dose early for --all, and decodes them (looked up in component order). */
async function readSources(s: Scan, sourcesPaths: readonly { component: string; path: string }[]): Promise<LayeredSources | undefined> {
  const { req, laps } = s;
  if (sourcesPaths.length === 0) return undefined;
  const read = await Promise.all(sourcesPaths.map(async ({ component, path }) => ({ component, bytes: await readFile(path) })));
  laps.lap('read-sources');
  const what = (component: string): string => `${s.release.url} (${read.length === 1 && component === 'main' ? '' : `${component} `}Sources)`;
  const layered = (encoding: 'utf8' | 'latin1'): LayeredSources => layeredSources(read.map(({ component, bytes }) => ({ component, index: lazySources(bytes.toString(encoding), what(component)) })));
  if (s.dose && req.all && req.dscs.length === 0) await startEarly(s, layered('latin1'));
  const sources = layered('utf8');
  during(s, 'decode-sources');
  return sources;
}

/**
 * --all: starts dose on the runs that raw fields tell (dose-runs.ts), before the parse, from
 * the bytes read as latin1 (quicker than UTF-8, and a character is a byte); not if any
 * stanza leaves the guess unsure.
 */
async function startEarly(s: Scan, raw: LazyIndex<SourcePackage>): Promise<void> {
  const guess: Checkable[] = [];
  let sure = true;
  for (const name of raw.names()) {
    const stanza = quickPick(raw, name);
    if (stanza === 'unsure') {
      sure = false;
      break;
    }
    if (stanza !== undefined) guess.push({ name, stanza, architecture: rawArchitecture(stanza) });
  }
  s.laps.lap('quick-select');
  if (sure) {
    // Its input written and the process started before kiln goes on.
    s.early = check(s.req, doseRuns(guess, s.req, true), wholeIndex(s));
    await s.early.running;
    s.laps.lap('start-installability');
  }
}

/**
 * Picks the requested sources from Sources (every name for --all), then the local .dsc
 * files; a .dsc whose files do not match it is a broken package (badDscs), not the run's end.
 */
async function pickSources(s: Scan, sources: LayeredSources | undefined): Promise<{ picked: Picked[]; badDscs: InvalidPackage[] }> {
  const { req } = s;
  const picked: Picked[] = [];
  const badDscs: InvalidPackage[] = [];
  if (sources !== undefined) {
    const names = req.all ? sources.names() : req.sources;
    let i = 0;
    for (const want of names) {
      let p: Picked | undefined;
      try {
        p = selectSource(sources, want, req, s.universes.get(s.primary));
      } catch (e) {
        await notInComponents(s.req, s.release, sources, want, e);
      }
      if (p !== undefined) picked.push(p);
      if (s.early !== undefined && ++i % CHUNK === 0) await breathe();
    }
  }
  for (const dsc of req.dscs) {
    const local = await localSource(resolve(dsc), req.signal);
    if ('invalid' in local) badDscs.push(local.invalid);
    else picked.push(local);
  }
  return { picked, badDscs };
}

/**
 * The dose runs the parsed sources call for: the early ones stand if they cover them (else
 * they are stopped); without early ones standing they start now (for a handful, on the
 * closure of their relations).
 */
async function startInstallability(s: Scan, prepared: ReadonlyMap<string, Prepared>, runBinaries: ReadonlyMap<string, { source: string; version: string }>): Promise<DoseRun[]> {
  const { req, laps } = s;
  const runs = s.dose ? doseRuns([...prepared.values()].map((x) => ({ name: x.p.src.package, stanza: x.p.raw, architecture: x.p.src.architecture })), req) : [];
  if (s.early !== undefined) {
    s.from = runs.length === 0 ? undefined : covers(s.early.runs, runs);
    if (s.from === undefined) {
      s.early.stop();
      await s.early.answers.catch(() => undefined);
      laps.timings['installability-discarded'] = discardedMs(s.early);
      s.early = undefined;
    }
  }
  if (s.dose && s.early === undefined && runs.length > 0) {
    if (req.all) s.checking = check(req, runs, wholeIndex(s));
    else {
      // The closure handed to dose (a handful of sources) needs the relations first.
      for (const x of prepared.values()) relations(x, req, s.primary);
      laps.lap('relations');
      const packagesFor = closureFor([...prepared.values()], s.universes, runBinaries, s.primary, req.cross);
      for (const run of runs) packagesFor(run.arch);
      laps.lap('closure');
      s.checking = check(req, runs, (run) => packagesFor(run.arch));
    }
    await s.checking.running;
    laps.lap('start-installability');
  }
  return runs;
}

/** --all, while dose runs: parses the Packages indexes, then each source's build dependencies. */
async function readArchiveMeanwhile(s: Scan, prepared: ReadonlyMap<string, Prepared>): Promise<void> {
  await readPackages(s);
  during(s, 'read-packages');
  let i = 0;
  for (const x of prepared.values()) {
    relations(x, s.req, s.primary);
    if (++i % CHUNK === 0) await breathe();
  }
  during(s, 'relations');
}

/** Fills each source's waits on this run's binaries. */
async function findWaits(s: Scan, prepared: ReadonlyMap<string, Prepared>, runBinaries: ReadonlyMap<string, { source: string; version: string }>): Promise<void> {
  let i = 0;
  for (const x of prepared.values()) {
    // Named sources without dose: nothing needed the relations before this step.
    if (x.perArch.size === 0) relations(x, s.req, s.primary);
    waitsOf(x, runBinaries, s.universes, s.primary);
    if (++i % CHUNK === 0) await breathe();
  }
}

/** Fills everything of each spec but its waits: what apt installs, hashes, provides. */
async function makeSpecs(s: Scan, prepared: ReadonlyMap<string, Prepared>): Promise<void> {
  const { req, suite, release, primary, universes } = s;
  const extras: AltGroup[] = debianExtras(req.twice === true).map((name) => [{ name }]);
  checkCrossToolchains(req, universes);
  let i = 0;
  for (const x of prepared.values()) {
    x.spec = specOf(x, { req, suite, release, primary, universes, extras });
    if (++i % CHUNK === 0) await breathe();
  }
}

/** Waits for dose's answer (running it again if the early run failed): the broken sources and why. */
async function installabilityAnswer(s: Scan, runs: readonly DoseRun[]): Promise<Map<string, string[]>> {
  const { req, laps } = s;
  let broken = new Map<string, string[]>();
  if (s.early !== undefined) {
    // An early run that failed (dose refusing a stanza the parse then left out, say) is
    // run again as the parsed sources call for; that one's failure is the answer.
    const failed = await s.early.answers.then(() => false, () => req.signal?.aborted !== true);
    if (failed) {
      laps.timings['installability-discarded'] = discardedMs(s.early);
      s.early = undefined;
      s.from = undefined;
      s.checking = check(req, runs, wholeIndex(s));
      laps.restart();
    }
  }
  const used = s.early ?? s.checking;
  if (used !== undefined) {
    const answers = await used.answers;
    const from = s.from;
    broken = brokenFrom(runs, from === undefined ? answers : from.map((k) => answers[k]!));
    laps.timings['installability-wait'] = Math.round(laps.since());
    laps.timings['installability'] = Math.round(used.ms);
    laps.restart();
  }
  return broken;
}

/** Drops what planning remembered; the specs keep the universes (the build reads them). */
function forgetPlanning(s: Scan): void {
  for (const u of s.universes.values()) forgetChoices(u);
  forgetParsedRelations();
}

/** Stops the dose runs under way (on an error in kiln's own part) and waits for them to end. */
async function stopDose(s: Scan): Promise<void> {
  s.early?.stop();
  s.checking?.stop();
  await Promise.all([s.early?.answers, s.checking?.answers].map((a) => a?.catch(() => undefined)));
}