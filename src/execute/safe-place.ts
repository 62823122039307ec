// Putting a recipe's sources into $SRCDIR without ever writing through a link. kiln does
// this on the host side, as root for an isolated build, before the sandbox runs: a link
// an earlier source left in $SRCDIR (an archive holding `top/link -> /etc`) must not let
// a later one (a second archive holding `top/link/cron.d/x`, a file copied to
// `dest = "top/link"`) write outside. GNU tar guards against that only within one archive.
//
// So every archive is extracted into a fresh empty folder, then moved into place entry by
// entry, only ever into real directories (lstat, never stat); folders for `dest` are made
// one level at a time the same way; a plain file replaces what is at its name rather than
// writing through it. And, as docs/recipes.md promises, an archive may not bring a link
// whose text leaves $SRCDIR (absolute, or climbing above it) nor a device node, fifo or
// socket (tar made them as root); set-user-ID bits are dropped by tar itself (archive.ts).

import { chmod, lstat, mkdir, readdir, readlink, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { KilnError } from '../errors.ts';

const unsafe = (message: string): KilnError =>
  new KilnError('unsafe-path', message, { hint: 'the sources are malformed or malicious: a source may not write through a link, nor bring one that leaves $SRCDIR; check where they came from' });

/**
 * `srcDir/rel` as a real directory, made one level at a time: a link or a file on the
 * way is refused, where `mkdir -p` would follow the link.
 */
export async function realDirUnder(srcDir: string, rel: string, what: string): Promise<string> {
  let at = srcDir;
  for (const part of normalize(rel).split(sep).filter((p) => p !== '' && p !== '.')) {
    if (part === '..') throw unsafe(`${what}: "${rel}" leaves $SRCDIR`);
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    // 0755 whatever kiln's umask (chmod: mkdir's mode is masked by it), as what the build makes.
    if (st === undefined) await mkdir(at).then(() => chmod(at, 0o755));
    else if (st.isSymbolicLink()) throw unsafe(`${what}: $SRCDIR/${relative(srcDir, at)} is a link an earlier source made: nothing is written through it`);
    else if (!st.isDirectory()) throw unsafe(`${what}: $SRCDIR/${relative(srcDir, at)} is a file, not a directory`);
  }
  return at;
}

/**
 * Move everything in `from` (a fresh extraction) into the real directory `to`: a name not
 * there yet is renamed in whole; a directory onto a real directory is merged; anything
 * else replaces what was there (a link is replaced, never followed). A directory onto a
 * link is refused: that is the write through a link this file exists to stop.
 */
export async function mergeInto(from: string, to: string, srcDir: string, what: string): Promise<void> {
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const [s, d] = await Promise.all([lstat(src), lstat(dst).catch(() => undefined)]);
    if (d === undefined) {
      await rename(src, dst);
    } else if (s.isDirectory() && d.isDirectory()) {
      await mergeInto(src, dst, srcDir, what);
    } else if (s.isDirectory() && d.isSymbolicLink()) {
      throw unsafe(`${what}: it has a directory $SRCDIR/${relative(srcDir, dst)} where an earlier source made a link: nothing is written through it`);
    } else {
      // rename replaces a file or a link by itself (never following it); a directory must go first.
      if (d.isDirectory()) await rm(dst, { recursive: true, force: true });
      await rename(src, dst);
    }
  }
}

/**
 * What a fresh extraction (to be placed at `srcDir/dest`) may hold: files, directories and
 * links whose text stays inside $SRCDIR (not absolute, not climbing above it). A device
 * node, fifo or socket (made by tar as root, on the host) or another link is unsafe-path.
 */
export async function assertPlainTree(root: string, srcDir: string, dest: string, what: string): Promise<void> {
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isBlockDevice() || entry.isCharacterDevice() || entry.isFIFO() || entry.isSocket()) {
      throw unsafe(`${what}: member ${relative(root, join(entry.parentPath, entry.name))} is a device node, fifo or socket`);
    }
    if (!entry.isSymbolicLink()) continue;
    const path = join(entry.parentPath, entry.name);
    const inSrc = join(dest, relative(root, path));
    const target = await readlink(path);
    const resolved = normalize(join(dirname(inSrc), target));
    if (isAbsolute(target) || resolved === '..' || resolved.startsWith(`..${sep}`)) {
      throw unsafe(`${what}: member ${relative(root, path)} is a link to ${target}, outside $SRCDIR`);
    }
  }
}
