// Files a recipe names by a path relative to its folder (build.script-file, file:
// sources; recipe.toml itself is only read as text, through readRegularFile, and may be a
// link anywhere). Such a path must stay inside the package folder also after symlinks are
// followed: a link to /etc, or a folder link out of the tree, would otherwise let a recipe
// copy or run any file of the machine. Links that stay inside the folder are fine. The
// scan (scan-tree.ts) checks this when it reads the files, and the fetch phase
// (execute/fetch-sources.ts) checks it again before it copies, since a tree can change
// between plan and build.
//
// Files are opened with O_NONBLOCK and checked with fstat before they are read, so that a
// named pipe where a file should be is reported instead of blocking the scan forever.

import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * Why a path could not be used. `missing`: nothing is there (a dangling symlink is
 * something, and `unusable`); `outside`: symlinks lead out of the package folder.
 */
export interface FileProblem {
  readonly ok: false;
  readonly kind: 'missing' | 'outside' | 'unusable';
  /** Reads after the path: "is a directory, not a file". */
  readonly problem: string;
}

export type FileRead = { readonly ok: true; readonly bytes: Buffer; readonly stats: Stats } | FileProblem;

/** Whether the real path `real` is the real folder `realDir` or lies under it. */
export function isInside(realDir: string, real: string): boolean {
  return real === realDir || real.startsWith(realDir.endsWith(sep) ? realDir : realDir + sep);
}

/** Why a file of this kind is no regular file, or undefined when it is one. */
export function notAFile(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'is a directory, not a file';
  if (st.isFIFO()) return 'is a named pipe (FIFO), not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is a device or other special file, not a regular file';
}

/** A file-system error as the end of a sentence about the path ("… is a directory"). */
export function fsProblem(e: unknown, path: string): FileProblem {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      {
      const dangling = danglingLink(path);
      return dangling === undefined ? { ok: false, kind: 'missing', problem: 'not found' } : { ok: false, kind: 'unusable', problem: dangling };
    }
    case 'ENOTDIR':
      return { ok: false, kind: 'missing', problem: 'not found (a part of its path is a file, not a folder)' };
    case 'EISDIR':
      return { ok: false, kind: 'unusable', problem: 'is a directory, not a file' };
    case 'EACCES':
    case 'EPERM':
      return { ok: false, kind: 'unusable', problem: `cannot be read: permission denied (${code})` };
    case 'ELOOP':
      return { ok: false, kind: 'unusable', problem: 'cannot be resolved: too many levels of symlinks (a symlink loop?)' };
    case 'ENXIO':
      return { ok: false, kind: 'unusable', problem: 'is a socket or device, not a regular file' };
    default:
      return { ok: false, kind: 'unusable', problem: `cannot be read: ${code ?? (e as Error).message}` };
  }
}

/** "is a symlink to "X", which does not exist" when `path` is a dangling symlink. */
export function danglingLink(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
    return `is a symlink to "${readlinkSync(path)}", which does not exist`;
  } catch {
    return undefined;
  }
}

/** Read `path` if it is a regular file (through symlinks), without blocking on a FIFO. */
export function readRegularFile(path: string): FileRead {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return fsProblem(e, path);
  }
  try {
    const stats = fstatSync(fd);
    const problem = notAFile(stats);
    if (problem !== undefined) return { ok: false, kind: 'unusable', problem };
    return { ok: true, bytes: readFileSync(fd), stats };
  } catch (e) {
    return fsProblem(e, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read `rel` of the package folder `dir` (whose real path is `realDir`), refusing a path
 * that symlinks lead out of the folder. The stats are taken before the read (scan cache).
 */
export function readLocalFile(dir: string, rel: string, realDir: string): FileRead {
  const path = join(dir, rel);
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch (e) {
    return fsProblem(e, path);
  }
  if (!isInside(realDir, real)) return outside(real, dir);
  // The real path: no link is followed a second time between the check and the read.
  return readRegularFile(real);
}

/** The same check at build time, asynchronously; the real path to copy from. */
export async function resolveLocalFile(dir: string, rel: string): Promise<{ readonly ok: true; readonly real: string } | FileProblem> {
  const path = join(dir, rel);
  let real: string;
  let realDir: string;
  try {
    realDir = await realpath(dir);
    real = await realpath(path);
    if (!isInside(realDir, real)) return outside(real, dir);
    const problem = notAFile(await stat(real));
    if (problem !== undefined) return { ok: false, kind: 'unusable', problem };
  } catch (e) {
    return fsProblem(e, path);
  }
  return { ok: true, real };
}

function outside(real: string, dir: string): FileProblem {
  return { ok: false, kind: 'outside', problem: `resolves outside the package folder (to ${real}): files a recipe names must stay inside ${dir}, symlinks included` };
}
