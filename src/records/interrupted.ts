// Runs whose kiln process died: at start, kiln marks every run left 'running' by a kiln
// on this host that no longer exists as 'cancelled', with its cut-off and never-started
// jobs (records.ts calls this inside its own store; this file holds only the recovery).

import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import type { StatementSync } from 'node:sqlite';
import type { JobState } from '../plan/job.ts';
import { pidAlive as isAlive } from '../lib/pid-alive.ts';
import type { JobCounts, JobRecord, RunState } from './record-types.ts';

/** What the recovery needs of the records store. */
export interface InterruptedStore {
  transaction<T>(fn: () => T): T;
  stmt(sql: string): StatementSync;
  jobsOfRun(runId: string): JobRecord[];
  finishRun(id: string, end: { state: Exclude<RunState, 'running'>; endedAt: number; counts: JobCounts }): void;
}

/**
 * Runs left 'running' by a kiln process on this host that no longer exists become
 * 'cancelled', and so do their running jobs. Call at start. Returns the run ids marked.
 * (A recycled pid makes a dead run look alive; it is then marked on a later start.)
 *
 * When the process died is not recorded anywhere, so the best knowledge stands in: a
 * cut-off job ends at its log's last write (the log is flushed at least every 100 ms
 * while output comes), and with no log left its end and duration stay unknown (null)
 * rather than a made-up 0 ms. The run ends at the latest moment it is known to have
 * been alive: its last job start, end or log write.
 */
export function markInterruptedRuns(s: InterruptedStore): string[] {
  const here = hostname();
  return s.transaction(() => {
    const marked: string[] = [];
    const running = s.stmt(`SELECT id, pid, host, started_at FROM runs WHERE state = 'running'`).all();
    for (const r of running) {
      const pid = r['pid'] as number | null;
      if (!runProcessGone({ pid, host: r['host'] as string | null }, here)) continue;
      const id = r['id'] as string;
      let endedAt = r['started_at'] as number;
      const last = s.stmt(`SELECT max(max(coalesce(ended_at, 0), coalesce(started_at, 0))) AS t FROM jobs WHERE run_id = ?`).get(id)?.['t'];
      if (typeof last === 'number') endedAt = Math.max(endedAt, last);
      const cause = `interrupted: the kiln process (pid ${pid}) ended while this job was running`;
      const cut = s.stmt(`SELECT attempt, job_id, started_at, log FROM jobs WHERE run_id = ? AND state = 'running'`).all(id);
      for (const j of cut) {
        const startedAt = j['started_at'] as number | null;
        const log = j['log'] as string | null;
        // The last write of its log, or the run's last sign of life (its log folder's
        // mtime, refreshed every few seconds while jobs run): a silent build ran until then.
        const runDir = log === null || basename(dirname(log)) !== id ? undefined : dirname(log);
        const times = log === null ? [] : [statSync(log, { throwIfNoEntry: false })?.mtimeMs, runDir === undefined ? undefined : statSync(runDir, { throwIfNoEntry: false })?.mtimeMs];
        const seen = times.filter((x): x is number => x !== undefined);
        const lastWrite = seen.length === 0 ? undefined : Math.max(...seen);
        const end = lastWrite === undefined ? null : Math.max(Math.round(lastWrite), startedAt ?? 0);
        if (end !== null) endedAt = Math.max(endedAt, end);
        s.stmt(
          `UPDATE jobs SET state = 'cancelled', ended_at = ?, duration_ms = ?, cause = ?
           WHERE run_id = ? AND job_id = ? AND attempt = ?`,
        ).run(end, end === null || startedAt === null ? null : end - startedAt, cause, id, j['job_id'] as string, j['attempt'] as number);
      }
      // The packages it was to build and never started are on record too, as cancelled.
      const notStarted = s.stmt(
        `SELECT e.value AS job_id FROM runs r, json_each(r.to_build) e
         WHERE r.id = ? AND r.to_build IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.job_id = e.value)`,
      ).all(id);
      for (const row of notStarted) {
        const jobId = row['job_id'] as string;
        const at = jobId.lastIndexOf('@');
        const version = s.stmt(`SELECT version FROM jobs WHERE job_id = ? AND version != '?' ORDER BY rowid DESC LIMIT 1`).get(jobId)?.['version'];
        s.stmt(
          `INSERT INTO jobs (run_id, job_id, attempt, name, version, arch, state, cause, ended_at) VALUES (?, ?, 1, ?, ?, ?, 'cancelled', ?, ?)`,
        ).run(id, jobId, jobId.slice(0, at), typeof version === 'string' ? version : '?', jobId.slice(at + 1), `not started: the kiln process (pid ${pid}) ended first`, endedAt);
      }
      const counts: Partial<Record<JobState, number>> = {};
      for (const j of s.jobsOfRun(id)) {
        if (j.state !== 'running') counts[j.state] = (counts[j.state] ?? 0) + 1;
      }
      s.finishRun(id, { state: 'cancelled', endedAt, counts });
      marked.push(id);
    }
    return marked;
  });
}

/**
 * Whether the kiln process that owns a run is known to be gone: it ran on this host and
 * its pid is dead (or a zombie). A run of another host, or without a pid, is never
 * known to be gone. (The runs table has no process start time: a recycled pid looks alive.)
 */
export function runProcessGone(run: { readonly pid: number | null; readonly host: string | null }, here = hostname()): boolean {
  if (run.host !== null && run.host !== here) return false;
  return run.pid !== null && !isAlive(run.pid);
}
