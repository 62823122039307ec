// kiln cache gc, the state directory's side: the logs and reports of old runs, and the
// daemon's uploaded bundles no build needs any more. Their records stay (history, status),
// so `kiln logs` of such a run says its log was removed rather than that it never was.
//
// A run goes when it ended before the cutoff and is not among the last --keep-last-runs
// (but each package's last log, and the log of its last success, stay); a
// running one never does (markInterruptedRuns has already ended those of dead kilns). A
// bundle goes when it was uploaded before the cutoff and no queued or running build names it.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { treeBytes } from '../cache/du.ts';
import type { Records } from '../records/records.ts';
import type { StateLayout } from './state-layout.ts';

export interface GcRunsRemoved {
  /** `run`: a run's logs folder or report folder; `log`: one log file of a run whose other logs stay. */
  readonly kind: 'run' | 'log' | 'bundle';
  readonly path: string;
  readonly bytes: number;
}

/** The runs whose logs and reports go (pure): ended before `cutoff`, not among the `keep` newest. */
export function runsToRemove(runs: readonly { id: string; startedAt: number; endedAt: number | null }[], cutoff: number, keep: number): string[] {
  const newest = new Set([...runs].sort((a, b) => b.startedAt - a.startedAt).slice(0, keep).map((r) => r.id));
  return runs.filter((r) => r.endedAt !== null && r.endedAt < cutoff && !newest.has(r.id)).map((r) => r.id);
}

export async function gcRuns(state: StateLayout, records: Records, o: { cutoff: number; keepLastRuns: number; dryRun: boolean }): Promise<GcRunsRemoved[]> {
  const removed: GcRunsRemoved[] = [];
  const runs = records.listRuns({ limit: 1_000_000 });
  const ids = runsToRemove(runs, o.cutoff, o.keepLastRuns);
  // Each package's last log stays, as poudriere keeps it: `kiln logs PKG` of an up-to-date
  // package still shows the build its artifact came from.
  // By run and file name, not by the path the build wrote: the state dir may be reached
  // by another path now (a symlink, a bind mount, moved).
  const kept = new Set(ids.length === 0 ? [] : [...records.latestLogs()].map((log) => `${basename(dirname(log))}/${basename(log)}`));
  for (const id of ids) {
    const logs = join(state.logs, id);
    // With the files beside a kept log: its compressed whole (X.log.zst), --twice's X.log.twice.json.
    const keep = new Set(existsSync(logs) ? readdirSync(logs).filter((f) => kept.has(`${id}/${f}`) || kept.has(`${id}/${logOfSibling(f)}`)) : []);
    if (keep.size > 0) {
      for (const f of readdirSync(logs)) {
        if (keep.has(f)) continue;
        const path = join(logs, f);
        removed.push({ kind: 'log', path, bytes: await treeBytes(path) });
        if (!o.dryRun) rmSync(path, { recursive: true, force: true });
      }
    }
    for (const dir of keep.size > 0 ? [join(state.root, 'runs', id)] : [logs, join(state.root, 'runs', id)]) {
      if (!existsSync(dir)) continue;
      removed.push({ kind: 'run', path: dir, bytes: await treeBytes(dir) });
      if (!o.dryRun) rmSync(dir, { recursive: true, force: true });
    }
  }
  return removed;
}

/** The daemon's bundles uploaded before the cutoff that no queued or running build names. */
export async function gcBundles(state: StateLayout, o: { cutoff: number; dryRun: boolean }): Promise<GcRunsRemoved[]> {
  if (!existsSync(join(state.root, 'bundles'))) return [];
  const { openServerRecords } = await import('../records/server-records.ts');
  const { bundleDir } = await import('../server/bundles.ts');
  using records = openServerRecords(state.root);
  const needed = new Set<string>();
  for (const s of ['queued', 'running'] as const) {
    for (const b of records.listBuilds({ state: s, limit: 1_000_000 })) {
      const bundle = (b.request as { bundle?: string }).bundle;
      if (bundle !== undefined) needed.add(`${b.tenant}/${bundle}`);
    }
  }
  const removed: GcRunsRemoved[] = [];
  for (const b of records.listBundles()) {
    if (b.createdAt >= o.cutoff || needed.has(`${b.tenant}/${b.id}`)) continue;
    const dir = bundleDir(state.root, b.tenant, b.id);
    const bytes = await treeBytes(dir);
    if (!o.dryRun) {
      // Checked again in the same statement that forgets it: a build queued since stays.
      if (!records.deleteUnneededBundle(b.tenant, b.id, o.cutoff)) continue;
      rmSync(dir, { recursive: true, force: true });
    }
    removed.push({ kind: 'bundle', path: dir, bytes });
  }
  return removed;
}

/** The log a file beside it belongs to (`x_amd64.log.zst` → `x_amd64.log`), or the name itself. */
function logOfSibling(file: string): string {
  for (const suffix of ['.zst', '.twice.json', '.twice']) {
    if (file.endsWith(`.log${suffix}`)) return file.slice(0, -suffix.length);
  }
  return file;
}
