// The pool's lifetime rule, one generation back: a pool file stays while a suite of the
// live tree lists it, or a suite's previous state does (apt-repo-previous.ts), so that
// `kiln repo rollback` finds it; after each change (publish, remove, rollback) the others
// go. A file a rebuild of the same version replaced in place (kiln's builds publish with
// replaceSameVersion) is first kept aside in REPO/.kiln/displaced/<sha256>, under the
// same rule: a rollback puts it back.

import { copyFile, link, lstat, mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, relative } from 'node:path';
import { KilnError } from '../errors.ts';
import { listedPoolFiles, readLiveSuite } from './apt-repo-live.ts';
import { poolFilesOfPrevious } from './apt-repo-previous.ts';
import { mkdirReadable, syncDir } from './apt-repo-tree.ts';

export function displacedDir(repoDir: string): string {
  return join(repoDir, '.kiln', 'displaced');
}

/** Keeps the bytes of pool file POOLPATH (sha256 SHA) in the displaced store before it is replaced in place. */
export async function displace(repoDir: string, poolPath: string, sha: string): Promise<void> {
  const dir = displacedDir(repoDir);
  await mkdir(dir, { recursive: true });
  await placeFile(poolPath, join(dir, sha), dir);
}

/**
 * FROM put at TO through a temporary name in TMPDIR (a hard link when they share a file
 * system, else a synced copy), renamed over TO at once: a reader sees the old file or the new one.
 */
export async function placeFile(from: string, to: string, tmpDir: string): Promise<void> {
  await mkdirReadable(dirname(to));
  await mkdirReadable(tmpDir);
  let tmp = join(tmpDir, `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    try {
      await link(from, tmp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      // Another file system (a pool that is a mount): a synced copy beside the target.
      tmp = join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`);
      await copyFile(from, tmp);
      const fh = await open(tmp, 'r+');
      try {
        await fh.chmod(0o644);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await rename(tmp, to);
    await syncDir(dirname(to));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface SweepResult {
  /** Pool files deleted (relative to the repository). */
  readonly deleted: readonly string[];
  /** Why the pool was not swept (it is not a plain directory, a previous state is damaged), and what to do, if it was not. */
  readonly skipped?: { readonly kind: 'linked-pool' | 'damaged-previous'; readonly why: string; readonly hint: string };
}

/**
 * Deletes the pool files that neither a suite of the live tree nor a suite's previous
 * state lists (and the folders left empty), and the displaced files no previous state
 * lists. Call under the publish lock, after the swap.
 */
export async function sweepPool(repoDir: string): Promise<SweepResult> {
  const keep = new Set<string>();
  const keepSha = new Set<string>();
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
  for (const x of previous) {
    keep.add(x.filename);
    keepSha.add(x.sha256);
  }
  const displaced = displacedDir(repoDir);
  for (const name of await readdir(displaced).catch(() => [] as string[])) {
    if (!keepSha.has(name)) await rm(join(displaced, name), { force: true });
  }
  await rmdir(displaced).catch(() => undefined);
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
