// The free space of a state dir's disks, for the free-space guards (kiln serve --min-free,
// kiln worker --min-free): no build starts while it is below the limit.

import { statfsSync } from 'node:fs';
import type { StateLayout } from './state-layout.ts';

/** The default of --min-free (kiln serve, kiln worker): no build starts while the state's disk has less. */
export const DEFAULT_MIN_FREE = 1024 ** 3;

/** The free space where builds write (workspaces and cache), the fuller of the two file systems. */
export function stateFreeSpace(state: StateLayout): { bytes: number; where: string } | undefined {
  let least: { bytes: number; where: string } | undefined;
  for (const where of [state.work, state.cache]) {
    // Not made yet: its parent, the state dir, is where it will be.
    for (const dir of [where, state.root]) {
      try {
        const st = statfsSync(dir);
        const bytes = st.bavail * st.bsize;
        if (least === undefined || bytes < least.bytes) least = { bytes, where: dir };
        break;
      } catch {
        // try the next
      }
    }
  }
  return least;
}

/** The guard's decision: whether a build may start with `free` bytes left (pure). */
export function lowOnSpace(free: { bytes: number } | undefined, minFreeBytes: number): boolean {
  return minFreeBytes > 0 && free !== undefined && free.bytes < minFreeBytes;
}
