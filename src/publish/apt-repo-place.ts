// Where a publish puts a package's files in the pool, and copying them there. The rule that
// keeps every state of the repository whole: the bytes at a pool path never change once
// written. A path any tree or previous state lists keeps its bytes until the sweep deletes
// it (apt-repo-pool.ts), so a client reading an index (live, or the one just swapped out),
// and `kiln repo rollback`, always find the file that index names with the hash it names.
//
// A package goes to its canonical path (apt-repo-index.ts: pool/main/h/hello/…) when that
// path is free or holds the same bytes. A rebuild of the same version with other bytes
// (publishing with replaceSameVersion, as `kiln build --debian` does) goes to a folder of its
// own under its source's, named by its content:
//   pool/main/h/hello/+<first 16 hex digits of the .deb's sha256>/hello_2.10-3_amd64.deb
//   pool/main/h/hello/+<first 16 hex digits of the .dsc's sha256>/hello_2.10-3.dsc, …  (a source: all its files, its Directory)
// apt names a downloaded .deb after its Package, Version and Architecture, not its
// Filename, and reads a source's files from its Directory, so any path under the repository
// serves. A source name starts with a letter or digit: a `+` folder is never a source's.
// Without replaceSameVersion the same version with other bytes is a conflict (apt-repo.ts).

import { randomBytes } from 'node:crypto';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.ts';
import { fieldValue } from '../debian/deb-file.ts';
import type { IndexEntry } from './apt-repo-index.ts';
import { hashFile } from './apt-repo-sources.ts';
import { mkdirReadable, syncDir } from './apt-repo-tree.ts';

/** A file a package puts in the pool: from where, to which pool path, its sha256, and the sha256 of the file already at that path (if any). */
export interface PoolFile {
  readonly from: string;
  readonly filename: string;
  readonly sha256: string;
  readonly have?: string;
}

/** A .deb, .udeb or .dsc read: its index entry, and the files it puts in the pool. */
export interface ReadDeb {
  readonly path: string;
  readonly entry: IndexEntry;
  readonly files: readonly PoolFile[];
}

/** `DIR/+<first 16 hex digits of sha256>`: a content-unique folder under DIR (pure). */
export function uniqueDir(dir: string, sha256: string): string {
  return `${dir}/+${sha256.slice(0, 16)}`;
}

/**
 * The same package with its files moved to their content-unique folder (pure): a .deb's
 * Filename into `+SHA` beside it, a source's Directory (every file of it) into `+SHA` under it.
 */
export function atUniquePath(read: Omit<ReadDeb, 'files'> & { readonly files: readonly Omit<PoolFile, 'have'>[] }): Omit<ReadDeb, 'files'> & { files: Omit<PoolFile, 'have'>[] } {
  const e = read.entry;
  const directory = fieldValue(e.fields, 'Directory');
  const from = e.architecture === 'source' && directory !== undefined ? directory : dirname(e.filename);
  const to = uniqueDir(from, e.sha256);
  const moved = (f: string): string => (f.startsWith(`${from}/`) ? `${to}/${f.slice(from.length + 1)}` : f);
  const field = e.architecture === 'source' && directory !== undefined ? 'Directory' : 'Filename';
  const value = field === 'Directory' ? to : moved(e.filename);
  return {
    path: read.path,
    entry: { ...e, filename: moved(e.filename), fields: e.fields.map((f) => (f.name.toLowerCase() === field.toLowerCase() ? { name: f.name, value } : f)) },
    files: read.files.map((f) => ({ from: f.from, filename: moved(f.filename), sha256: f.sha256 })),
  };
}

/**
 * Where READ goes in the pool (see the top): its canonical paths when each is free or holds
 * the same bytes, else (with replaceSameVersion) its content-unique folder. `claimed`: the
 * paths this publish has placed files at so far, with their sha256 (two builds of one
 * version in one publish do not share a path); updated. Each file says what its path holds now.
 */
