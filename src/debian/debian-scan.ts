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
// `broken`, naming the failing relation.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import type { Diagnostic, InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { bestCandidate, chosenKeys, closure } from './binary-closure.ts';
import { debianExtras, type DebianBuildMode, type DebianBuildSpec, type DebianOptions, type DebianSuite } from './debian-spec.ts';
import { createIndexes, type SuiteRelease } from './indexes.ts';
import { checkInstallable, type Uninstallable } from './installability.ts';
import { lazyPackages, lazySources, type BinaryUniverse } from './lazy-index.ts';
import { archMatches, formatGroup, formatRelation, reduceGroups } from './relation.ts';
import type { AltGroup, Provide, Relation } from './relation-types.ts';
import type { SourcePackage } from './sources-index.ts';
import { localSource, selectSource } from './debian-select.ts';
import { satisfiesConstraint } from './version.ts';
import { breakWaitCycles, type Wait } from './wait-cycles.ts';

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
  /** Milliseconds spent in each step (for `kiln plan --timings` and the bench). */
  readonly timings: Readonly<Record<string, number>>;
}

/** The build-essential set every Debian build has (sbuild installs it too). */
const BUILD_ESSENTIAL = ['build-essential', 'fakeroot'];

export async function scanDebian(req: DebianRequest): Promise<DebianScan> {
  const timings: Record<string, number> = {};
  let t = Date.now();
  const lap = (what: string): void => {
    const now = Date.now();
    timings[what] = (timings[what] ?? 0) + now - t;
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

  const universes = new Map<string, BinaryUniverse>();
  const packagesText = new Map<string, string>();
  for (const [arch, path] of packagesPaths) {
    const text = await readFile(path, 'utf8');
    packagesText.set(arch, text);
    universes.set(arch, lazyPackages(text, `${release.url} (${arch} Packages)`));
  }
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
  lap('read-packages');

  const picked: { src: SourcePackage; raw: string; dscPath: string | undefined }[] = [];
  if (sourcesPath !== undefined) {
    const sources = lazySources(await readFile(sourcesPath, 'utf8'), `${release.url} (Sources)`);
    const names = req.all ? sources.names() : req.sources;
    for (const want of names) {
      const s = selectSource(sources, want, req, universes.get(req.archs[0]!));
      if (s !== undefined) picked.push(s);
    }
  }
  for (const dsc of req.dscs) picked.push(await localSource(resolve(dsc), req.signal));
  lap('select-sources');

  const seen = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  for (const p of picked) {
    const prev = seen.get(p.src.package);
    if (prev !== undefined) {
      throw new KilnError('usage', `source package ${p.src.package} is asked for twice (${prev} and ${p.src.version})`, { hint: 'name each source once' });
    }
    seen.set(p.src.package, p.src.version);
  }

  // Which binaries this run builds, and which source builds them.
  const primary = req.archs[0]!;
  const runBinaries = new Map<string, { source: string; version: string }>();
  for (const p of picked) for (const b of p.src.binaries) runBinaries.set(b, { source: p.src.package, version: p.src.version });

  const invalid: InvalidPackage[] = [];
  const specs: PackageSpec[] = [];
  const broken = new Map<string, string[]>();
  const rootsFor = new Map<string, Map<string, AltGroup[]>>();
  for (const p of picked) {
    const problems = [...p.src.problems];
    const archs = targetArchs(p.src, req.archs);
    if (archs.length === 0) {
      // --all: a source for other architectures is simply not for this run (wanna-build's
      // "not-for-us"); one asked for by name is reported.
      if (req.all) continue;
      invalid.push({ name: p.src.package, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: [{ file: p.dscPath ?? `${release.url} Sources`, key: 'Architecture', message: `${p.src.package} ${p.src.version} builds for ${p.src.architecture.join(' ')}, none of ${req.archs.join(', ')}` }] });
      continue;
    }
    if (problems.length > 0) {
      invalid.push({ name: p.src.package, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: problems.map((m) => ({ file: p.dscPath ?? `${release.url} Sources`, message: m })) });
      continue;
    }
    const perArch = new Map<string, AltGroup[]>();
    for (const a of archs) {
      const arch = a === 'all' ? primary : a;
      perArch.set(arch, buildDependsFor(p.src, arch, modeOf(p.src, a, req), req.options));
    }
    rootsFor.set(p.src.package, perArch);
  }
  lap('relations');

  // Installability, per arch, over the sub-universe that can take part.
  if (req.skipInstallability !== true) {
    for (const arch of req.archs) {
      const u = universes.get(arch)!;
      const mine = picked.filter((p) => rootsFor.get(p.src.package)?.has(arch) === true);
      if (mine.length === 0) continue;
      let packages: string;
      if (req.all) packages = packagesText.get(arch)!;
      else {
        const roots = mine.flatMap((p) => rootsFor.get(p.src.package)!.get(arch)!);
        const names = closure(roots, [...u.essential(), ...BUILD_ESSENTIAL], u, arch);
        packages = [...names].flatMap((n) => u.raw(n)).join('\n\n') + '\n';
      }
      // This run's own binaries are installable once built (their fresh .debs are offered
      // to apt); the checker learns of them as bare stanzas, dependencies unknown.
      // Not for --all (the archive itself is the run there: a bare stanza for a binary built
      // only elsewhere would hide a real problem); otherwise every version the archive lacks.
      const fresh = req.all ? [] : [...runBinaries].filter(([b, from]) => !u.versions(b).some((p) => p.version === from.version))
        .map(([b, from]) => `Package: ${b}\nVersion: ${from.version}\nArchitecture: ${arch}\nSource: ${from.source}\n`);
      if (fresh.length > 0) packages = `${packages}\n${fresh.join('\n')}`;
      // One check per build mode: a -B build needs no Build-Depends-Indep, a -A build no
      // Build-Depends-Arch (dose is told to drop them, as Debian's buildds do).
      const found: Uninstallable[] = [];
      for (const mode of ['binary', 'binary-arch', 'binary-indep'] as const) {
        const group = mine.filter((p) => modeOf(p.src, targetArchs(p.src, req.archs).includes(arch) ? arch : 'all', req) === mode);
        if (group.length === 0) continue;
        found.push(...await checkInstallable({
          packages,
          sources: group.map((p) => p.raw).join('\n\n') + '\n',
          arch,
          profiles: profilesOf(req.options),
          ...(mode === 'binary-arch' ? { drop: 'indep' as const } : mode === 'binary-indep' ? { drop: 'arch' as const } : {}),
          ...sig,
        }));
      }
      for (const f of found) {
        const list = broken.get(f.source) ?? [];
        list.push(`${arch}: build dependencies not installable: ${f.reason}`);
        broken.set(f.source, list);
      }
    }
    lap('installability');
  }

  // Waits on this run's binaries, per source; cycles among them are broken where the
  // archive can stand in (wait-cycles.ts).
  const waitsOf = new Map<string, Wait[]>();
  const relationOf = new Map<string, Relation>();
  for (const p of picked) {
    const perArch = rootsFor.get(p.src.package);
    if (perArch === undefined || broken.has(p.src.package)) continue;
    const list: Wait[] = [];
    for (const a of targetArchs(p.src, req.archs)) {
      const arch = a === 'all' ? primary : a;
      const u = universes.get(arch)!;
      for (const g of perArch.get(arch)!) {
        const r = waitFor(g, p.src.package, runBinaries, u, arch);
        if (r === undefined) continue;
        const key = formatRelation(r);
        if (list.some((x) => formatRelation(relationOf.get(`${p.src.package}\0${x.binary}`)!) === key)) continue;
        relationOf.set(`${p.src.package}\0${r.name}`, r);
        list.push({ binary: r.name, producer: runBinaries.get(r.name)!.source, archiveToo: bestCandidate(r, u, arch) !== undefined });
      }
    }
    waitsOf.set(p.src.package, list);
  }
  const cycles = breakWaitCycles(waitsOf);
  lap('waits');

  for (const p of picked) {
    const perArch = rootsFor.get(p.src.package);
    if (perArch === undefined) continue;
    const why = broken.get(p.src.package);
    const where = p.dscPath ?? `${release.mirror}/${p.src.directory}/${p.src.package}_${p.src.version.replace(/^\d+:/, '')}.dsc`;
    if (why !== undefined) {
      invalid.push({ name: p.src.package, dir: where, diagnostics: why.map((m) => ({ file: where, key: 'Build-Depends', message: m })) });
      continue;
    }
    const archs = targetArchs(p.src, req.archs);
    const modeFor: Record<string, DebianBuildMode> = {};
    const chosenFor: Record<string, string[]> = {};
    const waits: AltGroup[] = (cycles.kept.get(p.src.package) ?? []).map((w) => [relationOf.get(`${p.src.package}\0${w.binary}`)!]);
    for (const a of archs) {
      const arch = a === 'all' ? primary : a;
      modeFor[a] = modeOf(p.src, a, req);
      // What apt installs (the build dependencies and the extras every build gets) and
      // what it must remove (Build-Conflicts): all of it goes into the key.
      const extras: AltGroup[] = debianExtras(req.twice === true).map((name) => [{ name }]);
      chosenFor[a] = [
        ...chosenKeys([...perArch.get(arch)!, ...extras], universes.get(arch)!, arch, formatGroup),
        ...buildConflictsFor(p.src, arch, modeFor[a]!, req.options).map((g) => `conflicts:${formatGroup(g)}`),
      ];
    }
    const provides: Provide[] = [];
    const u0 = universes.get(primary)!;
    for (const b of p.src.binaries) {
      provides.push({ name: b, version: p.src.version });
      for (const pr of u0.versions(b)[0]?.provides ?? []) provides.push(pr);
    }
    const files = p.src.files.map((f) => `${f.name}\0${f.sha256}\n`).sort().join('');
    const debian: DebianBuildSpec = { suite, source: p.src, dscPath: p.dscPath, options: req.options, primaryArch: primary, modeFor, chosen: chosenFor, twice: req.twice === true };
    specs.push({
      name: p.src.package,
      version: p.src.version,
      release: 1,
      summary: `Debian source package ${p.src.package} from ${req.suite}`,
      license: '',
      archs,
      buildDepends: waits,
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
    });
  }
  lap('specs');
  return { specs, invalid, diagnostics, suite, timings, cyclesBroken: cycles.dropped };
}

function profilesOf(o: DebianOptions): string[] {
  return [...new Set([...o.profiles, ...(o.nocheck ? ['nocheck'] : [])])];
}

/** The archs of this run a source builds for: `all` when it builds only arch-independent packages. */
export function targetArchs(src: SourcePackage, archs: readonly string[]): string[] {
  const words = src.architecture;
  const indepOnly = words.length > 0 && words.every((w) => w === 'all');
  if (indepOnly) return ['all'];
  const matching = archs.filter((a) => words.some((w) => w !== 'all' && archMatches(a, w)));
  // `i386 all` on amd64: the arch-independent part is still built here (as buildds do).
  if (matching.length === 0 && words.includes('all')) return ['all'];
  return matching;
}

/** -b on the primary arch (arch and indep packages), -B elsewhere; -A for arch-all-only sources. */
export function modeOf(src: SourcePackage, arch: string, req: { archs: readonly string[]; options: DebianOptions }): DebianBuildMode {
  if (arch === 'all') return 'binary-indep';
  if (req.options.mode !== 'binary') return req.options.mode;
  const hasIndep = src.architecture.includes('all');
  // -b on the first arch of the run that builds the source (not always the run's first).
  return hasIndep && arch === targetArchs(src, req.archs)[0] ? 'binary' : 'binary-arch';
}

/** The build dependencies that apply for `arch`, `mode` and the profiles (Build-Depends + -Arch and/or -Indep). */
export function buildDependsFor(src: SourcePackage, arch: string, mode: DebianBuildMode, o: DebianOptions): AltGroup[] {
  return applying([src.buildDepends, src.buildDependsArch, src.buildDependsIndep], arch, mode, o);
}

/** The Build-Conflicts that apply for `arch`, `mode` and the profiles (Build-Conflicts + -Arch and/or -Indep). */
export function buildConflictsFor(src: SourcePackage, arch: string, mode: DebianBuildMode, o: DebianOptions): AltGroup[] {
  return applying([src.buildConflicts, src.buildConflictsArch, src.buildConflictsIndep], arch, mode, o);
}

/** The common field, plus its -Arch part unless the build is -A and its -Indep part unless it is -B, reduced for arch and profiles. */
function applying([common, archPart, indepPart]: readonly [readonly AltGroup[], readonly AltGroup[], readonly AltGroup[]], arch: string, mode: DebianBuildMode, o: DebianOptions): AltGroup[] {
  const groups = [...common, ...(mode === 'binary-indep' ? [] : archPart), ...(mode === 'binary-arch' ? [] : indepPart)];
  return reduceGroups(groups, { hostArch: arch, profiles: profilesOf(o) });
}

/**
 * The relation of `g` that makes the source wait for a binary of this run: the first
 * alternative that anything satisfies, when that is one of this run's binaries (of
 * another source, at a version that meets the constraint).
 */
export function waitFor(
  g: AltGroup,
  self: string,
  run: ReadonlyMap<string, { source: string; version: string }>,
  u: BinaryUniverse,
  arch: string,
): Relation | undefined {
  for (const r of g) {
    const mine = run.get(r.name);
    if (mine !== undefined && mine.source !== self) {
      if (r.constraint === undefined || satisfiesConstraint(mine.version, r.constraint.op, r.constraint.version)) return { name: r.name, ...(r.constraint === undefined ? {} : { constraint: r.constraint }) };
    }
    // The archive satisfies it (for own binaries too: apt installs the archive's): no wait.
    if (bestCandidate(r, u, arch) !== undefined) return undefined;
  }
  return undefined;
}
