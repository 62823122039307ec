// Each run's workspace folder (`<state>/work/<run>/`) carries an owner file naming the
// kiln process that made it. At start, kiln removes the folders of owners that are gone,
// so a SIGKILLed kiln leaves no orphan workspace even when it died before its records
// were written; and the cache's tmp/ entries it was writing (cache/tmp-leftovers.ts).

import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processStartTime, sameProcessAlive } from '../envs/leases.ts';
import { tmpLeftovers } from '../cache/tmp-leftovers.ts';
import { removeTree } from '../sandbox/host.ts';
import { reapSandboxes } from '../sandbox/reaper.ts';
import type { StateLayout } from './state-layout.ts';

const OWNER = '.owner';

export async function claimRunWorkspace(workRoot: string, runId: string): Promise<string> {
  const dir = join(workRoot, runId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, OWNER), JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null }));
  return dir;
}

/**
 * What dead kiln processes left in a state dir: their sandboxes (mounts, cgroups, journal
 * entries: first, so nothing is removed through a mount), then their folders of work, then
 * what they were writing in the cache's tmp/. A build does it as it starts, and so does a
 * worker.
 */
export async function reapLeftovers(state: StateLayout): Promise<void> {
  await reapSandboxes(state.root, { cacheDir: state.cache });
  await reapRunWorkspaces(state.work);
  await reapCacheTmp(state.cache);
}

/** Remove the cache tmp/ entries whose kiln is gone (tmp-leftovers.ts); returns what was removed. */
export async function reapCacheTmp(cacheDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const { path, recent } of await tmpLeftovers(cacheDir)) {
    // Written to lately: maybe a kiln of another machine's, whose pid means nothing here (doctor says it).
    if (recent) continue;
    try {
      await removeTree(path);
      removed.push(path);
    } catch {
      // Not ours to remove (another user's cache entry): `kiln doctor` says so.
    }
  }
  return removed;
}

/** Remove the workspace folders of runs whose kiln is gone; returns what was removed. */
export async function reapRunWorkspaces(workRoot: string): Promise<string[]> {
  let runs: string[];
  try {
    runs = readdirSync(workRoot);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const run of runs) {
    const dir = join(workRoot, run);
    if (folderOwnerAlive(dir) !== false) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/**
 * Whether the kiln process named by `dir`'s owner file still runs; undefined when there is
 * no readable owner file (a folder of an older kiln, or half made: `kiln doctor` judges it).
 */
export function folderOwnerAlive(dir: string): boolean | undefined {
  let owner: { pid?: number; start?: number | null } | undefined;
  try {
    owner = JSON.parse(readFileSync(join(dir, OWNER), 'utf8')) as { pid?: number; start?: number | null };
  } catch {
    return undefined;
  }
  if (owner?.pid === undefined) return undefined;
  return sameProcessAlive(owner.pid, owner.start);
}
