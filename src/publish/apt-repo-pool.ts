// The pool's lifetime rule, one generation back: a pool file stays while a suite of the
// live tree lists it, or a suite's previous state does (apt-repo-previous.ts), so that
// `kiln repo rollback` finds it; after each change (publish, remove, rollback) the others
// go. A file's bytes never change while it stays (apt-repo-place.ts: a rebuild of the same
// version with other bytes goes to a path of its own), so every state a suite had, live
// or previous, finds its files as its index lists them.

import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { KilnError } from '../errors.ts';
import { listedPoolFiles, readLiveSuite } from './apt-repo-live.ts';
import { poolFilesOfPrevious } from './apt-repo-previous.ts';

export interface SweepResult {
  /** Pool files deleted (relative to the repository). */
  readonly deleted: readonly string[];
  /** Why the pool was not swept (it is not a plain directory, a previous state is damaged), and what to do, if it was not. */
  readonly skipped?: { readonly kind: 'linked-pool' | 'damaged-previous'; readonly why: string; readonly hint: string };
}

/**
 * Deletes the pool files that neither a suite of the live tree nor a suite's previous
 * state lists (and the folders left empty). Call under the publish lock, after the swap.
 */
export async function sweepPool(repoDir: string): Promise<SweepResult> {
  const keep = new Set<string>();
  const dists = join(repoDir, 'dists');
  for (const e of await readdir(dists, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    for (const x of listedPoolFiles(await readLiveSuite(repoDir, e.name))) keep.add(x.filename);
  }
  // A previous state that cannot be read (edited, damaged) may list any file: nothing is
  // deleted then (the change itself is live already; a rollback names the damaged record).
  let previous: { filename: string; sha256: string }[];
  try {
    previous = await poolFilesOfPrevious(repoDir);
  } catch (e) {
    return {
      deleted: [],
      skipped: { kind: 'damaged-previous', why: `a suite's previous state could not be read (${e instanceof Error ? e.message : String(e)})`, hint: "delete that record (its suite then has no previous state to roll back to); the next change sweeps the pool" },
    };
  }
  for (const x of previous) keep.add(x.filename);
  // REPO/.kiln/displaced: where a kiln before content-unique pool paths kept the bytes a
  // same-version rebuild replaced in place. Nothing reads it any more.
  await rm(join(repoDir, '.kiln', 'displaced'), { recursive: true, force: true });
  // A pool that is a link is not kiln's to sweep (what it points at may be anything).
  const pool = await lstat(join(repoDir, 'pool')).catch(() => undefined);
  if (pool === undefined) return { deleted: [] };
  if (!pool.isDirectory()) return { deleted: [], skipped: { kind: 'linked-pool', why: `${join(repoDir, 'pool')} is not a directory kiln made (a link?)`, hint: 'make REPO/pool a plain directory; kiln deletes only files under it' } };
  const deleted: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        await walk(path);
        await rmdir(path).catch(() => undefined);
      } else if (!e.name.startsWith('.') && !keep.has(relative(repoDir, path))) {
        await rm(path, { force: true });
        deleted.push(relative(repoDir, path));
      }
    }
  };
  await walk(join(repoDir, 'pool')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return { deleted: deleted.sort() };
}

/** sweepPool for `kiln repo remove` and rollback: a pool kiln may not sweep is an error (the change itself is done). */
export async function sweepPoolOrThrow(repoDir: string, what: string): Promise<string[]> {
  const r = await sweepPool(repoDir);
  if (r.skipped !== undefined) {
    throw new KilnError('conflict', `${r.skipped.why}: the ${what} is done, but no pool file was deleted`, { hint: r.skipped.hint });
  }
  return [...r.deleted];
}
