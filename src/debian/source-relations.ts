// What a Debian source's relations mean for one build: the archs it builds for, the
// build mode per arch (-b, -B, -A), the Build-Depends and Build-Conflicts that apply for
// an arch, mode and profiles, and which relation makes it wait for a binary of another
// source in the run. Pure.

import { bestCandidate } from './binary-closure.ts';
import type { DebianBuildMode, DebianOptions } from './debian-spec.ts';
import { modeOfWords, targetArchsOf } from './dose-runs.ts';
import type { BinaryUniverse } from './lazy-index.ts';
import { reduceGroups } from './relation.ts';
import type { AltGroup, Relation } from './relation-types.ts';
import type { SourcePackage } from './sources-index.ts';
import { satisfiesConstraint } from './version.ts';

import { profilesOf } from './key-options.ts';
export { keyOptions, profilesOf } from './key-options.ts';

/** The archs of this run a source builds for: `all` when it builds only arch-independent packages (or -A asks for those only). */
export function targetArchs(src: Pick<SourcePackage, 'architecture'>, archs: readonly string[], mode: DebianBuildMode = 'binary'): string[] {
  return targetArchsOf(src.architecture, archs, mode);
}

/** -b on the primary arch (arch and indep packages), -B elsewhere; -A for arch-all-only sources. */
export function modeOf(src: Pick<SourcePackage, 'architecture'>, arch: string, req: { archs: readonly string[]; options: DebianOptions; cross?: string | undefined }): DebianBuildMode {
  return modeOfWords(src.architecture, arch, req);
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
