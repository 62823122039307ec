// kiln rootfs: where a root is made and how it takes its place. It is made in a temporary
// folder beside OUT (the same file system, so the final rename is atomic) and renamed into
// place when whole; an existing OUT (--force) is moved aside first and removed after, or
// moved back should the rename fail. A root that fails half way is never at OUT. OUT is
// never `/`, a mount point, nor the state dir or cache (or in or around them): --force
// would remove what kiln itself keeps there.

import { constants, existsSync, realpathSync } from 'node:fs';
import { access, lstat, mkdtemp, readFile, rename, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, isAbsolute, sep } from 'node:path';
import { KilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';

/** A folder of kiln's own that OUT must keep clear of: `what` names it in the message. */
export interface KeptDir {
  readonly path: string;
  readonly what: string;
}

/** The real path of `p` (its existing part resolved, the rest appended as written). */
export function realPathOf(p: string): string {
  const rest: string[] = [];
  let at = p;
  for (;;) {
    try {
      return join(realpathSync(at), ...rest.reverse());
    } catch {
      const up = dirname(at);
      if (up === at) return p;
      rest.push(basename(at));
      at = up;
    }
  }
}

/** Whether `inner` is `outer` or below it (both absolute, real). */
function within(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (!isAbsolute(r) && r !== '..' && !r.startsWith(`..${sep}`));
}

/** Refuse OUT that is `/`, equals, holds or is inside a kept folder (state dir, cache): a usage error saying why. */
export function refuseKeptOut(out: string, keep: readonly KeptDir[]): void {
  const real = realPathOf(out);
  if (real === '/') throw new KilnError('usage', `${out}: the output path is / (the machine's own root)`, { hint: 'name a new folder for the root, e.g. ./rootfs' });
  // The folder kiln runs in, or one above it: --force would remove it from under the user.
  const here = realPathOf(process.cwd());
  if (within(here, real)) {
    throw new KilnError('usage', `${out}: the output path ${real === here ? 'is' : 'holds'} the current folder ${here}, which --force would remove`, { hint: 'name a new folder for the root, e.g. ./rootfs' });
  }
  for (const k of keep) {
    const dir = realPathOf(k.path);
    const how = real === dir ? 'is' : within(dir, real) ? 'holds' : within(real, dir) ? 'is inside' : undefined;
    if (how === undefined) continue;
    throw new KilnError('usage', `${out}: the output path ${how} ${k.what} ${k.path}${how === 'is inside' ? '' : ', which --force would remove'}`, {
      hint: `name a folder outside ${k.path} for the root, e.g. ./rootfs beside it`,
    });
  }
}

/** The mount points of this mount namespace (/proc/self/mountinfo), undefined when unreadable. */
async function mountPoints(): Promise<Set<string> | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return new Set(text.split('\n').filter((l) => l !== '').map((l) => unescape(l.split(' ')[4] ?? '')));
}

/** Refuse an existing OUT without force, a missing parent, `/`, a mount point or a kept folder; returns whether OUT exists. */
export async function checkOut(out: string, force: boolean, keep: readonly KeptDir[] = []): Promise<boolean> {
  refuseKeptOut(out, keep);
  const existing = await lstat(out).catch(() => undefined);
  if (existing !== undefined && !force) {
    throw new KilnError('path-unusable', `${out} already exists`, { hint: 'name a path that does not exist yet, or pass --force to replace it' });
  }
  const parent = dirname(out);
  if (!existsSync(parent)) {
    throw new KilnError('path-unusable', `${out}: its directory ${parent} does not exist`, { hint: `make it first (mkdir -p ${parent}) or name another path` });
  }
  // Said now, not after every archive has been checked and listed.
  const unwritable = await access(parent, constants.W_OK).then(() => undefined, (e: NodeJS.ErrnoException) => e.code ?? 'error');
  if (unwritable !== undefined) {
    throw new KilnError('path-unusable', `${out}: kiln cannot write in its directory ${parent} (${unwritable === 'EROFS' ? 'a read-only file system' : unwritable === 'EACCES' || unwritable === 'EPERM' ? 'permission denied' : unwritable})`, {
      hint: 'name a path in a folder you may write to, or run kiln as a user who may',
    });
  }
  if (existing !== undefined && existing.isDirectory()) {
    // --force renames OUT aside: a mount point cannot be renamed (EBUSY, after all the work).
    const up = await stat(parent);
    const mounted = existing.dev !== up.dev || (await mountPoints())?.has(realPathOf(out)) === true;
    if (mounted) {
      throw new KilnError('path-unusable', `${out} is a mount point: --force cannot replace it`, {
        hint: `name a folder inside it (e.g. ${join(out, 'rootfs')}), or unmount it first`,
      });
    }
  }
  return existing !== undefined;
}

/** A new temporary folder beside `out` (the caller removes it). */
export async function tmpBeside(out: string): Promise<string> {
  try {
    return await mkdtemp(join(dirname(out), `.${basename(out)}.kiln-tmp-`));
  } catch (e) {
    throw pathErrorOf(e, `cannot make a temporary folder beside ${out}`) ?? e;
  }
}

/** Move `made` to `out`; an existing `out` goes to `aside` first (the caller removes it), and back should the move fail. */
export async function placeOut(made: string, out: string, aside: string, exists: boolean): Promise<void> {
  const move = async (from: string, to: string, doing: string): Promise<void> => {
    try {
      await rename(from, to);
    } catch (e) {
      throw pathErrorOf(e, doing) ?? new KilnError('path-unusable', `${doing}: ${(e as Error).message}`, { hint: 'check the output path (not a mount point, on a writable file system), or name another', cause: e });
    }
  };
  if (!exists) {
    await move(made, out, `cannot put the root in place at ${out}`);
    return;
  }
  await move(out, aside, `cannot move the old ${out} aside (--force)`);
  try {
    await move(made, out, `cannot put the root in place at ${out}`);
  } catch (e) {
    await rename(aside, out).catch(() => undefined);
    throw e;
  }
}
