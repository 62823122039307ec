// A worker's own copies of its jobs' logs (STATE/logs/worker/RUN/), which the coordinator
// has too: kept `--keep-logs` (default 7 days) after their run's last write, then removed,
// at start and every hour, so a long-lived worker's disk does not fill with them.

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The default of kiln worker --keep-logs. */
export const DEFAULT_KEEP_LOGS_MS = 7 * 24 * 3600_000;
/** How often a running worker looks. */
export const PRUNE_EVERY_MS = 3600_000;

/** The run folders of `dir` last written more than `keepMs` before `now`, but not those of runs it builds for now (pure). */
export function oldRuns(runs: readonly { name: string; mtimeMs: number }[], keepMs: number, now: number, active: ReadonlySet<string> = new Set()): string[] {
  return runs.filter((r) => now - r.mtimeMs > keepMs && !active.has(r.name)).map((r) => r.name);
}

/** Removes the run folders of `dir` (logs/worker) older than `keepMs`, but not `active` runs'; returns how many. */
export async function pruneWorkerLogs(dir: string, keepMs: number, now = Date.now(), active: ReadonlySet<string> = new Set()): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const runs: { name: string; mtimeMs: number }[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const st = await stat(join(dir, e.name)).catch(() => undefined);
    if (st !== undefined) runs.push({ name: e.name, mtimeMs: st.mtimeMs });
  }
  const old = oldRuns(runs, keepMs, now, active);
  for (const name of old) await rm(join(dir, name), { recursive: true, force: true });
  return old.length;
}

/** Prunes `dir` now and every PRUNE_EVERY_MS, never the runs `active` names (being built); stop() ends it. */
export function pruneWorkerLogsEvery(dir: string, keepMs: number, active: () => ReadonlySet<string>, say: (text: string) => void): { stop(): void } {
  const prune = (): void => {
    void pruneWorkerLogs(dir, keepMs, Date.now(), active()).then((n) => {
      if (n > 0) say(`removed its copies of the logs of ${n} run(s) older than --keep-logs`);
    }, () => undefined);
  };
  prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
