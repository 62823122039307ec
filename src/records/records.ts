// Records: what happened in every run, in SQLite at <stateDir>/kiln.db. Only the files of
// src/records/ speak SQL (the recovery of dead runs is in interrupted.ts). Writers are the event subscriber (subscriber.ts, which batches
// events into transactions) and the planner (recordJobInputs); readers are the planner
// (why-rebuild, previous failures, learned durations), reports, `kiln status` and cache gc.
// This file holds the writes; the reads are record-queries.ts, which Records extends.
//
// One row per (run, job, attempt). A job-started event inserts a 'running' row; job-finished
// and job-settled complete the newest attempt if it is still running, else add a row. Rows
// for packages that never ran (up-to-date, broken, skipped) exist too, so a report can be
// rebuilt from the database alone. Several kiln processes may share one state dir: WAL and
// a 10 s busy timeout (db.ts) make their short write transactions take turns.

import type { ReservedBinnmu } from '../debian/auto-binnmu.ts';
import { hostname } from 'node:os';
import type { JobState } from '../plan/job.ts';
import { openDatabaseIn, recordsPath, type Row } from './db.ts';
import { markInterruptedRuns } from './interrupted.ts';
import { RecordQueries } from './record-queries.ts';

export { runProcessGone } from './interrupted.ts';
export type { RunState, JobRecordState, JobCounts, RunRecord, JobRecord, JobInputs, JobRecordWithInputs, CreateRunInput, JobStartInput, JobEndInput, JobSettledInput, PackageState } from './record-types.ts';
import type { RunState, JobCounts, JobInputs, CreateRunInput, JobStartInput, JobEndInput, JobSettledInput, SuccessOutput } from './record-types.ts';

import { EARLY_CUTOFF_CAUSE } from '../plan/job.ts';
export { EARLY_CUTOFF_CAUSE };

export function openRecords(stateDir: string): Records {
  return new Records(openDatabaseIn(stateDir), recordsPath(stateDir));
}

export class Records extends RecordQueries {
  get inTransaction(): boolean {
    return this.db.isOpen && this.db.isTransaction;
  }

