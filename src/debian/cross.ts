// Cross-building Debian source packages (--cross, debian.toml's `cross = true`): a job for
// an arch other than the machine's own builds in the env of the machine's arch (the build
// arch), with its compilers, as sbuild --host=ARCH does:
//
//   apt      dpkg --add-architecture HOST; the build dependencies for the host arch
//            (`apt-get build-dep -a HOST --arch-only -P cross,nocheck`; Multi-Arch: foreign tools
//            come from the build arch), plus crossbuild-essential-HOST (build arch), the
//            host arch's libc and libstdc++ headers, and fakeroot
//   build    dpkg-buildpackage -a HOST -B with the `cross` and `nocheck` profiles: the
//            architecture-dependent packages only (the arch-independent ones come from a
//            native build: add the build arch to the run's archs to build them too)
//
// Pure: which jobs cross, the profiles and mode they get, the binaries apt may need from
// either arch, and what of them goes into the input key.

import type { AltGroup } from './relation-types.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import { bestCandidate, chosenKeys, closure } from './binary-closure.ts';
import type { DebianBuildMode, DebianOptions } from './debian-spec.ts';
import { archMatches } from './relation.ts';

/** Whether a job for `arch` cross-builds from `cross` (the build arch; undefined: no --cross). */
export function isCrossJob(cross: string | undefined, arch: string): cross is string {
  return cross !== undefined && arch !== 'all' && arch !== cross;
}

/** The arch a run builds arch-independent (`all`) packages on: the build arch with --cross, else the first arch. */
export function indepArchOf(req: { readonly archs: readonly string[]; readonly cross?: string | undefined }): string {
  return req.cross ?? req.archs[0]!;
}

/**
 * The sources of a --cross run whose Architecture: all packages no job builds: the run asks
 * for whole builds (-b), but every job of theirs builds with -B (a cross job; a native
 * one only where another native job has -b). `modes` are the source's jobs' modes, `words`
 * its Architecture field. Each is told what would build them (crossIndepNote): adding the
 * build arch to the run when the source builds for it, else a run without --cross.
 */
export function indepNotBuilt(
  sources: readonly { readonly name: string; readonly words: readonly string[]; readonly modes: readonly DebianBuildMode[] }[],
  o: { readonly cross: string; readonly mode: DebianBuildMode },
): { readonly addBuildArch: string[]; readonly withoutCross: string[] } {
  const addBuildArch: string[] = [];
  const withoutCross: string[] = [];
  if (o.mode !== 'binary') return { addBuildArch, withoutCross };
  for (const x of sources) {
    if (!x.words.includes('all') || x.modes.length === 0 || x.modes.some((m) => m !== 'binary-arch')) continue;
    (x.words.some((w) => w !== 'all' && archMatches(o.cross, w)) ? addBuildArch : withoutCross).push(x.name);
  }
  return { addBuildArch: addBuildArch.sort(), withoutCross: withoutCross.sort() };
}

