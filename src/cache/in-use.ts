// What running builds rely on, so that `kiln cache gc` (from any state directory sharing
// the cache) leaves it alone: `<cache>/in-use/<run>.json` per run that has something to
// build, holding the kiln process (pid and start time), when the run started, and the
// artifact keys of the up-to-date packages its builds will stage. Those were planned up to
// date without being touched, so their last use may be months old. Artifacts (and
// downloads) used since the run started are recent: gc keeps everything used since the
// oldest live run started. A file whose process is gone is stale and removed by gc.

import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { processStartTime, sameProcessAlive } from '../envs/leases.ts';
import { atomicWrite } from '../lib/atomic-write.ts';

interface InUseFile {
  readonly pid: number;
  /** The process's start time (/proc/PID/stat), so that a reused pid does not count. */
  readonly start: number | null;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly keys: readonly string[];
  /** The machine of the kiln process (a cache on a shared file system); absent in files of older kilns. */
  readonly host?: string;
}

/** A run of another machine cannot be checked for life: it counts as live for this long after it started. */
export const OTHER_HOST_LIVE_MS = 7 * 86_400_000;

export interface InUse {
  /** Artifact keys live runs will stage. */
  readonly keys: ReadonlySet<string>;
  /** When the oldest live run started; undefined when none runs. */
  readonly since: number | undefined;
}

const dirOf = (cacheDir: string): string => join(cacheDir, 'in-use');

/** Record a run's artifact keys until release() (call it when the run ends, whatever happened). */
export async function registerInUse(cacheDir: string, runId: string, keys: readonly string[], startedAt = Date.now()): Promise<{ release(): Promise<void> }> {
  const dir = dirOf(cacheDir);
  await mkdir(dir, { recursive: true });
  // Files of runs whose kiln died go now rather than at the next gc.
  await liveInUse(cacheDir);
  const file = join(dir, `${runId}.json`);
  const body: InUseFile = { pid: process.pid, start: processStartTime(process.pid) ?? null, startedAt, keys, host: hostname() };
  await atomicWrite(file, JSON.stringify(body));
  return { release: () => rm(file, { force: true }) };
}

/** What live runs use; files of runs whose kiln is gone are removed on the way (unless dryRun). */
export async function liveInUse(cacheDir: string, options: { dryRun?: boolean } = {}): Promise<InUse> {
  const dir = dirOf(cacheDir);
  const keys = new Set<string>();
  let since: number | undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return { keys, since };
  }
  for (const name of names) {
    let f: InUseFile | undefined;
    try {
      f = JSON.parse(readFileSync(join(dir, name), 'utf8')) as InUseFile;
    } catch {
      f = undefined; // being written (atomicWrite renames whole files: only a torn leftover)
    }
    // A pid means something only on its own machine: another one's run lives until it is
    // old enough to be surely gone (its release removes the file long before, normally).
    const elsewhere = f !== undefined && typeof f.host === 'string' && f.host !== hostname();
    const alive = f !== undefined && typeof f.pid === 'number' && (elsewhere ? Date.now() - f.startedAt < OTHER_HOST_LIVE_MS : sameProcessAlive(f.pid, f.start));
    if (!alive) {
      if (f !== undefined && options.dryRun !== true) await rm(join(dir, name), { force: true });
      continue;
    }
    for (const k of f!.keys) keys.add(k);
    since = since === undefined ? f!.startedAt : Math.min(since, f!.startedAt);
  }
  return { keys, since };
}

/**
 * Whether a --force'd rebuild's other output must leave the entry of `key` as it is: a live
 * run stages it (another state directory on this cache, a kept root), and its dependents'
 * keys name the stored output. Says so through `onKept`.
 */
export async function keepForLiveRun(cacheDir: string, key: string, storedOutput: string, onKept?: (text: string) => void): Promise<boolean> {
  if (!(await liveInUse(cacheDir, { dryRun: true })).keys.has(key)) return false;
  onKept?.(`its output differs from the stored one (${storedOutput.slice(0, 16)}), which is kept: a run still going stages it; force it again once that run has ended`);
  return true;
}