export async function placeInPool(repoDir: string, read: Omit<ReadDeb, 'files'> & { readonly files: readonly Omit<PoolFile, 'have'>[] }, replaceSameVersion: boolean, claimed: Map<string, string>, signal: AbortSignal | undefined): Promise<ReadDeb> {
  /** What each path holds, and the first file whose path holds (or this publish gives it) other bytes. */
  const look = async (r: typeof read): Promise<{ files: PoolFile[]; clash: { file: PoolFile; have: string } | undefined }> => {
    const files: PoolFile[] = [];
    let clash: { file: PoolFile; have: string } | undefined;
    for (const f of r.files) {
      signal?.throwIfAborted();
      const target = join(repoDir, f.filename);
      const have = (await stat(target).catch(() => undefined)) === undefined ? undefined : (await hashFile(target, signal)).sha256;
      const file = have === undefined ? f : { ...f, have };
      files.push(file);
      const other = [have, claimed.get(f.filename)].find((x) => x !== undefined && x !== f.sha256);
      if (other !== undefined) clash ??= { file, have: other };
    }
    return { files, clash };
  };
  let placed = read;
  let { files, clash } = await look(read);
  if (clash !== undefined && replaceSameVersion) {
    placed = atUniquePath(read);
    ({ files, clash } = await look(placed));
    if (clash !== undefined) {
      const { file: f, have } = clash;
      throw new KilnError('conflict', `${join(repoDir, f.filename)} already exists with other content (sha256 ${have.slice(0, 12)}…) than ${f.from} (${f.sha256.slice(0, 12)}…), at a path named by that content`, {
        hint: 'the pool file was changed by hand or damaged: delete it (nothing kiln wrote changes a pool file), then publish again',
      });
    }
  }
  // A clash without replaceSameVersion is refused by the caller (after the merge names the package).
  if (clash === undefined) for (const f of files) claimed.set(f.filename, f.sha256);
  return { path: placed.path, entry: placed.entry, files };
}

/**
 * Copy FROM to the pool file TO through the folder INCOMING (on the repository's file
 * system, out of the pool that clients read), synced, renamed into place. TO is a path no
 * file is at (placeInPool): nothing a client may be reading is replaced.
 */
export async function copyIntoPool(repoDir: string, from: string, to: string, incoming: string): Promise<void> {
  try {
    await mkdirReadable(dirname(to));
    await mkdirReadable(incoming);
    try {
      await copyThrough(from, to, join(incoming, `${basename(to)}.${randomBytes(4).toString('hex')}.tmp`));
    } catch (e) {
      // A pool folder on another disk than the repository (a link, a mount): beside the file then.
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await copyThrough(from, to, join(dirname(to), `.${basename(to)}.${randomBytes(4).toString('hex')}.tmp`));
    }
  } catch (e) {
    throw poolCopyError(e, repoDir, to) ?? e;
  }
}

/**
 * A full disk met while copying into the pool, as an error naming the repository and the
 * pool file (Node's copyfile error names the source first, as if it were at fault) (pure).
 */
export function poolCopyError(e: unknown, repoDir: string, to: string): KilnError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  const what = code === 'ENOSPC' ? 'no space left on the device' : 'disk quota exceeded';
  return new KilnError('path-unusable', `cannot copy into the pool of the repository ${repoDir}: ${to}: ${what} (${code}): the disk of the repository is full`, {
    hint: `free space on the disk holding ${repoDir} (or publish into a --repo on another disk), then publish again; nothing was published, the repository is as it was`,
    cause: e,
  });
}

/** Copy FROM to TMP, sync it, rename it to TO (TMP removed on any failure). */
async function copyThrough(from: string, to: string, tmp: string): Promise<void> {
  try {
    await copyFile(from, tmp);
    const fh = await open(tmp, 'r+');
    try {
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, to);
    await syncDir(dirname(to));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