/** What a run says of indepNotBuilt's sources, with how to build their arch-independent packages too (one line per kind). */
export function crossIndepNote(left: ReturnType<typeof indepNotBuilt>, o: { readonly cross: string; readonly runArchs: readonly string[] }): string[] {
  const shown = (names: readonly string[]): string => (names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`);
  const what = (names: readonly string[]): string => `--cross: the Architecture: all packages of ${shown(names)} are not built in this run (a cross build makes the architecture-dependent ones only, -B)`;
  const notes: string[] = [];
  if (left.addBuildArch.length > 0) {
    notes.push(`${what(left.addBuildArch)}; add ${o.cross} to the run's archs (--arch ${[o.cross, ...o.runArchs.filter((a) => a !== o.cross)].join(',')}, or debian.toml's archs): its native build makes them`);
  }
  if (left.withoutCross.length > 0) {
    notes.push(`${what(left.withoutCross)}; they build nothing for ${o.cross}, where a native build would make them: build them in a run without --cross`);
  }
  return notes;
}

/** The archs a run needs Packages indexes of: its own, and the build arch with --cross. */
export function indexArchsOf(req: { readonly archs: readonly string[]; readonly cross?: string | undefined }): string[] {
  return req.cross === undefined || req.archs.includes(req.cross) ? [...req.archs] : [...req.archs, req.cross];
}

/** A cross job's mode: -B where a native one would be -b (the arch-independent half is native work). */
export function crossMode(mode: DebianBuildMode): DebianBuildMode {
  return mode === 'binary' ? 'binary-arch' : mode;
}

/**
 * The options of a job: the run's, and for a cross job the `cross` and `nocheck` profiles
 * with DEB_BUILD_OPTIONS=nocheck, as sbuild cross-builds (the test suite's programs are
 * the host arch's: they do not run on the build machine).
 */
export function jobOptions(o: DebianOptions, crossJob: boolean): DebianOptions {
  if (!crossJob) return o;
  return { ...o, nocheck: true, profiles: [...new Set([...o.profiles, 'cross', 'nocheck'])] };
}

/** What a cross build installs for the host arch besides its build dependencies (virtual names: libc6-dev, libstdc++-12-dev provide them). */
const HOST_HEADERS = ['libc-dev', 'libstdc++-dev'];

/** The package that brings a cross toolchain for `host` (gcc, g++, dpkg-cross), of the build arch. */
export function crossToolchain(host: string): string {
  return `crossbuild-essential-${host}`;
}

/** What a cross build installs besides its build dependencies, as relations apt-get satisfy reads (-a HOST). */
export function crossExtras(host: string, extras: readonly string[]): string[] {
  return [`${crossToolchain(host)}:native`, ...HOST_HEADERS, ...extras.map((e) => `${e}:native`)];
}

interface ArchUniverse {
  readonly arch: string;
  readonly universe: BinaryUniverse;
}

/**
 * The binaries a cross build's apt may need, per arch: the host arch's closure of the
 * build dependencies and the host libc/libstdc++; the build arch's closure of its
 * essential set, build-essential, the cross toolchain, the extras, and every name of the
 * host closure (a Multi-Arch: foreign dependency is satisfied by the build arch's package).
 */
export function crossClosure(o: { roots: readonly AltGroup[]; extras: readonly string[]; build: ArchUniverse; host: ArchUniverse }): { build: Set<string>; host: Set<string> } {
  // As relations: closure follows a virtual name (libc-dev) to its providers.
  const host = closure([...o.roots, ...HOST_HEADERS.map((name) => [{ name }])], [], o.host.universe, o.host.arch);
  const build = closure(o.roots, [...o.build.universe.essential(), 'build-essential', crossToolchain(o.host.arch), ...o.extras, ...host], o.build.universe, o.build.arch);
  return { build, host };
}

/**
 * The stanzas of a cross closure: the build arch's, then the host arch's that are not
 * `Architecture: all` (those are in both indexes, and once is enough).
 */
export function crossStanzas(both: { build: ReadonlySet<string>; host: ReadonlySet<string> }, build: BinaryUniverse, host: BinaryUniverse): string[] {
  return [
    ...[...both.build].flatMap((n) => build.raw(n)),
    ...[...both.host].flatMap((n) => host.raw(n).filter((st) => !/^Architecture: all$/m.test(st))),
  ];
}

/**
 * The input key's part of what a cross build installs, each as the arch apt installs it
 * from resolves it: the build dependencies and the host libc/libstdc++ for the host arch;
 * the tools (a `:native` relation, or one whose package is Multi-Arch: foreign, as
 * pkgconf or cmake), the cross toolchain and the extras for the build arch (tagged
 * `build:`); and the build arch itself.
 */
export function crossChosen(o: { roots: readonly AltGroup[]; extras: readonly string[]; build: ArchUniverse; host: ArchUniverse; format: (g: AltGroup) => string }): string[] {
  const hostRoots: AltGroup[] = HOST_HEADERS.map((name) => [{ name }]);
  const buildRoots: AltGroup[] = [[{ name: crossToolchain(o.host.arch) }], ...o.extras.map((name) => [{ name }])];
  for (const g of o.roots) (isTool(g, o.host) ? buildRoots : hostRoots).push(g);
  const hostPart = chosenKeys(hostRoots, o.host.universe, o.host.arch, o.format);
  const buildPart = chosenKeys(buildRoots, o.build.universe, o.build.arch, o.format).map((k) => `build:${k}`);
  return [`cross-from:${o.build.arch}`, ...hostPart, ...buildPart];
}

/** Whether apt installs a build dependency from the build arch: `:native`, or the host arch's candidate is Multi-Arch: foreign. */
function isTool(g: AltGroup, host: ArchUniverse): boolean {
  if (g.some((r) => r.archQualifier === 'native')) return true;
  for (const r of g) {
    const best = bestCandidate(r, host.universe, host.arch);
    if (best !== undefined) return best.multiArch === 'foreign';
  }
  return false;
}
