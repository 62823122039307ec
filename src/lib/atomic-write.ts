// Write a file so that readers see either the old or the whole new content, never half.
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, basename, join } from 'node:path';

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * With `mode`, the temp file is created with it and chmod'ed to it (umask aside) before
 * anything is written: a secret is never readable by others, not even for a moment.
 */
export async function atomicWrite(path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'wx', options.mode);
    try {
      if (options.mode !== undefined) await fh.chmod(options.mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
