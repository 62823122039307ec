// File-system mistakes as kiln errors: a Node fs error with a path (ENOENT, EACCES,
// EISDIR…) becomes a `path-unusable` KilnError that names the path and what to do, at the
// places that write where the user said (state dir, key export, repo publish) and as
// main()'s fallback, so such a mistake never reads as "internal error".

import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { isKilnError, KilnError } from './errors.ts';

/** Node's errno codes for a path that cannot be used as asked: the user's mistake or the machine's state, not a bug. */
const PATH_ERRNOS: Readonly<Record<string, { what: string; hint: string }>> = {
  ENOENT: { what: 'no such file or directory', hint: 'check the path: make the missing directory first (mkdir -p) or name another path' },
  EACCES: { what: 'permission denied', hint: 'check the path and its permissions, or name a path this user may write' },
  EPERM: { what: 'operation not permitted', hint: 'check the path and its permissions, or name a path this user may write' },
  EEXIST: { what: 'a file is in the way (a directory is needed there)', hint: 'check the path: name a directory, or move the file away' },
  ENOTDIR: { what: 'a part of the path is a file, not a directory', hint: 'check the path: name a directory, or move the file away' },
  EISDIR: { what: 'is a directory (a file is needed there)', hint: 'check the path: name a file, e.g. DIR/NAME' },
  EROFS: { what: 'read-only file system', hint: 'check the path: name one on a writable file system' },
  ENOSPC: { what: 'no space left on the device', hint: 'free some space (e.g. `kiln cache gc`) or name a path on another disk' },
  EDQUOT: { what: 'disk quota exceeded', hint: 'free some space under your quota (e.g. `kiln cache gc`) or name a path on another disk' },
};

/**
 * A Node fs error (ENOENT, EACCES, EISDIR… with a path) as a `path-unusable` KilnError
 * naming the path and what to do; undefined for anything else. `doing` says what kiln
 * was doing, e.g. "cannot write the public key to /x/k.gpg".
 */
export function pathErrorOf(e: unknown, doing?: string, at?: string): KilnError | undefined {
  if (isKilnError(e) || !(e instanceof Error)) return undefined;
  // The path the user gave when the caller knows it (a write through an open file, or to a
  // temporary file beside it, names no path or another), else the error's own.
  const path = at ?? (e as NodeJS.ErrnoException).path;
  let code = (e as NodeJS.ErrnoException).code;
  if (code === undefined || PATH_ERRNOS[code] === undefined) return undefined;
  // A full disk is the machine's state, wherever it was met: never an internal error.
  if (typeof path !== 'string') {
    if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
    return new KilnError('path-unusable', `${doing ?? 'a write failed'}: ${PATH_ERRNOS[code]!.what} (${code})`, { hint: PATH_ERRNOS[code]!.hint, cause: e });
  }
  // A recursive mkdir reports ENOENT when the parent exists but cannot be written to
  // (read-only file system, no permission): say which.
  if (code === 'ENOENT' && existsSync(dirname(path))) code = writeProblem(dirname(path)) ?? code;
  const known = PATH_ERRNOS[code]!;
  const where = doing === undefined ? path : `${doing}: ${path}`;
  return new KilnError('path-unusable', `${where}: ${known.what} (${code})`, { hint: known.hint, cause: e });
}

function writeProblem(dir: string): string | undefined {
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
}
