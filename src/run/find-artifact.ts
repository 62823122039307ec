// How the planner finds a key's stored artifact (prepare-plan.ts), and the plan memo checks
// one it remembers (plan-memo.ts): the same lookup, so that both say the same of it.

import { statSync } from 'node:fs';
import { artifactPath, type ArtifactStore } from '../cache/artifact-types.ts';
import type { StoredArtifact } from '../plan/decide.ts';

/**
 * The meta.json of the entry a record names, when the record is of this cache (its path is
 * the entry's folder or a file in it); undefined for another cache's. What the planner
 * stats (findArtifactSync) and statAhead (stat-ahead.ts) stats ahead.
 */
export function recordedMeta(store: ArtifactStore, key: string, artifact: string): string | undefined {
  const dir = store.dir(key);
  // dir is already normalized (store.dir joins it): append, no second join.
  return artifact === dir || artifact.startsWith(`${dir}/`) ? `${dir}/meta.json` : undefined;
}

/** An output the records know for a key: the entry's path and, when known, when they recorded it (epoch ms). */
export interface KnownOutput {
  readonly outputHash: string;
  readonly path: string;
  readonly at?: number | null | undefined;
}

/**
 * Synchronous: the planner looks up thousands of keys in a tight loop. With the output the
 * records know for this key (in this same cache), a stat of meta.json proves the entry is
 * still there (an empty meta.json is a torn entry, see artifacts.ts: read it to be sure).
 * Otherwise meta.json is read. The entry found is marked used (cache gc).
 *
 * The stat proves it is the same entry only when meta.json is older than the record: an
 * entry is never changed in place, but a state directory sharing the cache may have stored
 * another under the same key since (after a gc, or in place of a corrupt one), with another
 * output when the build is not reproducible. A meta.json born after the record is read.
 * (A file system without birth times keeps the plain stat.)
 */
export function findArtifactSync(
  store: ArtifactStore,
  key: string,
  known: KnownOutput | undefined,
  warned: ReadonlyMap<string, readonly string[]> | undefined,
  /** Told of an entry the records knew but that was read all the same (born after their record, or torn): their record is then due a refresh. */
  reread?: (found: StoredArtifact) => void,
): StoredArtifact | undefined {
  // --fail-on-warnings: an entry the records know no warnings of is read, to be sure.
  const metaFile = known === undefined || (warned !== undefined && !warned.has(key)) ? undefined : recordedMeta(store, key, known.path);
  if (known !== undefined && metaFile !== undefined) {
    const st = statSync(metaFile, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isFile() && st.size > 0 && !bornAfter(st.birthtimeMs, known.at)) {
      store.markUsed(key, st.mtimeMs);
      return warned === undefined ? known : { ...known, warnings: warned.get(key) };
    }
  }
  const meta = store.peek(key);
  if (meta === undefined) return undefined;
  store.markUsed(key);
  const warnings = meta.warnings ?? warned?.get(key);
  const found = { outputHash: meta.outputHash, path: artifactPath(store, key, meta.archive), ...(warnings === undefined ? {} : { warnings }) };
  if (known !== undefined && metaFile !== undefined) reread?.(found);
  return found;
}

/** Whether a file born at `birthMs` (0: the file system does not say) came after a record made at `at`. */
export function bornAfter(birthMs: number, at: number | null | undefined): boolean {
  // Whole milliseconds, as the record keeps them. A file born within the record's own
  // millisecond counts as before it: a build's own entry is born just before its record,
  // and the kernel's file clock may even lag Date.now() by a tick, so this is the rule
  // that never re-reads a build's own output; an entry stored again within that same
  // millisecond by another state directory would go unseen (not a practical case).
  return at != null && birthMs > 0 && Math.floor(birthMs) > at;
}
