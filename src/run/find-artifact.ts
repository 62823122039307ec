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

/**
 * Synchronous: the planner looks up thousands of keys in a tight loop. With the output the
 * records know for this key (in this same cache), a stat of meta.json proves the entry is
 * still there (an empty meta.json is a torn entry, see artifacts.ts: read it to be sure).
 * Otherwise meta.json is read. The entry found is marked used (cache gc).
 */
export function findArtifactSync(
  store: ArtifactStore,
  key: string,
  known: { outputHash: string; path: string } | undefined,
  warned: ReadonlyMap<string, readonly string[]> | undefined,
): StoredArtifact | undefined {
  // --fail-on-warnings: an entry the records know no warnings of is read, to be sure.
  const metaFile = known === undefined || (warned !== undefined && !warned.has(key)) ? undefined : recordedMeta(store, key, known.path);
  if (known !== undefined && metaFile !== undefined) {
    const st = statSync(metaFile, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isFile() && st.size > 0) {
      store.markUsed(key, st.mtimeMs);
      return warned === undefined ? known : { ...known, warnings: warned.get(key) };
    }
  }
  const meta = store.peek(key);
  if (meta === undefined) return undefined;
  store.markUsed(key);
  const warnings = meta.warnings ?? warned?.get(key);
  return { outputHash: meta.outputHash, path: artifactPath(store, key, meta.archive), ...(warnings === undefined ? {} : { warnings }) };
}
