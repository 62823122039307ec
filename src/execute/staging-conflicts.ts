// Two build dependencies staged into one sysroot that install the same path differently:
// a file in one and a directory or a link in the other, or two files with other contents.
// Staged one over the other, the later one would win or fail depending on the order
// (tar replaces a link with a directory, refuses a directory over a file), so the build
// would see a sysroot that is neither package's. dpkg refuses such a pair ("trying to
// overwrite …, which is also in package …"); so does kiln, before it stages anything.
// A path both install alike (a directory, an identical file or link) is fine. Pure.

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
}

/** The first few paths two staged dependencies install differently, in staging order. */
export function stagingConflicts(staged: readonly StagedManifest[], limit = 5): StagingConflict[] {
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
      found.push({ path: entry.path, first: { id: before.id, what: describe(before.entry) }, second: { id: s.id, what: describe(entry) } });
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

/** The stage-failed message for `conflicts` (non-empty). */
export function conflictMessage(conflicts: readonly StagingConflict[]): string {
  const lines = conflicts.map((c) => `${c.path} is ${c.first.what} in ${c.first.id} and ${c.second.what} in ${c.second.id}`);
  return `two build dependencies install the same path differently, so the sysroot would be neither's: ${lines.join('; ')}. Make one of them not install it (or install it alike), or drop one from build-depends`;
}
