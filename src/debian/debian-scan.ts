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
import { basename, resolve } from 'node:path';
import type { Downloads } from '../cache/downloads.ts';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import type { Diagnostic, InvalidPackage, PackageSpec } from '../plan/spec.ts';
import { bestCandidate, chosenKeys, closure } from './binary-closure.ts';
import type { Paragraph } from './deb822.ts';
import type { DebianBuildMode, DebianBuildSpec, DebianOptions, DebianSuite } from './debian-spec.ts';
import { readLocalDsc } from './dsc.ts';
import { createIndexes, type SuiteRelease } from './indexes.ts';
import { checkInstallable, type Uninstallable } from './installability.ts';
import { lazyPackages, lazySources, rawField, type BinaryUniverse, type LazyIndex } from './lazy-index.ts';
import { archMatches, formatGroup, formatRelation, reduceGroups } from './relation.ts';
import type { AltGroup, Provide, Relation } from './relation-types.ts';
import { sourceFromParagraph, type SourcePackage } from './sources-index.ts';
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
      const extras: AltGroup[] = ['fakeroot', ...(req.twice === true ? ['faketime'] : [])].map((name) => [{ name }]);
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
  const groups = [
    ...src.buildDepends,
    ...(mode === 'binary-indep' ? [] : src.buildDependsArch),
    ...(mode === 'binary-arch' ? [] : src.buildDependsIndep),
  ];
  return reduceGroups(groups, { hostArch: arch, profiles: profilesOf(o) });
}

/** The Build-Conflicts that apply for `arch`, `mode` and the profiles (Build-Conflicts + -Arch and/or -Indep). */
export function buildConflictsFor(src: SourcePackage, arch: string, mode: DebianBuildMode, o: DebianOptions): AltGroup[] {
  const groups = [
    ...src.buildConflicts,
    ...(mode === 'binary-indep' ? [] : src.buildConflictsArch),
    ...(mode === 'binary-arch' ? [] : src.buildConflictsIndep),
  ];
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

/**
 * The source `want` names: `name=version`, or the highest version of `name` that the suite
 * builds. Stanzas marked `Extra-Source-Only: yes` (old versions kept only because some
 * binary was built from them) are never picked by name alone; with --all a source that has
 * only such stanzas is left out (undefined).
 */
function selectSource(sources: LazyIndex<SourcePackage>, want: string, req: DebianRequest, u: BinaryUniverse | undefined): { src: SourcePackage; raw: string; dscPath: undefined } | undefined {
  const eq = want.indexOf('=');
  const name = eq === -1 ? want : want.slice(0, eq);
  const version = eq === -1 ? undefined : want.slice(eq + 1);
  const list = sources.versions(name);
  // raw(name) is in index order, versions() highest first: find the stanza of a version.
  const rawOf = (v: string): string => sources.raw(name).find((r) => new RegExp(`\\nVersion: ${escapeRe(v)}\\n`).test(`\n${r}\n`)) ?? sources.raw(name)[0]!;
  const extraOnly = (v: string): boolean => rawField(rawOf(v), 'Extra-Source-Only') === 'yes';
  const src = version === undefined ? list.find((s) => !extraOnly(s.version)) : list.find((s) => s.version === version);
  if (src === undefined && version === undefined && list.length > 0) {
    if (req.all) return undefined;
    throw new KilnError('source-not-found', `${req.suite} keeps ${name} only as Extra-Source-Only (${list.map((s) => s.version).join(', ')}): it is not built there any more`, {
      hint: `name a version to build one anyway: ${name}=${list[0]!.version}`,
    });
  }
  if (src === undefined) {
    const bin = u?.versions(name)[0];
    const hint = bin !== undefined && bin.source !== name
      ? `${name} is a binary package built by source ${bin.source}: ask for ${bin.source}`
      : list.length > 0
        ? `${req.suite} has ${name} ${list.map((s) => s.version).join(', ')}`
        : `check the name; \`apt-cache showsrc ${name}\` on a ${req.suite} machine lists it if it exists`;
    throw new KilnError('source-not-found', `no source package ${want} in ${req.suite} main`, { hint });
  }
  return { src, raw: rawOf(src.version), dscPath: undefined };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A local .dsc as a Sources entry (its files are verified against it when it is read). */
async function localSource(path: string, signal: AbortSignal | undefined): Promise<{ src: SourcePackage; raw: string; dscPath: string }> {
  const fetched = await readLocalDsc(path, signal === undefined ? {} : { signal });
  const fields = new Map(fetched.dsc.fields);
  fields.set('package', fetched.dsc.source);
  fields.set('directory', '.');
  const all = [fetched.dscFile, ...fetched.files];
  fields.set('checksums-sha256', '\n' + all.map((f) => ` ${f.sha256} ${f.size} ${f.name}`).join('\n'));
  const paragraph: Paragraph = { fields, line: 1 } as unknown as Paragraph;
  const src = sourceFromParagraph(paragraph, path);
  const keep = ['Package', 'Version', 'Architecture', 'Build-Depends', 'Build-Depends-Arch', 'Build-Depends-Indep', 'Build-Conflicts', 'Build-Conflicts-Arch', 'Build-Conflicts-Indep'];
  const raw = keep.flatMap((k) => {
    const v = fields.get(k.toLowerCase());
    return v === undefined ? [] : [`${k}: ${v.replace(/\n/g, '\n ').trim()}`];
  }).join('\n');
  return { src, raw, dscPath: basename(path) === '' ? path : path };
}
