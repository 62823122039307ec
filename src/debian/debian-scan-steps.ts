// The per-source steps of scanning Debian sources (debian-scan.ts runs them in order):
// pick each source once, keep those this run can build, work out their build
// dependencies, waits on this run's binaries and specs, break the waits' cycles, and the
// Packages dose-builddebcheck gets for a handful of sources. No I/O, no dose.

import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import type { InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { bestCandidate, chosenKeys, closure } from './binary-closure.ts';
import type { DebianRequest } from './debian-scan.ts';
import type { DebianBuildMode, DebianBuildSpec, DebianSuite } from './debian-spec.ts';
import type { SuiteRelease } from './indexes.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import { formatGroup, formatRelation } from './relation.ts';
import type { AltGroup, Provide, Relation } from './relation-types.ts';
import type { SourcePackage } from './sources-index.ts';
import { breakWaitCycles, type BrokenCycles, type Wait } from './wait-cycles.ts';
import { buildConflictsFor, buildDependsFor, modeOf, targetArchs, waitFor } from './source-relations.ts';
import { keyOptions } from './key-options.ts';
import { extraArchsOf, extraPackagesKey, usableExtraPackages } from './extra-package-use.ts';
import { jobsMode } from './dose-runs.ts';
import { builtinDefaults } from '../recipes/recipe-defaults.ts';
import { crossChosen, crossClosure, crossStanzas, crossToolchain, isCrossJob, jobOptions } from './cross.ts';

/** The build-essential set every Debian build has (sbuild installs it too). */
const BUILD_ESSENTIAL = ['build-essential', 'fakeroot'];

/** One picked source: as Sources lists it (or made from a local .dsc). */
export interface Picked {
  readonly src: SourcePackage;
  readonly raw: string;
  readonly dscPath: string | undefined;
  /** The archive component it was found in (the first of the run's that has it); undefined for a local .dsc. */
  readonly component?: string;
}

/** What a buildable source needs for its spec, none of it depending on installability. */
export interface Prepared {
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

/** Fails if a source package is asked for twice. */
export function checkOnce(picked: readonly Picked[]): void {
  const seen = new Map<string, string>();
  for (const p of picked) {
    const prev = seen.get(p.src.package);
    if (prev !== undefined) {
      throw new KilnError('usage', `source package ${p.src.package} is asked for twice (${prev} and ${p.src.version})`, { hint: 'name each source once' });
    }
    seen.set(p.src.package, p.src.version);
  }
}

/** Which binaries this run builds, and which source builds them. */
export function runBinariesOf(picked: readonly Picked[]): Map<string, { source: string; version: string }> {
  const runBinaries = new Map<string, { source: string; version: string }>();
  for (const p of picked) for (const b of p.src.binaries) runBinaries.set(b, { source: p.src.package, version: p.src.version });
  return runBinaries;
}

/** The sources this run can build (the rest are invalid), in the order picked. */
export function prepare(req: DebianRequest, release: SuiteRelease, picked: readonly Picked[]): { invalid: InvalidPackage[]; prepared: Map<string, Prepared> } {
  const invalid: InvalidPackage[] = [];
  const prepared = new Map<string, Prepared>();
  for (const p of picked) {
    const archs = targetArchs(p.src, req.archs, jobsMode(req.options));
    if (archs.length === 0) {
      // --all: a source for other architectures is simply not for this run (wanna-build's
      // "not-for-us"); one asked for by name is reported.
      if (req.all) continue;
      const words = p.src.architecture.join(' ');
      const message = req.options.mode === 'binary-indep' && targetArchs(p.src, req.archs).length > 0
        ? `${p.src.package} ${p.src.version} builds no arch-independent package (Architecture: ${words}): --binary-indep leaves nothing of it to build`
        : req.options.mode === 'binary-arch' && targetArchs(p.src, req.archs).length > 0
          ? `${p.src.package} ${p.src.version} builds no package for ${req.archs.join(', ')} (Architecture: ${words}): --binary-arch leaves nothing of it to build`
          : `${p.src.package} ${p.src.version} builds for ${words}, none of ${req.archs.join(', ')}`;
      invalid.push({ name: p.src.package, version: p.src.version, debian: true, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: [{ file: p.dscPath ?? `${release.url} Sources`, key: 'Architecture', message }] });
      continue;
    }
    if (p.src.problems.length > 0) {
      invalid.push({ name: p.src.package, version: p.src.version, debian: true, dir: p.dscPath ?? `${release.mirror}/${p.src.directory}`, diagnostics: p.src.problems.map((m) => ({ file: p.dscPath ?? `${release.url} Sources`, message: m })) });
      continue;
    }
    prepared.set(p.src.package, { p, archs, perArch: new Map(), waits: [], relationOf: new Map(), spec: undefined, deps: [] });
  }
  return { invalid, prepared };
}

/** Fills `x.perArch`: the source's build dependencies per build arch. */
export function relations(x: Prepared, req: DebianRequest, primary: string): void {
  for (const a of x.archs) {
    const arch = a === 'all' ? primary : a;
    x.perArch.set(arch, buildDependsFor(x.p.src, arch, modeOf(x.p.src, a, req), jobOptions(req.options, isCrossJob(req.cross, a))));
  }
}

/** --cross: refuses an arch the build arch has no cross toolchain for (no crossbuild-essential-ARCH in its index). */
export function checkCrossToolchains(req: Pick<DebianRequest, 'suite' | 'archs' | 'cross' | 'origin'>, universes: ReadonlyMap<string, BinaryUniverse>): void {
  const cross = req.cross;
  if (cross === undefined) return;
  const u = universes.get(cross)!;
  const lacking = req.archs.filter((a) => isCrossJob(cross, a) && u.versions(crossToolchain(a)).length === 0);
  if (lacking.length === 0) return;
  const where = req.origin?.cross ?? { code: 'usage' as const, where: '--cross' };
  throw new KilnError(where.code, `${where.where}: ${req.suite} has no cross toolchain from ${cross} for ${lacking.join(', ')} (no ${lacking.map(crossToolchain).join(', ')} in its ${cross} Packages)`, {
    hint: `build ${lacking.length === 1 ? 'that arch' : 'those archs'} natively, under QEMU, in a run without --cross`,
  });
}

/** Breaks the cycles among the waits of the sources not `broken` and fills each spec's buildDepends with the waits kept. */
export function breakCycles(prepared: ReadonlyMap<string, Prepared>, broken: ReadonlyMap<string, string[]>): BrokenCycles {
  const waits = new Map<string, Wait[]>();
  for (const [name, x] of prepared) if (!broken.has(name)) waits.set(name, x.waits);
  const cycles = breakWaitCycles(waits);
  for (const [name, x] of prepared) {
    x.deps.length = 0;
    for (const w of cycles.kept.get(name) ?? []) x.deps.push([x.relationOf.get(w.binary)!]);
  }
  return cycles;
}

/** The specs of the sources dose did not find broken; the broken ones go to `invalid`. */
export function keepInstallable(prepared: ReadonlyMap<string, Prepared>, broken: ReadonlyMap<string, string[]>, invalid: InvalidPackage[]): PackageSpec[] {
  const specs: PackageSpec[] = [];
  for (const [name, x] of prepared) {
    const why = broken.get(name);
    const spec = x.spec!;
    if (why !== undefined) {
      invalid.push({ name, version: spec.version, debian: true, dir: spec.dir, diagnostics: why.map((m) => ({ file: spec.dir, key: 'Build-Depends', message: m })) });
      continue;
    }
    specs.push(spec);
  }
  return specs;
}

/**
 * What dose gets as the Packages of `arch` for a handful of sources: the binaries that can
 * take part in installing their build dependencies, plus this run's own binaries.
 */
export function closureFor(prepared: readonly Prepared[], universes: ReadonlyMap<string, BinaryUniverse>, runBinaries: ReadonlyMap<string, { source: string; version: string }>, primary: string, cross?: string): (arch: string) => { text: string } {
  const memo = new Map<string, { text: string }>();
  return (arch) => {
    let m = memo.get(arch);
    if (m !== undefined) return m;
    const u = universes.get(arch)!;
    const roots = prepared.filter((x) => x.archs.some((a) => (a === 'all' ? primary : a) === arch)).flatMap((x) => x.perArch.get(arch)!);
    let text: string;
    if (isCrossJob(cross, arch)) {
      // Both archs' binaries: dose resolves the host arch's build dependencies and the build arch's tools (cross.ts).
      const both = crossClosure({ roots, extras: BUILD_ESSENTIAL, build: { arch: cross, universe: universes.get(cross)! }, host: { arch, universe: u } });
      text = crossStanzas(both, universes.get(cross)!, u).join('\n\n') + '\n';
    } else {
      const names = closure(roots, [...u.essential(), ...BUILD_ESSENTIAL], u, arch);
      text = [...names].flatMap((n) => u.raw(n)).join('\n\n') + '\n';
    }
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
export function waitsOf(x: Prepared, runBinaries: ReadonlyMap<string, { source: string; version: string }>, universes: ReadonlyMap<string, BinaryUniverse>, primary: string): void {
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
export function specOf(x: Prepared, o: { req: DebianRequest; suite: DebianSuite; release: SuiteRelease; primary: string; universes: ReadonlyMap<string, BinaryUniverse>; extras: readonly AltGroup[] }): PackageSpec {
  const { p } = x;
  const { req, primary } = o;
  const where = p.dscPath ?? `${o.release.mirror}/${p.src.directory}/${p.src.package}_${p.src.version.replace(/^\d+:/, '')}.dsc`;
  const modeFor: Record<string, DebianBuildMode> = {};
  const chosenFor: Record<string, string[]> = {};
  for (const a of x.archs) {
    const arch = a === 'all' ? primary : a;
    modeFor[a] = modeOf(p.src, a, req);
    const crossJob = isCrossJob(req.cross, a);
    // What apt installs (the build dependencies and the extras every build gets) and
    // what it must remove (Build-Conflicts): all of it goes into the key.
    const installs = crossJob
      ? crossChosen({ roots: x.perArch.get(arch)!, extras: o.extras.map((g) => g[0]!.name), build: { arch: req.cross!, universe: o.universes.get(req.cross!)! }, host: { arch, universe: o.universes.get(arch)! }, format: formatGroup })
      : chosenKeys([...x.perArch.get(arch)!, ...o.extras], o.universes.get(arch)!, arch, formatGroup);
    chosenFor[a] = [...installs, ...buildConflictsFor(p.src, arch, modeFor[a]!, jobOptions(req.options, crossJob)).map((g) => `conflicts:${formatGroup(g)}`)];
  }
  const provides: Provide[] = [];
  const u0 = o.universes.get(primary)!;
  for (const b of p.src.binaries) {
    provides.push({ name: b, version: p.src.version });
    for (const pr of u0.versions(b)[0]?.provides ?? []) provides.push(pr);
  }
  const files = p.src.files.map((f) => `${f.name}\0${f.sha256}\n`).sort().join('');
  // --extra-package: each job's key takes every extra .deb it could install, by sha256
  // (extra-package-use.ts); absent without any, so that other keys stay as they were.
  const extraOf = (a: string): { extraPackages?: string[] } => {
    const list = usableExtraPackages(o.suite.extraPackages ?? [], extraArchsOf({ primaryArch: primary, cross: req.cross }, a));
    return list.length === 0 ? {} : { extraPackages: extraPackagesKey(list) };
  };
  const extraAll = Object.keys(modeFor).map(extraOf).flatMap((e) => e.extraPackages ?? []);
  const debian: DebianBuildSpec = { suite: o.suite, source: p.src, dscPath: p.dscPath, ...(p.component === undefined ? {} : { component: p.component }), options: req.options, primaryArch: primary, modeFor, chosen: chosenFor, twice: req.twice === true, ...(req.tryInstall === true ? { tryInstall: true } : {}), ...(req.autopkgtest === true ? { autopkgtest: true } : {}), ...(req.cross === undefined ? {} : { cross: req.cross }) };
  return {
    name: p.src.package,
    version: p.src.version,
    release: 1,
    summary: `Debian source package ${p.src.package} from ${req.suite}${p.component === undefined ? '' : ` ${p.component}`}`,
    license: '',
    archs: x.archs,
    buildDepends: x.deps,
    depends: [],
    provides,
    sources: [],
    // A hung test suite is ended after the default silence (2 h), as a recipe's build is.
    build: { script: '', cpus: req.cpus, memoryBytes: req.memoryBytes, timeoutMs: req.timeoutMs, silentTimeoutMs: builtinDefaults.silentTimeoutMs, ...(req.loopTimeoutMs === undefined ? {} : { loopTimeoutMs: req.loopTimeoutMs }) },
    dir: where,
    file: where,
    recipeHash: sha256(JSON.stringify({ kind: 'debian', files, modeFor, options: keyOptions(req.options), chosen: chosenFor, ...(extraAll.length === 0 ? {} : { extraPackages: [...new Set(extraAll)].sort() }) })),
    // Each arch's node is keyed by its own mode and resolution: adding riscv64 to a run
    // leaves what was built for amd64 up to date.
    recipeHashByArch: Object.fromEntries(Object.keys(modeFor).map((a) => [a, sha256(JSON.stringify({ kind: 'debian', files, mode: modeFor[a], options: keyOptions(req.options), chosen: chosenFor[a], ...extraOf(a) }))])),
    sourcesHash: sha256(files),
    env: undefined,
    debian,
  };
}

/**
 * Sources whose binNMU version (VERSION+bN) a binary of theirs already has in the suite's
 * index, for an arch the run builds it for, with what to say; empty without --binnmu.
 */
export function binnmuClashes(req: DebianRequest, prepared: ReadonlyMap<string, Prepared>, universes: ReadonlyMap<string, BinaryUniverse>, suite: string): Map<string, string> {
  const out = new Map<string, string>();
  const n = req.options.binnmu;
  if (n === undefined) return out;
  for (const [name, x] of prepared) {
    const version = `${x.p.src.version}+b${n}`;
    for (const arch of x.archs) {
      const u = arch === 'all' ? undefined : universes.get(arch);
      const hit = u === undefined ? undefined : x.p.src.binaries.find((b) => u.versions(b).some((v) => v.version === version && v.source === name));
      if (hit === undefined) continue;
      out.set(name, `the binNMU ${version} is already in ${suite}'s archive (${hit} on ${arch}): a rebuild under that version would be a second file under one version (apt: hash sum mismatch); give the next number, --binnmu ${n + 1} (or binnmu = ${n + 1} in debian.toml)`);
      break;
    }
  }
  return out;
}
