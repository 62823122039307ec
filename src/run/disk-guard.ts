// kiln build --min-free: the free-space guard of a local run (BitBake's BB_DISKMON_DIRS
// STOPTASKS). Before a job starts, the state dir's disk is asked how much is free; below
// the limit, no more jobs start (the scheduler's fail-fast path): the running ones finish,
// every job not started is skipped with the cause lowSpaceCause gives (so the run fails).
// The disk is read at most once per READ_EVERY_MS, not once per job.

import type { EventBus } from '../events/events.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { lowOnSpace, stateFreeSpace } from './free-space.ts';
import type { StateLayout } from './state-layout.ts';

export interface DiskGuardRequest {
  /** kiln build --min-free, in bytes: no job starts while the state dir's disk has less free (0 or unset: off; a daemon guards its queue instead). */
  readonly minFreeBytes?: number | undefined;
}

type Free = { bytes: number; where: string } | undefined;

/** How long a reading of the free space is trusted. */
export const READ_EVERY_MS = 1_000;

/** Why a job did not start for want of space, or undefined when it may start (pure). */
export function lowSpaceCause(free: Free, minFreeBytes: number): string | undefined {
  if (free === undefined || !lowOnSpace(free, minFreeBytes)) return undefined;
  return `not started: only ${humanBytes(free.bytes)} free on ${free.where} (under --min-free ${humanBytes(minFreeBytes)}); free space (kiln cache gc --older-than 30d) and build again, or give a lower --min-free (0: no limit)`;
}

export interface DiskGuard {
  /** Before a job starts: why it may not (then none after it may either), or undefined. */
  readonly holdStart: () => string | undefined;
}

/** The guard of one run, or undefined when --min-free is off. */
export function diskGuardOf(
  req: DiskGuardRequest & { readonly state: StateLayout; readonly bus: EventBus },
  o: { free?: () => Free; now?: () => number } = {},
): DiskGuard | undefined {
  const min = req.minFreeBytes ?? 0;
  if (min <= 0) return undefined;
  const free = o.free ?? (() => stateFreeSpace(req.state));
  const now = o.now ?? Date.now;
  let read: { at: number; free: Free } | undefined;
  let cause: string | undefined;
  return {
    holdStart: () => {
      if (cause !== undefined) return cause;
      const t = now();
      if (read === undefined || t - read.at >= READ_EVERY_MS) read = { at: t, free: free() };
      cause = lowSpaceCause(read.free, min);
      if (cause !== undefined) {
        const f = read.free!;
        req.bus.emit({ type: 'note', at: Date.now(), text: `--min-free: only ${humanBytes(f.bytes)} free on ${f.where}, under ${humanBytes(min)}: no more jobs start (running ones finish); free space (kiln cache gc --older-than 30d) and build again, or give a lower --min-free (0: no limit)` });
      }
      return cause;
    },
  };
}
