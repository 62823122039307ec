// Debian source packages as a package source: fetch and verify the suite's indexes,
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
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import type { Diagnostic, InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { bestCandidate, chosenKeys, closure, forgetChoices } from './binary-closure.ts';
import { debianExtras, type DebianBuildMode, type DebianBuildSpec, type DebianOptions, type DebianSuite } from './debian-spec.ts';
import { createIndexes, type SuiteRelease } from './indexes.ts';
import { checkInstallable, type Uninstallable } from './installability.ts';
import { lazyPackages, lazySources, type BinaryUniverse, type LazyIndex } from './lazy-index.ts';
import { brokenFrom, covers, doseRuns, quickPick, rawArchitecture, runSources, type Checkable, type DoseRun } from './dose-runs.ts';
import { forgetParsedRelations, formatGroup, formatRelation } from './relation.ts';
import type { AltGroup, Provide, Relation } from './relation-types.ts';
import type { SourcePackage } from './sources-index.ts';
import { localSource, selectSource } from './debian-select.ts';
import { breakWaitCycles, type BrokenCycles, type Wait } from './wait-cycles.ts';
import { buildConflictsFor, buildDependsFor, modeOf, profilesOf, targetArchs, waitFor } from './source-relations.ts';

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
  /** Every source of the suite's main component. */
  readonly all: boolean;
  readonly options: DebianOptions;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly timeoutMs: number | undefined;
  /** --twice: build each package a second time with variations and compare. */
  readonly twice?: boolean;
  /** Skip the dose-builddebcheck installability check. */
  readonly skipInstallability?: boolean;
  /** Only the sources' names for the env template, e.g. `bookworm-{arch}`. */
  readonly cacheDir: string;
  readonly downloads: Downloads;
  readonly keyring?: string;
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

/** The build-essential set every Debian build has (sbuild installs it too). */
const BUILD_ESSENTIAL = ['build-essential', 'fakeroot'];

/** One picked source: as Sources lists it (or made from a local .dsc). */
interface Picked {
  readonly src: SourcePackage;
  readonly raw: string;
  readonly dscPath: string | undefined;
}

/** What a buildable source needs for its spec, none of it depending on installability. */
interface Prepared {
  readonly p: Picked;
  /** The run's archs it builds for (`all` for arch-independent-only sources). */
  readonly archs: readonly string[];
  /** Its build dependencies per build arch (`all` maps to the primary arch). */
  perArch: Map<string, AltGroup[]>;
  /** Waits on this run's binaries, before cycles are broken, and the relation of each. */
  waits: Wait[];
  relationOf: Map<string, Relation>;
  spec: PackageSpec | undefined;
  /** The spec's buildDepends, filled in once cycles are broken. */
  readonly deps: AltGroup[];
}

/** Sources between two turns of the event loop in the long loops (dose's output and exit are read meanwhile). */
const CHUNK = 512;
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** dose-builddebcheck runs under way: their answers, and how long they took (wall). */
interface Checking {
  readonly runs: readonly DoseRun[];
  answers: Promise<Uninstallable[][]>;
  /** Settles once the first run has started (or the runs failed before). */
  readonly running: Promise<void>;
  /** When the first run started, and how long the runs took once done. */
  started: number;
  ms: number;
  readonly stop: () => void;
}

export async function scanDebian(req: DebianRequest): Promise<DebianScan> {
  const timings: Record<string, number> = {};
  const overlapped: string[] = [];
  let t = performance.now();
  const lap = (what: string): void => {
    const now = performance.now();
    timings[what] = Math.round((timings[what] ?? 0) + now - t);
    t = now;
  };
  const indexes = createIndexes({ cacheDir: req.cacheDir, downloads: req.downloads, ...(req.keyring === undefined ? {} : { keyring: req.keyring }) });
  const sig = req.signal === undefined ? {} : { signal: req.signal };
  const release = await indexes.release(req.mirror, req.suite, sig);
  const packagesPaths = new Map<string, string>();
  for (const arch of req.archs) packagesPaths.set(arch, await indexes.packages(release, arch, sig));
  const needSources = req.all || req.sources.length > 0;
  const sourcesPath = needSources ? await indexes.sources(release, sig) : undefined;
  lap('fetch-indexes');

  const primary = req.archs[0]!;
  const universes = new Map<string, BinaryUniverse>();
  const readPackages = async (): Promise<void> => {
    for (const [arch, path] of packagesPaths) universes.set(arch, lazyPackages(await readFile(path, 'utf8'), `${release.url} (${arch} Packages)`));
  };
  const suite: DebianSuite = {
    suite: req.suite,
    mirror: release.mirror,
    release,
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
  const dose = req.skipInstallability !== true;
  const check = (runs: readonly DoseRun[], packagesFor: (arch: string) => { text: string } | { path: string }): Checking => {
    const stop = new AbortController();
    const signal = req.signal === undefined ? stop.signal : AbortSignal.any([req.signal, stop.signal]);
    let running = (): void => undefined;
    const c: Checking = { runs, answers: Promise.resolve([]), running: new Promise((resolve) => { running = resolve; }), started: 0, ms: 0, stop: () => stop.abort() };
    // dose's own wall time, from the start of its first run (its input written) to its last answer.
    const started = (): void => {
      if (c.started === 0) c.started = performance.now();
      running();
    };
    c.answers = (async () => {
      const out: Uninstallable[][] = [];
      for (const run of runs) {
        const packages = packagesFor(run.arch);
        out.push(await checkInstallable({
          ...('path' in packages ? { packagesPath: packages.path } : { packages: packages.text }),
          sources: runSources(run),
          arch: run.arch,
          profiles: profilesOf(req.options),
          ...(run.mode === 'binary-arch' ? { drop: 'indep' as const } : run.mode === 'binary-indep' ? { drop: 'arch' as const } : {}),
          signal,
          onStart: started,
        }));
      }
      c.ms = performance.now() - c.started;
      return out;
    })();
    c.answers.finally(running).catch(() => undefined); // awaited later: never an unhandled rejection meanwhile
    return c;
  };
  // For --all dose reads the Packages files as they are.
  const wholeIndex = (arch: string): { path: string } => ({ path: packagesPaths.get(arch)! });
  let early: Checking | undefined;
  let checking: Checking | undefined;
  const during = (what: string): void => {
    lap(what);
    if (early !== undefined || checking !== undefined) overlapped.push(what);
  };

  try {
    const sourcesBytes = sourcesPath === undefined ? undefined : await readFile(sourcesPath);
    if (sourcesBytes !== undefined) lap('read-sources');
    // --all: dose starts on the runs that raw fields tell (dose-runs.ts), before the parse,
    // from the bytes read as latin1 (quicker than UTF-8, and a character is a byte).
    if (dose && req.all && req.dscs.length === 0 && sourcesBytes !== undefined) {
      const raw = lazySources(sourcesBytes.toString('latin1'), `${release.url} (Sources)`);
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
      lap('quick-select');
      if (sure) {
        // Its input written and the process started before kiln goes on.
        early = check(doseRuns(guess, req, true), wholeIndex);
        await early.running;
        lap('start-installability');
      }
    }
    let sources: LazyIndex<SourcePackage> | undefined;
    if (sourcesBytes !== undefined) {
      sources = lazySources(sourcesBytes.toString('utf8'), `${release.url} (Sources)`);
      during('decode-sources');
    }
    // Otherwise the handful's closure needs the binaries first.
    if (!req.all) {
      await readPackages();
      lap('read-packages');
    }

    const picked: Picked[] = [];
    if (sources !== undefined) {
      const names = req.all ? sources.names() : req.sources;
      let i = 0;
      for (const want of names) {
        const s = selectSource(sources, want, req, universes.get(primary));
        if (s !== undefined) picked.push(s);
        if (early !== undefined && ++i % CHUNK === 0) await breathe();
      }
    }
    for (const dsc of req.dscs) picked.push(await localSource(resolve(dsc), req.signal));
    during('select-sources');

    const seen = new Map<string, string>();
    for (const p of picked) {
      const prev = seen.get(p.src.package);
      if (prev !== undefined) {
        throw new KilnError('usage', `source package ${p.src.package} is asked for twice (${prev} and ${p.src.version})`, { hint: 'name each source once' });
      }
      seen.set(p.src.package, p.src.version);
    }

    // Which binaries this run builds, and which source builds them.
    const runBinaries = new Map<string, { source: string; version: string }>();
    for (const p of picked) for (const b of p.src.binaries) runBinaries.set(b, { source: p.src.package, version: p.src.version });

    // The sources this run can build (the rest are invalid), in the order picked.
    const invalid: InvalidPackage[] = [];
    const prepared = new Map<string, Prepared>();
    for (const p of picked) {
      const archs = targetArchs(p.src, req.archs);
      if (archs.length === 0) {
        // --all: a source for other architectures is simply not for this run (wanna-build's
        // "not-for-us"); one asked for by name is reported.
        if (req.all) continue;
        invalid.push({ name: p.src.package, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: [{ file: p.dscPath ?? `${release.url} Sources`, key: 'Architecture', message: `${p.src.package} ${p.src.version} builds for ${p.src.architecture.join(' ')}, none of ${req.archs.join(', ')}` }] });
        continue;
      }
      if (p.src.problems.length > 0) {
        invalid.push({ name: p.src.package, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: p.src.problems.map((m) => ({ file: p.dscPath ?? `${release.url} Sources`, message: m })) });
        continue;
      }
      prepared.set(p.src.package, { p, archs, perArch: new Map(), waits: [], relationOf: new Map(), spec: undefined, deps: [] });
    }
    const relations = (x: Prepared): void => {
      for (const a of x.archs) {
        const arch = a === 'all' ? primary : a;
        x.perArch.set(arch, buildDependsFor(x.p.src, arch, modeOf(x.p.src, a, req), req.options));
      }
    };

    // The runs the parsed sources call for. The early ones stand if they cover them.
    const runs = dose ? doseRuns([...prepared.values()].map((x) => ({ name: x.p.src.package, stanza: x.p.raw, architecture: x.p.src.architecture })), req) : [];
    let from: number[] | undefined;
    if (early !== undefined) {
      from = runs.length === 0 ? undefined : covers(early.runs, runs);
      if (from === undefined) {
        early.stop();
        await early.answers.catch(() => undefined);
        timings['installability-discarded'] = Math.round(early.started === 0 ? 0 : performance.now() - early.started);
        early = undefined;
      }
    }
    if (dose && early === undefined && runs.length > 0) {
      if (req.all) checking = check(runs, wholeIndex);
      else {
        // The closure handed to dose (a handful of sources) needs the relations first.
        for (const x of prepared.values()) relations(x);
        lap('relations');
        const packagesFor = closureFor([...prepared.values()], universes, runBinaries, primary);
        for (const run of runs) packagesFor(run.arch);
        lap('closure');
        checking = check(runs, packagesFor);
      }
      await checking.running;
      lap('start-installability');
    }

    if (req.all) {
      await readPackages();
      during('read-packages');
      let i = 0;
      for (const x of prepared.values()) {
        relations(x);
        if (++i % CHUNK === 0) await breathe();
      }
      during('relations');
    }

    // Waits on this run's binaries, per source.
    let i = 0;
    for (const x of prepared.values()) {
      waitsOf(x, runBinaries, universes, primary);
      if (++i % CHUNK === 0) await breathe();
    }
    during('waits');

    // Everything of each spec but its waits: what apt installs, hashes, provides.
    const extras: AltGroup[] = debianExtras(req.twice === true).map((name) => [{ name }]);
    i = 0;
    for (const x of prepared.values()) {
      x.spec = specOf(x, { req, suite, release, primary, universes, extras });
      if (++i % CHUNK === 0) await breathe();
    }
    during('keys');

    // Cycles among the waits of the sources (wait-cycles.ts): again below if dose finds
    // some of them broken.
    const waitsOfAll = new Map<string, Wait[]>();
    for (const [name, x] of prepared) waitsOfAll.set(name, x.waits);
    const fillDeps = (c: BrokenCycles): void => {
      for (const [name, x] of prepared) {
        x.deps.length = 0;
        for (const w of c.kept.get(name) ?? []) x.deps.push([x.relationOf.get(w.binary)!]);
      }
    };
    let cycles = breakWaitCycles(waitsOfAll);
    fillDeps(cycles);
    during('cycles');

    let broken = new Map<string, string[]>();
    if (early !== undefined) {
      // An early run that failed (dose refusing a stanza the parse then left out, say) is
      // run again as the parsed sources call for; that one's failure is the answer.
      const failed = await early.answers.then(() => false, () => req.signal?.aborted !== true);
      if (failed) {
        timings['installability-discarded'] = Math.round(early.started === 0 ? 0 : performance.now() - early.started);
        early = undefined;
        from = undefined;
        checking = check(runs, wholeIndex);
        t = performance.now();
      }
    }
    const used = early ?? checking;
    if (used !== undefined) {
      const answers = await used.answers;
      broken = brokenFrom(runs, from === undefined ? answers : from.map((k) => answers[k]!));
      timings['installability-wait'] = Math.round(performance.now() - t);
      timings['installability'] = Math.round(used.ms);
      t = performance.now();
    }
    if (broken.size > 0) {
      const waits = new Map<string, Wait[]>();
      for (const [name, x] of prepared) if (!broken.has(name)) waits.set(name, x.waits);
      cycles = breakWaitCycles(waits);
      fillDeps(cycles);
      lap('cycles-after');
    }

    const specs: PackageSpec[] = [];
    for (const [name, x] of prepared) {
      const why = broken.get(name);
      const spec = x.spec!;
      if (why !== undefined) {
        invalid.push({ name, dir: spec.dir, diagnostics: why.map((m) => ({ file: spec.dir, key: 'Build-Depends', message: m })) });
        continue;
      }
      specs.push(spec);
    }
    // The specs keep the universes (the build reads them); not what planning remembered.
    for (const u of universes.values()) forgetChoices(u);
    forgetParsedRelations();
    lap('specs');
    return { specs, invalid, diagnostics: [], suite, timings, overlapped, cyclesBroken: cycles.dropped };
  } catch (e) {
    early?.stop();
    checking?.stop();
    await Promise.all([early?.answers, checking?.answers].map((a) => a?.catch(() => undefined)));
    throw e;
  }
}

/**
 * What dose gets as the Packages of `arch` for a handful of sources: the binaries that can
 * take part in installing their build dependencies, plus this run's own binaries.
 */
function closureFor(prepared: readonly Prepared[], universes: ReadonlyMap<string, BinaryUniverse>, runBinaries: ReadonlyMap<string, { source: string; version: string }>, primary: string): (arch: string) => { text: string } {
  const memo = new Map<string, { text: string }>();
  return (arch) => {
    let m = memo.get(arch);
    if (m !== undefined) return m;
    const u = universes.get(arch)!;
    const roots = prepared.filter((x) => x.archs.some((a) => (a === 'all' ? primary : a) === arch)).flatMap((x) => x.perArch.get(arch)!);
    const names = closure(roots, [...u.essential(), ...BUILD_ESSENTIAL], u, arch);
    let text = [...names].flatMap((n) => u.raw(n)).join('\n\n') + '\n';
    // This run's own binaries are installable once built (their fresh .debs are offered
    // to apt); the checker learns of them as bare stanzas, dependencies unknown (not for
    // --all: the archive itself is the run there, and a bare stanza for a binary built only
    // elsewhere would hide a real problem). Every version the archive lacks.
    const fresh = [...runBinaries].filter(([b, from]) => !u.versions(b).some((p) => p.version === from.version))
      .map(([b, from]) => `Package: ${b}\nVersion: ${from.version}\nArchitecture: ${arch}\nSource: ${from.source}\n`);
    if (fresh.length > 0) text = `${text}\n${fresh.join('\n')}`;
    memo.set(arch, (m = { text }));
    return m;
  };
}

/** Fills `x.waits`: per build dependency, the binary of this run it waits for, if any (each relation once). */
function waitsOf(x: Prepared, runBinaries: ReadonlyMap<string, { source: string; version: string }>, universes: ReadonlyMap<string, BinaryUniverse>, primary: string): void {
  const self = x.p.src.package;
  // The text of the last relation kept per binary: a repeat of it is not a new wait.
  const lastKey = new Map<string, string>();
  for (const a of x.archs) {
    const arch = a === 'all' ? primary : a;
    const u = universes.get(arch)!;
    for (const g of x.perArch.get(arch)!) {
      const r = waitFor(g, self, runBinaries, u, arch);
      if (r === undefined) continue;
      const key = formatRelation(r);
      if (lastKey.get(r.name) === key) continue;
      lastKey.set(r.name, key);
      x.relationOf.set(r.name, r);
      x.waits.push({ binary: r.name, producer: runBinaries.get(r.name)!.source, archiveToo: bestCandidate(r, u, arch) !== undefined });
    }
  }
}

/** A source's spec, all but its waits: the key's inputs (what apt installs, files, options), provides. */
function specOf(x: Prepared, o: { req: DebianRequest; suite: DebianSuite; release: SuiteRelease; primary: string; universes: ReadonlyMap<string, BinaryUniverse>; extras: readonly AltGroup[] }): PackageSpec {
  const { p } = x;
  const { req, primary } = o;
  const where = p.dscPath ?? `${o.release.mirror}/${p.src.directory}/${p.src.package}_${p.src.version.replace(/^\d+:/, '')}.dsc`;
  const modeFor: Record<string, DebianBuildMode> = {};
  const chosenFor: Record<string, string[]> = {};
  for (const a of x.archs) {
    const arch = a === 'all' ? primary : a;
    modeFor[a] = modeOf(p.src, a, req);
    // What apt installs (the build dependencies and the extras every build gets) and
    // what it must remove (Build-Conflicts): all of it goes into the key.
    chosenFor[a] = [
      ...chosenKeys([...x.perArch.get(arch)!, ...o.extras], o.universes.get(arch)!, arch, formatGroup),
      ...buildConflictsFor(p.src, arch, modeFor[a]!, req.options).map((g) => `conflicts:${formatGroup(g)}`),
    ];
  }
  const provides: Provide[] = [];
  const u0 = o.universes.get(primary)!;
  for (const b of p.src.binaries) {
    provides.push({ name: b, version: p.src.version });
    for (const pr of u0.versions(b)[0]?.provides ?? []) provides.push(pr);
  }
  const files = p.src.files.map((f) => `${f.name}\0${f.sha256}\n`).sort().join('');
  const debian: DebianBuildSpec = { suite: o.suite, source: p.src, dscPath: p.dscPath, options: req.options, primaryArch: primary, modeFor, chosen: chosenFor, twice: req.twice === true };
  return {
    name: p.src.package,
    version: p.src.version,
    release: 1,
    summary: `Debian source package ${p.src.package} from ${req.suite}`,
    license: '',
    archs: x.archs,
    buildDepends: x.deps,
    depends: [],
    provides,
    sources: [],
    build: { script: '', cpus: req.cpus, memoryBytes: req.memoryBytes, timeoutMs: req.timeoutMs, silentTimeoutMs: undefined },
    dir: where,
    file: where,
    recipeHash: sha256(JSON.stringify({ kind: 'debian', files, modeFor, options: req.options, chosen: chosenFor })),
    sourcesHash: sha256(files),
    env: undefined,
    debian,
  };
}
