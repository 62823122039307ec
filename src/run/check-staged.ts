// Before a run builds anything: the up-to-date artifacts its builds will stage are read
// once and compared with their meta.json (reliability case 13, a bit flip in a stored
// archive). A damaged one is removed, and the caller plans again: the package is then
// built in this same run (why: its artifact is gone, found corrupt) instead of failing
// every job that stages it, and the bad archive is never used.
//
// Only what this run's builds stage is read (the archives they would unpack anyway), so a
// no-change run and a cold build read nothing; `kiln cache verify` checks the whole cache.
// An archive found sound is read again only once it changed: a `.verified` file beside it
// keeps its inode, size and mtime then (a big tree rebuilt often would otherwise read its
// staged archives, gigabytes, before every run). A flip that leaves them as they were (bit
// rot under a file never written) is `kiln cache verify`'s to find.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { PlanNode } from '../plan/plan.ts';
import type { PreparedPlan } from './prepare-plan.ts';

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
 * them with what was wrong (empty when all are sound). An archive found sound before and not
 * changed since is not read again, unless its key is in `always` (one about to be sent whole).
 */
export async function removeCorruptStaged(
  store: ArtifactStore,
  staged: readonly StagedArtifact[],
  options: { signal?: AbortSignal; readonly always?: ReadonlySet<string> } = {},
): Promise<(StagedArtifact & { readonly problem: string; readonly path: string })[]> {
  const bad: (StagedArtifact & { problem: string; path: string })[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < staged.length) {
      const s = staged[next++]!;
      options.signal?.throwIfAborted();
      const archive = store.peek(s.key)?.archive;
      const marker = join(store.dir(s.key), VERIFIED);
      const seen = archive === null || archive === undefined ? undefined : await signature(join(store.dir(s.key), archive));
      if (seen !== undefined && options.always?.has(s.key) !== true && (await readFile(marker, 'utf8').catch(() => '')) === seen) continue;
      const problem = await store.verify(s.key, { fix: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
      if (problem !== undefined) bad.push({ ...s, problem, path: store.dir(s.key) });
      // Sound: not read again until it changes (a marker that cannot be written only costs a read next time).
      else if (seen !== undefined) await writeFile(marker, seen).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, staged.length) }, worker));
  return bad.sort((a, b) => a.id.localeCompare(b.id));
}

/** Beside an archive found sound: its signature() then. */
const VERIFIED = '.verified';

/** An archive's inode, size and mtime, or undefined when it cannot be read. */
async function signature(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st === undefined ? undefined : `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * The plan `plan()` makes, after the up-to-date artifacts its builds stage were read once:
 * a damaged one is removed and the plan made again, so that it is built in this run.
 */
export async function planWithSoundStaged(plan: () => Promise<PreparedPlan>, o: { signal: AbortSignal; note: (text: string) => void }): Promise<PreparedPlan> {
  const first = await plan();
  let corrupt: Awaited<ReturnType<typeof removeCorruptStaged>>;
  try {
    corrupt = await removeCorruptStaged(first.artifacts, stagedUpToDate(first.plan.nodes), { signal: o.signal });
  } catch (e) {
    await first.envs.release();
    throw e;
  }
  if (corrupt.length === 0) return first;
  for (const c of corrupt) o.note(`the stored artifact of ${c.id} is corrupt and was removed (${c.path}: ${c.problem}): it is built again in this run`);
  await first.envs.release();
  return plan();
}
