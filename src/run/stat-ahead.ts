// A plan checks every artifact the records know with a stat of its meta.json, one after
// another (find-artifact.ts findArtifactSync). When their inodes are not cached (memory
// reclaimed, caches dropped, a reboot), each of those stats waits on the disk: 2.0 s of a
// 4.1-4.9 s no-change run of the 10,000-package benchmark tree. statAhead stats the first
// few; when most of them went to the disk it has worker threads stat them all ahead
// (recipes/prefetch.ts) while the tree is scanned and the graph built, so the planner finds
// them cached. Cached, it starts nothing: a few stats cost microseconds.

import { statSync } from 'node:fs';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import { prefetchFiles, type Prefetch } from '../recipes/prefetch.ts';
import { recordedMeta } from './find-artifact.ts';
import type { Records } from '../records/records.ts';

/** How many of the records' artifacts are stat'ed to tell whether their inodes are cached. */
export const PROBE_STATS = 8;
/** A stat slower than this (µs) went to the disk: 5-10 µs cached, 100-200 µs from the development machine's disk. */
export const COLD_STAT_US = 40;

/** How long a stat of `path` took, in µs (the tests give their own). */
export type TimeStat = (path: string) => number;

const timeStat: TimeStat = (path) => {
  const t0 = performance.now();
  statSync(path, { throwIfNoEntry: false });
  return (performance.now() - t0) * 1000;
};

/** Start stat'ing the records' artifacts ahead when they are not cached; undefined when nothing was started. Never throws: it only saves time. */
export function statAhead(store: ArtifactStore, records: Pick<Records, 'lastArtifacts'>, o: { timeStat?: TimeStat } = {}): Prefetch | undefined {
  try {
    // Entries of this cache only: a record of another cache dir (--cache changed since) is read, not stat'ed, by the planner.
    const metaOf = (known: readonly { key: string; artifact: string }[]): string[] => known.flatMap(({ key, artifact }) => recordedMeta(store, key, artifact) ?? []);
    const probe = metaOf(records.lastArtifacts(PROBE_ROWS)).slice(0, PROBE_STATS);
    if (probe.length < PROBE_STATS) return undefined;
    // Cold when most of them are: a first call is slower anyway, and a few may be cached.
    const slow = probe.filter((path) => (o.timeStat ?? timeStat)(path) > COLD_STAT_US).length;
    if (slow * 2 <= probe.length) return undefined;
    // Known cold: the workers need not probe again.
    return prefetchFiles(metaOf(records.lastArtifacts()), { stat: true, assumeCold: true });
  } catch {
    return undefined; // an odd record (a key of another format): the planner reports what matters
  }
}

/** Rows read for the probe: records of another cache dir among the oldest are passed over. */
const PROBE_ROWS = 64;
