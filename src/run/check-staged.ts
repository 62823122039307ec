// Before a run builds anything: the up-to-date artifacts its builds will stage are read
// once and compared with their meta.json (reliability case 13, a bit flip in a stored
// archive). A damaged one is removed, and the caller plans again: the package is then
// built in this same run (why: its artifact is gone, found corrupt) instead of failing
// every job that stages it, and the bad archive is never used.
//
// Only what this run's builds stage is read (the archives they would unpack anyway), so a
// no-change run and a cold build read nothing; `kiln cache verify` checks the whole cache.

import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { PlanNode } from '../plan/plan.ts';

export interface StagedArtifact {
  readonly id: string;
  readonly key: string;
}

/** The up-to-date nodes the to-build nodes wait for (and so stage), each key once (pure). */
export function stagedUpToDate(nodes: readonly PlanNode[]): StagedArtifact[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const seen = new Map<string, StagedArtifact>();
  for (const n of nodes) {
    if (n.state !== 'to-build') continue;
    for (const w of n.waitsFor) {
      const dep = byId.get(w);
      if (dep?.state !== 'up-to-date' || dep.key === undefined || seen.has(dep.key)) continue;
      seen.set(dep.key, { id: dep.id, key: dep.key });
    }
  }
  return [...seen.values()];
}

/** Hashing reads the disk; a few at once keep it busy without flooding it. */
const AT_ONCE = 4;

/**
 * Check every artifact of `staged` against its meta.json; remove the damaged ones. Returns
 * them with what was wrong (empty when all are sound).
 */
export async function removeCorruptStaged(
  store: ArtifactStore,
  staged: readonly StagedArtifact[],
  options: { signal?: AbortSignal } = {},
): Promise<(StagedArtifact & { readonly problem: string; readonly path: string })[]> {
  const bad: (StagedArtifact & { problem: string; path: string })[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < staged.length) {
      const s = staged[next++]!;
      options.signal?.throwIfAborted();
      const problem = await store.verify(s.key, { fix: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
      if (problem !== undefined) bad.push({ ...s, problem, path: store.dir(s.key) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, staged.length) }, worker));
  return bad.sort((a, b) => a.id.localeCompare(b.id));
}
