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
