// kiln rootfs: where a root is made and how it takes its place. It is made in a temporary
// folder beside OUT (the same file system, so the final rename is atomic) and renamed into
// place when whole; an existing OUT (--force) is moved aside first and removed after, or
// moved back should the rename fail. A root that fails half way is never at OUT.

import { existsSync } from 'node:fs';
import { lstat, mkdtemp, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';

/** Refuse an existing OUT without force, or a missing parent; returns whether OUT exists. */
export async function checkOut(out: string, force: boolean): Promise<boolean> {
  const existing = await lstat(out).catch(() => undefined);
  if (existing !== undefined && !force) {
    throw new KilnError('path-unusable', `${out} already exists`, { hint: 'name a path that does not exist yet, or pass --force to replace it' });
  }
  const parent = dirname(out);
  if (!existsSync(parent)) {
    throw new KilnError('path-unusable', `${out}: its directory ${parent} does not exist`, { hint: `make it first (mkdir -p ${parent}) or name another path` });
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
  if (!exists) {
    await rename(made, out);
    return;
  }
  await rename(out, aside);
  try {
    await rename(made, out);
  } catch (e) {
    await rename(aside, out).catch(() => undefined);
    throw e;
  }
}
