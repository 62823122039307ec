// The reaper: at start, kiln removes what a dead kiln left behind. For every journal
// entry whose owner is gone: SIGKILL whatever is still in its cgroup (normally nothing:
// the parent-death signal took the build down with kiln), remove the cgroup, detach any
// mount still under its workspace (normally none: mounts die with their namespace),
// delete the workspace, drop the entry. Then stale cross-process locks of dead pids.
//
// Safe to run while other kilns use the same state dir: it only touches entries and
// locks whose owner is provably dead on this host. The cgroup and mount code is loaded
// only when there is a dead sandbox to clean up (normally never).

import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { holderAlive, parseLockContent } from '../cache/lock.ts';
import { removeTree } from './host.ts';
import { ownerAlive, readEntries, type JournalEntry } from './journal.ts';

export interface ReapReport {
  /** Journal entries of dead kilns that were cleaned up (their ids, or file for garbled ones). */
  readonly sandboxes: string[];
  readonly cgroups: string[];
  readonly mounts: string[];
  readonly workspaces: string[];
  readonly locks: string[];
}

export interface ReapOptions {
  /** Where the cross-process locks are (default `<stateDir>/cache`). */
  readonly cacheDir?: string;
}

export async function reapSandboxes(stateDir: string, options: ReapOptions = {}): Promise<ReapReport> {
  const report: ReapReport = { sandboxes: [], cgroups: [], mounts: [], workspaces: [], locks: [] };
  for (const { file, entry } of await readEntries(stateDir)) {
    if (entry === undefined) {
      await rm(file, { force: true });
      report.sandboxes.push(file);
      continue;
    }
    if (ownerAlive(entry)) continue;
    await reapEntry(entry, report);
    await rm(file, { force: true });
    report.sandboxes.push(entry.id);
  }
  report.locks.push(...(await removeStaleLocks(join(options.cacheDir ?? join(stateDir, 'cache'), 'locks'))));
  return report;
}

/** Remove everything one dead sandbox may have left (not its journal file). */
export async function reapEntry(entry: JournalEntry, report: Pick<ReapReport, 'cgroups' | 'mounts' | 'workspaces'>): Promise<void> {
  const [{ openCgroup }, { liveMountsUnder, unmountLazily }] = await Promise.all([import('./cgroups/cgroups.ts'), import('./mounts.ts')]);
  if (entry.cgroup !== null) {
    const cg = openCgroup(entry.cgroup);
    const present = await Promise.all(cg.paths.map((p) => readdir(p).then(() => p, () => undefined)));
    await cg.remove();
    report.cgroups.push(...present.filter((p) => p !== undefined));
  }
  for (const m of await liveMountsUnder(entry.workDir)) {
    await unmountLazily(m);
    report.mounts.push(m);
  }
  const existed = await readdir(entry.workDir).then(() => true, () => false);
  await removeTree(entry.workDir);
  if (existed) report.workspaces.push(entry.workDir);
}

/** Lock files (see cache/lock.ts) held by a pid of this host that no longer runs. */
export async function staleLocks(lockDir: string): Promise<string[]> {
  const names = await readdir(lockDir).catch(() => [] as string[]);
  const here = hostname();
  const stale: string[] = [];
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const path = join(lockDir, name);
    const holder = parseLockContent(await readFile(path, 'utf8').catch(() => ''));
    if (holder !== undefined && holder.host === here && !holderAlive(holder)) stale.push(path);
  }
  return stale;
}

async function removeStaleLocks(lockDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const path of await staleLocks(lockDir)) if (await breakLock(path)) removed.push(path);
  return removed;
}

/**
 * Delete a stale lock the way cache/lock.ts breaks one: under `<lock>.break` (O_EXCL),
 * and only if it still holds the dead holder's content, so a lock a waiter has just
 * retaken is never deleted.
 */
export async function breakLock(path: string): Promise<boolean> {
  const seen = await readFile(path, 'utf8').catch(() => undefined);
  const holder = seen === undefined ? undefined : parseLockContent(seen);
  if (holder === undefined || holderAlive(holder)) return false;
  const breakPath = `${path}.break`;
  try {
    await writeFile(breakPath, `${process.pid} ${hostname()} ${Date.now()}\n`, { flag: 'wx' });
  } catch {
    return false; // someone is breaking it right now
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => undefined)) !== seen) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await rm(breakPath, { force: true });
  }
}
