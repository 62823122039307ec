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

/** How the cause of a job cut off by its kiln's death begins. */
const CUT_OFF_CAUSE = 'interrupted: the kiln process';

/** Whether a jobs row is a job cut off by its kiln's death (its end is its run's last sign of life). */
export function cutOff(row: { readonly state?: unknown; readonly cause?: unknown }): boolean {
  return row.state === 'cancelled' && typeof row.cause === 'string' && row.cause.startsWith(CUT_OFF_CAUSE);
}

/**
 * Runs left 'running' by a kiln process on this host that no longer exists become
 * 'cancelled', and so do their running jobs. Call at start. Returns the run ids marked.
 * (A recycled pid makes a dead run look alive; it is then marked on a later start.)
 *
 * When the process died is not recorded anywhere, so the best evidence stands in: the
 * run's last sign of life (runs.alive_at, refreshed every second by its records
 * subscriber), its log folder's mtime (refreshed every few seconds: live-signs.ts), its
 * jobs' last log writes (flushed at least every 100 ms while output comes), starts and
 * ends, whichever is latest. A cut-off job ends there too (with no evidence at all, its
 * end and duration stay unknown, null, rather than a made-up 0 ms). The run is marked
 * `interrupted`, and its cut-off jobs' cause says when the last sign of life was: the
 * real end came after it, by up to a second with alive_at, or more without.
 */
export function markInterruptedRuns(s: InterruptedStore): string[] {
  const here = hostname();
  return s.transaction(() => {
    const marked: string[] = [];
    const running = s.stmt(`SELECT id, pid, host, started_at, alive_at FROM runs WHERE state = 'running'`).all();
    for (const r of running) {
      const pid = r['pid'] as number | null;
      if (!runProcessGone({ pid, host: r['host'] as string | null }, here)) continue;
      const id = r['id'] as string;
      let endedAt = r['started_at'] as number;
      const last = s.stmt(`SELECT max(max(coalesce(ended_at, 0), coalesce(started_at, 0))) AS t FROM jobs WHERE run_id = ?`).get(id)?.['t'];
      if (typeof last === 'number') endedAt = Math.max(endedAt, last);
      // Its heartbeat in the records (null: a kiln from before migration 18, or killed within a second).
      const aliveAt = typeof r['alive_at'] === 'number' ? r['alive_at'] : undefined;
      if (aliveAt !== undefined) endedAt = Math.max(endedAt, aliveAt);
      const cut = s.stmt(`SELECT attempt, job_id, started_at, log FROM jobs WHERE run_id = ? AND state = 'running'`).all(id);
      const ends: { jobId: string; attempt: number; startedAt: number | null; end: number | null }[] = [];
      for (const j of cut) {
        const startedAt = j['started_at'] as number | null;
        const log = j['log'] as string | null;
        // The last write of its log, or the run's last sign of life (its log folder's
        // mtime, refreshed every few seconds while jobs run): a silent build ran until then.
        const runDir = log === null || basename(dirname(log)) !== id ? undefined : dirname(log);
        const times = log === null ? [] : [statSync(log, { throwIfNoEntry: false })?.mtimeMs, runDir === undefined ? undefined : statSync(runDir, { throwIfNoEntry: false })?.mtimeMs];
        // (The run's heartbeat says it was alive then: a job still running on record ran until then.)
        const seen = [...times, aliveAt].filter((x): x is number => x !== undefined);
        const lastSign = seen.length === 0 ? undefined : Math.max(...seen);
        const end = lastSign === undefined ? null : Math.max(Math.round(lastSign), startedAt ?? 0);
        if (end !== null) endedAt = Math.max(endedAt, end);
        ends.push({ jobId: j['job_id'] as string, attempt: j['attempt'] as number, startedAt, end });
      }
      // Every cut-off job ran until the run's last sign of life, whichever gave it.
      const cause = `${CUT_OFF_CAUSE} (pid ${pid}) ended while this job was running; last sign of life at ${new Date(endedAt).toISOString()} (when it stopped is not known)`;
      for (const j of ends) {
        const end = j.end === null ? null : endedAt;
        s.stmt(
          `UPDATE jobs SET state = 'cancelled', ended_at = ?, duration_ms = ?, cause = ?
           WHERE run_id = ? AND job_id = ? AND attempt = ?`,
        ).run(end, end === null || j.startedAt === null ? null : end - j.startedAt, cause, id, j.jobId, j.attempt);
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
      s.stmt('UPDATE runs SET interrupted = 1 WHERE id = ?').run(id);
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
