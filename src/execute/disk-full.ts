// Whether a build failed with the disk of its workspace full: the machine's problem, not
// the package's (failure reason disk-full, reliability case 9).

import { statfsSync, type StatsFs } from 'node:fs';
import { humanBytes } from '../lib/human-bytes.ts';

/**
 * When the file system holding `dir` is (nearly) full, what it has left, e.g. "12 KiB free
 * of 64 MiB"; undefined otherwise. Nearly: less than 1 MiB or 0.1% of its size free, to
 * users other than root (a build's writes stop there, except root's on ext4).
 */
export function workspaceDiskFull(dir: string): string | undefined {
  let st: StatsFs;
  try {
    st = statfsSync(dir);
  } catch {
    return undefined;
  }
  const size = st.blocks * st.bsize;
  const free = st.bavail * st.bsize;
  if (size <= 0 || free >= Math.max(1024 ** 2, size / 1000)) return undefined;
  return `${humanBytes(free)} free of ${humanBytes(size)}`;
}

/** What a job that failed for a full disk tells its user to do. */
export const FREE_SPACE_ADVICE = 'free space there (kiln cache gc, old runs), then build it again';

/**
 * Whether `e` (or an error in its cause chain) is a write refused for want of space: ENOSPC,
 * EDQUOT, or a tool's "No space left on device" (tar, zstd). Storing an artifact into a
 * full cache disk is then the machine's problem too (disk-full, reliability case 10).
 */
export function noSpaceLeft(e: unknown): boolean {
  for (let x: unknown = e; x instanceof Error; x = x.cause) {
    const code = (x as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || /No space left on device|Disk quota exceeded/.test(x.message)) return true;
  }
  return false;
}
