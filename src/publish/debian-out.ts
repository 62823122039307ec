// kiln build --debian … --out DIR: what a Debian package's build made for an upload (its
// .changes, .buildinfo and binary packages), copied out of the artifact where the user
// asks, as sbuild leaves them beside the source for debsign and dput. The .changes lists
// exactly these files, so DIR is ready to sign and upload.

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The files of a Debian build's output that an upload takes (pure). */
export function isUploadFile(name: string): boolean {
  return /\.(changes|buildinfo|deb|udeb|ddeb)$/.test(name) && !name.startsWith('.');
}

/**
 * Copies the upload files of one job's staged output (`from`) into `outDir`: regular
 * files only (a symlink in a build's output is never followed), each written aside and
 * renamed into place, replacing a file of the same name (a rebuild's). Returns the names.
 */
export async function copyUploadFiles(from: string, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const copied: string[] = [];
  for (const name of (await readdir(from)).filter(isUploadFile).sort()) {
    if (!(await lstat(join(from, name))).isFile()) continue;
    // A name nobody can guess, created only if nothing is there: DIR may be another
    // user's, who must not get kiln (root) to write through a link planted at that name.
    const aside = join(outDir, `.${name}.kiln-${randomBytes(8).toString('hex')}`);
    try {
      await copyFile(join(from, name), aside, constants.COPYFILE_EXCL);
      await rename(aside, join(outDir, name));
    } finally {
      await rm(aside, { force: true });
    }
    copied.push(name);
  }
  return copied;
}
