// packages/All/: every artifact of the package index under a name a person or an image
// builder can use (`zlib_1.2.13-1_amd64.tar.zst`, poudriere's packages/All), next to
// index.json. Each file is a hard link to the artifact's archive in the cache (a symlink
// when the cache is on another file system), so it costs no space; the set is made to
// match the index each time the index changes, under its lock: a package's new version
// replaces the old file, and an entry dropped from the index (cache gc) takes its file.
// Packages that install nothing have no archive and no file.

import { linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export const FILES_DIR = 'All';

/** The file name of a package's archive in packages/All (an epoch is left out, as in a Debian pool). */
export function packageFileName(p: { name: string; version: string; release: number; arch: string }): string {
  return `${p.name}_${p.version.replace(/^\d+:/, '')}-${p.release}_${p.arch}.tar.zst`;
}

/**
 * Make `<packagesDir>/All` hold exactly one file per entry with an archive (`path` ending
 * in .tar.zst); returns the name under All/ of each entry's file, by `name@arch`.
 */
export function syncPackageFiles(packagesDir: string, entries: readonly { name: string; version: string; release: number; arch: string; path: string }[]): Map<string, string> {
  const dir = join(packagesDir, FILES_DIR);
  const wanted = new Map<string, string>();
  const byId = new Map<string, string>();
  /** The entry (`name@arch`) of each file name. */
  const idOf = new Map<string, string>();
  for (const e of entries) {
    if (!e.path.endsWith('.tar.zst')) continue;
    const name = packageFileName(e);
    wanted.set(name, e.path);
    byId.set(`${e.name}@${e.arch}`, `${FILES_DIR}/${name}`);
    idOf.set(name, `${e.name}@${e.arch}`);
  }
  let present = new Set<string>();
  try {
    present = new Set(readdirSync(dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (wanted.size === 0 && present.size === 0) return byId;
  mkdirSync(dir, { recursive: true });
  for (const name of present) {
    const target = wanted.get(name);
    // A file of a package no longer in the index, or a leftover temporary: removed.
    if (target === undefined) rmSync(join(dir, name), { recursive: true, force: true });
  }
  for (const [name, target] of wanted) {
    const file = join(dir, name);
    if (present.has(name) && sameFile(file, target)) continue;
    // Made beside it and renamed over it: a reader sees the old file or the new one.
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    try {
      linkSync(target, tmp);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Gone from the cache meanwhile (another kiln's gc): no file for it (the index drops it next).
      if (code === 'ENOENT') {
        byId.delete(idOf.get(name)!);
        rmSync(file, { recursive: true, force: true });
        continue;
      }
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
      symlinkSync(target, tmp);
    }
    renameSync(tmp, file);
  }
  return byId;
}

/** Whether `file` is (a link to) `target`. */
function sameFile(file: string, target: string): boolean {
  try {
    const a = statSync(file);
    const b = statSync(target);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
