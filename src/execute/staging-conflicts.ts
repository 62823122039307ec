// Two packages staged into one sysroot (a build's build-depends and what they depend on)
// that install the same path as different kinds of thing: a file or a link in one and a
// directory in the other, a file in one and a link in the other. Staged one over the
// other, the result depends on the order (tar replaces a link with a directory, refuses a
// directory over a file), so the build would see a sysroot that is neither package's:
// kiln refuses such a pair before it stages anything. Two files (or links) at one path
// with other contents are only said: the one staged last is in the sysroot, as before
// (GNU packages' usr/share/info/dir is the classic case; dpkg refuses even that, pkgsrc
// strips it). A path both install alike is fine. Pure.

import type { ManifestEntry } from '../cache/archive.ts';

export interface StagedManifest {
  /** The dependency's job id (`name@arch`). */
  readonly id: string;
  readonly entries: readonly ManifestEntry[];
}

export interface StagingConflict {
  readonly path: string;
  readonly first: { readonly id: string; readonly what: string };
  readonly second: { readonly id: string; readonly what: string };
  /** Different kinds of thing (file, link, directory): refused. Same kind, other contents: said, the second one staged. */
  readonly kinds: boolean;
}

/** The first `limit` paths two staged packages install differently, in staging order. */
export function stagingConflicts(staged: readonly StagedManifest[], limit = 20): StagingConflict[] {
  const seen = new Map<string, { id: string; entry: ManifestEntry }>();
  const found: StagingConflict[] = [];
  for (const s of staged) {
    for (const entry of s.entries) {
      const before = seen.get(entry.path);
      if (before === undefined) {
        seen.set(entry.path, { id: s.id, entry });
        continue;
      }
      if (before.id === s.id || alike(before.entry, entry)) continue;
      found.push({ path: entry.path, first: { id: before.id, what: describe(before.entry) }, second: { id: s.id, what: describe(entry) }, kinds: before.entry.type !== entry.type });
      // The later one is what is in the sysroot at that path.
      seen.set(entry.path, { id: s.id, entry });
      if (found.length >= limit) return found;
    }
  }
  return found;
}

function alike(a: ManifestEntry, b: ManifestEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'dir') return true;
  if (a.type === 'symlink') return a.target === b.target;
  return a.sha256 === b.sha256 && a.mode === b.mode;
}

function describe(e: ManifestEntry): string {
  if (e.type === 'dir') return 'a directory';
  if (e.type === 'symlink') return `a link to ${e.target ?? '?'}`;
  return `a file (${e.size} bytes, sha256 ${(e.sha256 ?? '?').slice(0, 12)}, mode ${e.mode.toString(8).padStart(4, '0')})`;
}

/** The stage-failed message for conflicts of kind (non-empty). */
export function conflictMessage(conflicts: readonly StagingConflict[]): string {
  const lines = conflicts.slice(0, 5).map((c) => `${c.path} is ${c.first.what} in ${c.first.id} and ${c.second.what} in ${c.second.id}`);
  return `two packages staged for this build (its build-depends and what they depend on) install the same path as different kinds of thing, so the sysroot would depend on their order: ${lines.join('; ')}. Make one of them not install it, or install it as the other does`;
}

/** The log note for same-kind conflicts (other contents): which one the build sees. */
export function overlapNote(conflicts: readonly StagingConflict[]): string {
  const lines = conflicts.slice(0, 5).map((c) => `${c.path} (${c.first.id}, then ${c.second.id}: ${c.second.id}'s is staged)`);
  return `staged packages install the same path with other contents: ${lines.join('; ')}${conflicts.length > 5 ? `, and ${conflicts.length - 5} more` : ''}`;
}
