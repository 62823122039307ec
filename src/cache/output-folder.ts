// A build's output folder and the other folders a build could write, as kiln reads them on
// the host with its own rights: the folder must be the one kiln made (not a symlink the build
// put in its place), and only regular files in it are taken (never a file a link names).

import { lstatSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { KilnError } from '../errors.ts';

/**
 * Refuses (`bad-output`) an output folder that is not a real directory: a build that
 * replaced its $DESTDIR with a symlink would otherwise have kiln, on the host and with its
 * rights, walk and pack whatever the link names (the host's /etc, kiln's state), which a
 * build in a sandbox cannot read itself.
 */
export function assertOutputFolder(dir: string): void {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st?.isDirectory() === true) return;
  const what = st === undefined ? 'is gone' : st.isSymbolicLink() ? `is a symlink to ${readlinkSync(dir)}` : 'is not a directory';
  throw new KilnError('bad-output', `the build's output folder ($DESTDIR) ${what}: the build replaced it, and kiln packs only the folder it made (nothing was stored)`, {
    hint: 'install into $DESTDIR (mkdir -p "$DESTDIR/usr/bin"; cp … "$DESTDIR/usr/bin/"); never remove, move or replace $DESTDIR itself',
  });
}

/**
 * The regular files directly in `dir`, a folder a build could write (its workspace): `dir`
 * must be the real folder (assertOutputFolder; absent: none), and a symlink or anything
 * else in it is passed over, so that kiln never reads, with its own rights, a file a link
 * names. (The build's processes are gone when kiln reads: nothing can change them after.)
 */
export async function regularFilesIn(dir: string): Promise<string[]> {
  if (lstatSync(dir, { throwIfNoEntry: false }) === undefined) return [];
  assertOutputFolder(dir);
  return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}