  /** Run fn in one write transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    // IMMEDIATE takes the write lock up front, so a busy wait happens here, under the
    // busy timeout, rather than as an unretryable upgrade failure halfway through.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  // ---- writes -------------------------------------------------------------------------

  /** Insert the run unless it exists; true when inserted. */
  createRun(run: CreateRunInput): boolean {
    const r = this.stmt(
      `INSERT INTO runs (id, tree, targets, archs, started_at, state, pid, host, max_jobs, total, to_build)
       VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ).run(
      run.id, run.tree, JSON.stringify(run.targets), JSON.stringify(run.archs), run.startedAt,
      run.pid ?? process.pid, run.host ?? hostname(), run.maxJobs, run.total ?? null,
      run.toBuild === undefined ? null : JSON.stringify(run.toBuild),
    );
    return Number(r.changes) === 1;
  }

  finishRun(id: string, end: { state: Exclude<RunState, 'running'>; endedAt: number; counts: JobCounts }): void {
    this.stmt('UPDATE runs SET state = ?, ended_at = ?, counts = ? WHERE id = ?').run(
      end.state, end.endedAt, JSON.stringify(end.counts), id,
    );
  }

  /** A sign of life of running runs: their kiln was alive at `at` (markInterruptedRuns ends a dead one no earlier). */
  markAlive(runIds: Iterable<string>, at: number): void {
    const stmt = this.stmt(`UPDATE runs SET alive_at = ? WHERE id = ? AND state = 'running'`);
    this.transaction(() => {
      for (const id of runIds) stmt.run(at, id);
    });
  }

  recordJobStart(s: JobStartInput): void {
    this.stmt(
      `INSERT INTO jobs (run_id, job_id, attempt, name, version, arch, state, why, started_at, log)
       VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
       ON CONFLICT (run_id, job_id, attempt) DO UPDATE SET
         state = 'running', why = excluded.why, started_at = excluded.started_at, log = excluded.log`,
    ).run(s.runId, s.jobId, s.attempt, s.name, s.version, s.arch, JSON.stringify(s.why), s.startedAt, s.log);
  }

  /**
   * --binnmu auto: read the numbers given to builds of `name` `version`, choose this
   * build's (`choose`, debian/auto-binnmu.ts) and reserve it, in one write transaction,
   * so that another run choosing at the same time sees it. Returns the choice and the
   * reservation's id, for releaseBinnmu when the build does not succeed.
   */
  reserveBinnmu<C extends { readonly n: number }>(o: { name: string; version: string; arch: string; key: string }, choose: (reserved: readonly ReservedBinnmu[]) => C): { chosen: C; id: number } {
    return this.transaction(() => {
      const chosen = choose(this.binnmusOf(o.name, o.version));
      const r = this.stmt('INSERT INTO binnmus (name, version, arch, key, binary_version, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(o.name, o.version, o.arch, o.key, chosen.n === 0 ? null : `${o.version}+b${chosen.n}`, Date.now());
      return { chosen, id: Number(r.lastInsertRowid) };
    });
  }

  /** A reservation of reserveBinnmu whose build did not succeed: its number is free again. */
  releaseBinnmu(id: number): void {
    this.stmt('DELETE FROM binnmus WHERE rowid = ?').run(id);
  }

  recordJobEnd(e: JobEndInput): void {
    const attempt = this.#openAttempt(e);
    this.stmt(
      `UPDATE jobs SET state = ?, key = ?, output_hash = ?, artifact = ?, failure_reason = ?, cause = ?,
         exit_code = ?, signal = ?, user_ms = ?, system_ms = ?, max_rss_kb = ?, warnings = ?,
         started_at = coalesce(started_at, ?), ended_at = ?, duration_ms = ? - coalesce(started_at, ?), log = coalesce(log, ?), worker = ?, binary_version = ?
       WHERE run_id = ? AND job_id = ? AND attempt = ?`,
    ).run(
      e.state, e.key, e.outputHash ?? null, e.artifact ?? null, e.failure?.reason ?? null,
      // A job that ended up to date after it was started: early cutoff found its artifact.
      e.failure?.message ?? (e.state === 'up-to-date' ? (e.cause ?? EARLY_CUTOFF_CAUSE) : null),
      e.exitCode ?? null, e.signal ?? null, e.rusage?.userMs ?? null, e.rusage?.systemMs ?? null,
      e.rusage?.maxRssKb ?? null, e.warnings === undefined || e.warnings.length === 0 ? null : JSON.stringify(e.warnings),
      e.startedAt, e.endedAt, e.endedAt, e.startedAt, e.log ?? null, e.worker ?? null, e.binaryVersion ?? null, e.runId, e.jobId, attempt,
    );
  }

  recordJobSettled(s: JobSettledInput): void {
    // Fast path: a package settled without running has no row in this run yet (10,000
    // up-to-date packages in a no-change run are one INSERT each).
    const fresh = this.stmt(
      `INSERT INTO jobs (run_id, job_id, attempt, name, version, arch, state, cause, key, artifact, ended_at)
       VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, job_id, attempt) DO NOTHING`,
    ).run(s.runId, s.jobId, s.name, s.version, s.arch, s.state, s.cause ?? null, s.key ?? null, s.artifact ?? null, s.at);
    if (fresh.changes === 1) return;
    const attempt = this.#openAttempt(s);
    this.stmt(
      `UPDATE jobs SET state = ?, cause = ?, key = coalesce(?, key), artifact = coalesce(?, artifact), ended_at = ?
       WHERE run_id = ? AND job_id = ? AND attempt = ?`,
    ).run(s.state, s.cause ?? null, s.key ?? null, s.artifact ?? null, s.at, s.runId, s.jobId, attempt);
  }

  /**
   * Packages settled up-to-date at plan time, as one row for the whole batch (see
   * migration 5); jobsOfRun and artifactKeysOfLastRuns read them back as job rows.
   */
  recordUpToDate(runId: string, settled: readonly JobSettledInput[]): void {
    if (settled.length === 0) return;
    const rows = settled.map((s) => [s.jobId, s.version, s.key ?? null, s.outputHash ?? null, s.artifact ?? null, s.at]);
    this.stmt(
      `INSERT INTO up_to_date (run_id, seq, jobs)
       VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM up_to_date WHERE run_id = ?), ?)`,
    ).run(runId, runId, JSON.stringify(rows));
  }

  /**
   * Keep package_state current: the latest attempt (state and key), and with `inputs` on
   * success, the inputs of the last good build (why-rebuild compares against them) and its
   * output (the planner checks that artifact instead of reading it) and when this was
   * recorded (an artifact stored under the key after that is read instead: find-artifact.ts).
   */
  recordPackageState(
    jobId: string,
    s: { state: JobState; key: string | undefined; inputs?: JobInputs | undefined; outputHash?: string | undefined; artifact?: string | undefined },
  ): void {
    const success = (s.state === 'built' || s.state === 'up-to-date') && s.inputs !== undefined && s.key !== undefined;
    if (success) {
      this.stmt(
        `INSERT INTO package_state (job_id, success_key, recipe_hash, sources_hash, env_id, dep_outputs, attempt_state, attempt_key,
           success_output_hash, success_artifact, success_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET success_key = excluded.success_key, recipe_hash = excluded.recipe_hash,
           sources_hash = excluded.sources_hash, env_id = excluded.env_id, dep_outputs = excluded.dep_outputs,
           attempt_state = excluded.attempt_state, attempt_key = excluded.attempt_key,
           success_output_hash = excluded.success_output_hash, success_artifact = excluded.success_artifact,
           success_at = excluded.success_at`,
      ).run(
        jobId, s.key!, s.inputs!.recipeHash, s.inputs!.sourcesHash, s.inputs!.envId, JSON.stringify(s.inputs!.depOutputs), s.state, s.key!,
        s.outputHash ?? null, s.artifact ?? null, s.artifact === undefined ? null : Date.now(),
      );
    } else {
      this.stmt(
        `INSERT INTO package_state (job_id, attempt_state, attempt_key) VALUES (?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET attempt_state = excluded.attempt_state, attempt_key = excluded.attempt_key`,
      ).run(jobId, s.state, s.key ?? null);
    }
  }

  /**
   * The output found for a package's last good key where its record had another entry's
   * (another state directory stored one under that key since): recorded as its last good
   * output, as of `at`, a moment before the planner read the entry (an entry stored after
   * it is then read again). A row that no longer says what the planner saw (another run
   * recorded since) is left alone.
   */
  refreshSuccessOutputs(rows: readonly SuccessOutput[], at: number): void {
    if (rows.length === 0) return;
    const stmt = this.stmt(
      `UPDATE package_state SET success_output_hash = ?, success_artifact = ?, success_at = ?
       WHERE job_id = ? AND success_key = ? AND success_output_hash IS ? AND success_artifact IS ? AND success_at IS ?`,
    );
    this.transaction(() => {
      for (const r of rows) stmt.run(r.outputHash, r.artifact, at, r.jobId, r.key, r.seen.outputHash, r.seen.artifact, r.seen.at);
    });
  }

  recordJobInputs(runId: string, jobId: string, inputs: JobInputs): void {
    this.stmt(
      `INSERT INTO job_inputs (run_id, job_id, recipe_hash, sources_hash, env_id, dep_outputs, parts)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, job_id) DO UPDATE SET recipe_hash = excluded.recipe_hash,
         sources_hash = excluded.sources_hash, env_id = excluded.env_id, dep_outputs = excluded.dep_outputs,
         parts = excluded.parts`,
    ).run(runId, jobId, inputs.recipeHash, inputs.sourcesHash, inputs.envId, JSON.stringify(inputs.depOutputs), inputs.parts === undefined ? null : JSON.stringify(inputs.parts));
  }

  /**
   * Runs left 'running' by a kiln process on this host that no longer exists become
   * 'cancelled', and so do their running jobs. Call at start. Returns the run ids marked.
   * (A recycled pid makes a dead run look alive; it is then marked on a later start.)
   *
   * When the process died is not recorded anywhere: the run and its cut-off jobs end at
   * its last sign of life (its heartbeat, markAlive; log writes; job starts and ends), and
   * the run is marked `interrupted` (interrupted.ts).
   */
  markInterruptedRuns(): string[] {
    return markInterruptedRuns({
      transaction: (fn) => this.transaction(fn),
      stmt: (sql) => this.stmt(sql),
      jobsOfRun: (id) => this.jobsOfRun(id),
      finishRun: (id, end) => this.finishRun(id, end),
    });
  }

  // ---- internals ----------------------------------------------------------------------


  /** The attempt a finish/settle event completes: the newest if still running, else a new row. */
  #openAttempt(j: { runId: string; jobId: string; name: string; version: string; arch: string }): number {
    const last = this.stmt(
      'SELECT attempt, state FROM jobs WHERE run_id = ? AND job_id = ? ORDER BY attempt DESC LIMIT 1',
    ).get(j.runId, j.jobId) as Row | undefined;
    if (last !== undefined && last['state'] === 'running') return last['attempt'] as number;
    const attempt = last === undefined ? 1 : (last['attempt'] as number) + 1;
    this.stmt(
      `INSERT INTO jobs (run_id, job_id, attempt, name, version, arch, state) VALUES (?, ?, ?, ?, ?, ?, 'running')`,
    ).run(j.runId, j.jobId, attempt, j.name, j.version, j.arch);
    return attempt;
  }
}
