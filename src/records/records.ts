// Records: what happened in every run, in SQLite at <stateDir>/kiln.db. Only the files of
// src/records/ speak SQL (the recovery of dead runs is in interrupted.ts). Writers are the event subscriber (subscriber.ts, which batches
// events into transactions) and the planner (recordJobInputs); readers are the planner
// (why-rebuild, previous failures, learned durations), reports, `kiln status` and cache gc.
//
// One row per (run, job, attempt). A job-started event inserts a 'running' row; job-finished
// and job-settled complete the newest attempt if it is still running, else add a row. Rows
// for packages that never ran (up-to-date, broken, skipped) exist too, so a report can be
// rebuilt from the database alone. Several kiln processes may share one state dir: WAL and
// a 10 s busy timeout (db.ts) make their short write transactions take turns.

import { hostname } from 'node:os';
import type { SQLInputValue } from 'node:sqlite';
import type { JobState } from '../plan/job.ts';
import { openDatabaseIn, recordsPath, type Row, toJob, toJobWithInputs, toRun, SqlStore } from './db.ts';
import { markInterruptedRuns } from './interrupted.ts';

export { runProcessGone } from './interrupted.ts';
export type { RunState, JobRecordState, JobCounts, RunRecord, JobRecord, JobInputs, JobRecordWithInputs, CreateRunInput, JobStartInput, JobEndInput, JobSettledInput, PackageState } from './record-types.ts';
import type { RunState, JobCounts, RunRecord, JobRecord, JobInputs, JobRecordWithInputs, CreateRunInput, JobStartInput, JobEndInput, JobSettledInput, PackageState } from './record-types.ts';

/** How many recent successful builds learnedDurations looks at. */
export const DURATION_WINDOW = 5;

/** The cause recorded for a job early cutoff settled (status, history, the report show it). */
export const EARLY_CUTOFF_CAUSE = "early cutoff: its dependencies' outputs are unchanged, so its artifact is too";

const JOB_COLUMNS = `j.run_id, j.job_id, j.attempt, j.name, j.version, j.arch, j.state, j.key, j.why, j.cause,
  j.failure_reason, j.started_at, j.ended_at, j.duration_ms, j.exit_code, j.signal, j.user_ms, j.system_ms,
  j.max_rss_kb, j.log, j.artifact, j.output_hash, j.warnings`;
const INPUT_COLUMNS = `i.recipe_hash, i.sources_hash, i.env_id, i.dep_outputs`;
const LATEST_ATTEMPT = `j.attempt = (SELECT max(attempt) FROM jobs WHERE run_id = j.run_id AND job_id = j.job_id)`;

export function openRecords(stateDir: string): Records {
  return new Records(openDatabaseIn(stateDir), recordsPath(stateDir));
}

export class Records extends SqlStore {
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

  recordJobStart(s: JobStartInput): void {
    this.stmt(
      `INSERT INTO jobs (run_id, job_id, attempt, name, version, arch, state, why, started_at, log)
       VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
       ON CONFLICT (run_id, job_id, attempt) DO UPDATE SET
         state = 'running', why = excluded.why, started_at = excluded.started_at, log = excluded.log`,
    ).run(s.runId, s.jobId, s.attempt, s.name, s.version, s.arch, JSON.stringify(s.why), s.startedAt, s.log);
  }

  recordJobEnd(e: JobEndInput): void {
    const attempt = this.#openAttempt(e);
    this.stmt(
      `UPDATE jobs SET state = ?, key = ?, output_hash = ?, artifact = ?, failure_reason = ?, cause = ?,
         exit_code = ?, signal = ?, user_ms = ?, system_ms = ?, max_rss_kb = ?, warnings = ?,
         started_at = coalesce(started_at, ?), ended_at = ?, duration_ms = ? - coalesce(started_at, ?)
       WHERE run_id = ? AND job_id = ? AND attempt = ?`,
    ).run(
      e.state, e.key, e.outputHash ?? null, e.artifact ?? null, e.failure?.reason ?? null,
      // A job that ended up to date after it was started: early cutoff found its artifact.
      e.failure?.message ?? (e.state === 'up-to-date' ? (e.cause ?? EARLY_CUTOFF_CAUSE) : null),
      e.exitCode ?? null, e.signal ?? null, e.rusage?.userMs ?? null, e.rusage?.systemMs ?? null,
      e.rusage?.maxRssKb ?? null, e.warnings === undefined || e.warnings.length === 0 ? null : JSON.stringify(e.warnings),
      e.startedAt, e.endedAt, e.endedAt, e.startedAt, e.runId, e.jobId, attempt,
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
   * output (the planner checks that artifact instead of reading it).
   */
  recordPackageState(
    jobId: string,
    s: { state: JobState; key: string | undefined; inputs?: JobInputs | undefined; outputHash?: string | undefined; artifact?: string | undefined },
  ): void {
    const success = (s.state === 'built' || s.state === 'up-to-date') && s.inputs !== undefined && s.key !== undefined;
    if (success) {
      this.stmt(
        `INSERT INTO package_state (job_id, success_key, recipe_hash, sources_hash, env_id, dep_outputs, attempt_state, attempt_key,
           success_output_hash, success_artifact)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET success_key = excluded.success_key, recipe_hash = excluded.recipe_hash,
           sources_hash = excluded.sources_hash, env_id = excluded.env_id, dep_outputs = excluded.dep_outputs,
           attempt_state = excluded.attempt_state, attempt_key = excluded.attempt_key,
           success_output_hash = excluded.success_output_hash, success_artifact = excluded.success_artifact`,
      ).run(
        jobId, s.key!, s.inputs!.recipeHash, s.inputs!.sourcesHash, s.inputs!.envId, JSON.stringify(s.inputs!.depOutputs), s.state, s.key!,
        s.outputHash ?? null, s.artifact ?? null,
      );
    } else {
      this.stmt(
        `INSERT INTO package_state (job_id, attempt_state, attempt_key) VALUES (?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET attempt_state = excluded.attempt_state, attempt_key = excluded.attempt_key`,
      ).run(jobId, s.state, s.key ?? null);
    }
  }

  /** Every package's state in one scan: job id (name@arch) → last success inputs and latest attempt. */
  packageStates(): Map<string, PackageState> {
    const out = new Map<string, PackageState>();
    // Rows as arrays (no object per row with every column named), and depOutputs parsed
    // only when asked for: only packages to be built need it.
    const stmt = this.stmt(
      `SELECT job_id, success_key, recipe_hash, sources_hash, env_id, dep_outputs, success_output_hash, success_artifact,
         attempt_state, attempt_key FROM package_state`,
    );
    stmt.setReturnArrays(true);
    for (const r of stmt.all() as unknown as (string | null)[][]) {
      let deps: Record<string, string> | undefined;
      const success =
        r[1] === null
          ? undefined
          : {
              key: r[1]!,
              recipeHash: r[2]!,
              sourcesHash: r[3]!,
              envId: r[4]!,
              get depOutputs(): Record<string, string> {
                return (deps ??= JSON.parse(r[5]!) as Record<string, string>);
              },
              outputHash: r[6] ?? null,
              artifact: r[7] ?? null,
            };
      const attempt = r[8] === null ? undefined : { state: r[8]!, key: r[9] ?? '' };
      out.set(r[0]!, { success, attempt });
    }
    return out;
  }

  /**
   * The output checks' warnings of every build stored with some, by key (--fail-on-warnings).
   * A build's `retry:` warning says how it went, not what it made: not one of them.
   */
  outputWarnings(): Map<string, string[]> {
    // The newest build of each key says (a clean rebuild clears an older one's warnings).
    const rows = this.stmt(`SELECT key, warnings FROM jobs WHERE state = 'built' AND key IS NOT NULL ORDER BY coalesce(ended_at, 0), rowid`).all() as { key: string; warnings: string | null }[];
    const newest = new Map<string, string | null>();
    for (const r of rows) newest.set(r.key, r.warnings);
    const out = new Map<string, string[]>();
    for (const [key, warnings] of newest) {
      const found = warnings === null ? [] : (JSON.parse(warnings) as string[]).filter((w) => !w.startsWith('retry:'));
      if (found.length > 0) out.set(key, found);
    }
    return out;
  }

  recordJobInputs(runId: string, jobId: string, inputs: JobInputs): void {
    this.stmt(
      `INSERT INTO job_inputs (run_id, job_id, recipe_hash, sources_hash, env_id, dep_outputs)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, job_id) DO UPDATE SET recipe_hash = excluded.recipe_hash,
         sources_hash = excluded.sources_hash, env_id = excluded.env_id, dep_outputs = excluded.dep_outputs`,
    ).run(runId, jobId, inputs.recipeHash, inputs.sourcesHash, inputs.envId, JSON.stringify(inputs.depOutputs));
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
  markInterruptedRuns(): string[] {
    return markInterruptedRuns({
      transaction: (fn) => this.transaction(fn),
      stmt: (sql) => this.stmt(sql),
      jobsOfRun: (id) => this.jobsOfRun(id),
      finishRun: (id, end) => this.finishRun(id, end),
    });
  }

  // ---- reads --------------------------------------------------------------------------

  /**
   * Packages named `name` that running runs will build but have not started yet (no jobs
   * row): the run and job id of each, newest run first. Runs recorded before migration 7
   * list nothing.
   */
  queued(name: string, options: { runId?: string } = {}): { runId: string; jobId: string; arch: string }[] {
    const byRun = options.runId === undefined ? '' : 'AND r.id = ?';
    const params: SQLInputValue[] = [name, name];
    if (options.runId !== undefined) params.push(options.runId);
    return this.stmt(
      `SELECT r.id AS run_id, e.value AS job_id FROM runs r, json_each(r.to_build) e
       WHERE r.state = 'running' AND r.to_build IS NOT NULL
         AND substr(e.value, 1, length(?) + 1) = ? || '@' ${byRun}
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.job_id = e.value)
       ORDER BY r.started_at DESC, r.rowid DESC, e.value`,
    )
      .all(...params)
      .map((r) => {
        const jobId = r['job_id'] as string;
        return { runId: r['run_id'] as string, jobId, arch: jobId.slice(jobId.lastIndexOf('@') + 1) };
      });
  }

  /** How many of a run's packages to build have not started yet (none for runs recorded before migration 7). */
  waitingCount(runId: string): number {
    const row = this.stmt(
      `SELECT count(*) AS n FROM runs r, json_each(r.to_build) e
       WHERE r.id = ? AND r.to_build IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.job_id = e.value)`,
    ).get(runId);
    return Number(row?.['n'] ?? 0);
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.stmt('SELECT * FROM runs WHERE id = ?').get(id);
    return row === undefined ? undefined : toRun(row);
  }

  latestRun(): RunRecord | undefined {
    return this.listRuns({ limit: 1 })[0];
  }

  /** Newest first. */
  listRuns(options: { limit?: number } = {}): RunRecord[] {
    return this.stmt('SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?')
      .all(options.limit ?? 20)
      .map(toRun);
  }

  /** The rows of a run ordered by job id: only each job's newest attempt unless allAttempts. */
  jobsOfRun(runId: string, options: { allAttempts?: boolean } = {}): JobRecord[] {
    const latest = options.allAttempts === true ? '' : `AND ${LATEST_ATTEMPT}`;
    const rows = this.stmt(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.run_id = ? ${latest} ORDER BY j.job_id, j.attempt`)
      .all(runId)
      .map(toJob);
    const bulk = this.#upToDateOfRun(runId);
    if (bulk.length === 0) return rows;
    if (rows.length === 0) return bulk.sort(byJobId);
    // A package has a jobs row or a bulk entry, never both; keep the jobs row if it did.
    const seen = new Set(rows.map((j) => j.jobId));
    for (const j of bulk) if (!seen.has(j.jobId)) rows.push(j);
    return rows.sort(byJobId);
  }

  /** The bulk up-to-date entries of a run (recordUpToDate) as job records. */
  #upToDateOfRun(runId: string): JobRecord[] {
    const out: JobRecord[] = [];
    for (const r of this.stmt('SELECT jobs FROM up_to_date WHERE run_id = ? ORDER BY seq').all(runId)) {
      const entries = JSON.parse(r['jobs'] as string) as Array<[string, string, string | null, string | null, string | null, number]>;
      for (const [jobId, version, key, outputHash, artifact, at] of entries) {
        const at_ = jobId.lastIndexOf('@');
        out.push({
          runId, jobId, attempt: 1, name: jobId.slice(0, at_), version, arch: jobId.slice(at_ + 1), state: 'up-to-date', key,
          why: null, cause: null, failureReason: null, startedAt: null, endedAt: at, durationMs: null, exitCode: null,
          signal: null, rusage: null, log: null, artifact, outputHash,
        });
      }
    }
    return out;
  }

  /**
   * The newest built or up-to-date row of a package on an arch that has its inputs
   * recorded (why-rebuild compares against them; rows settled up-to-date at plan time
   * carry none and are passed over).
   */
  lastSuccessful(name: string, arch: string): JobRecordWithInputs | undefined {
    const row = this.stmt(
      `SELECT ${JOB_COLUMNS}, ${INPUT_COLUMNS} FROM jobs j
       JOIN job_inputs i ON i.run_id = j.run_id AND i.job_id = j.job_id
       WHERE j.name = ? AND j.arch = ? AND j.state IN ('built', 'up-to-date')
       ORDER BY coalesce(j.ended_at, j.started_at) DESC, j.rowid DESC LIMIT 1`,
    ).get(name, arch);
    return row === undefined ? undefined : toJobWithInputs(row);
  }

  /** The newest row of a package on an arch in any state (to detect previous-failure). */
  lastAttempt(name: string, arch: string): JobRecordWithInputs | undefined {
    const row = this.stmt(
      `SELECT ${JOB_COLUMNS}, ${INPUT_COLUMNS} FROM jobs j
       LEFT JOIN job_inputs i ON i.run_id = j.run_id AND i.job_id = j.job_id
       WHERE j.name = ? AND j.arch = ?
       ORDER BY coalesce(j.ended_at, j.started_at) DESC, j.rowid DESC LIMIT 1`,
    ).get(name, arch);
    return row === undefined ? undefined : toJobWithInputs(row);
  }

  /**
   * The logs `cache gc` keeps whatever the run: each package's latest build that ran (built,
   * failed or cancelled), and its latest success (the build of the artifact in use).
   */
  latestLogs(): Set<string> {
    // SQLite takes a bare column from the row that gave MAX: one pass each, no per-row lookup.
    const rows = this.stmt(
      `SELECT log, MAX(started_at) FROM jobs WHERE log IS NOT NULL GROUP BY job_id
       UNION SELECT log, MAX(started_at) FROM jobs WHERE log IS NOT NULL AND state = 'built' GROUP BY job_id`,
    ).all() as { log: string }[];
    return new Set(rows.map((r) => r.log));
  }

  /**
   * `name@arch` → expected build time in ms: the median of the last DURATION_WINDOW built
   * rows. The median, not the mean or the last, because one build slowed by a loaded
   * machine or a cold cache should not reorder the next run's schedule, while a window
   * of five still follows a package that really got slower within a few builds.
   */
  learnedDurations(): Map<string, number> {
    // A skip-scan over the partial index: one seek to the next package and one LIMIT-5
    // seek per package, so the cost follows the number of packages, not the length of
    // history (a window function over all built rows took 0.4 s at 600,000 rows).
    const nextPackage = this.stmt(
      `SELECT name, arch FROM jobs WHERE state = 'built' AND (name, arch) > (?, ?) ORDER BY name, arch LIMIT 1`,
    );
    const recent = this.stmt(
      `SELECT duration_ms FROM jobs WHERE state = 'built' AND name = ? AND arch = ? AND duration_ms IS NOT NULL
       ORDER BY ended_at DESC LIMIT ${DURATION_WINDOW}`,
    );
    const result = new Map<string, number>();
    let name = '';
    let arch = '';
    for (;;) {
      const p = nextPackage.get(name, arch);
      if (p === undefined) break;
      name = p['name'] as string;
      arch = p['arch'] as string;
      const samples = recent.all(name, arch).map((r) => r['duration_ms'] as number);
      if (samples.length > 0) result.set(`${name}@${arch}`, median(samples));
    }
    return result;
  }

  /** Newest first, all arches. */
  history(name: string, options: { limit?: number; arch?: string } = {}): JobRecord[] {
    const byArch = options.arch === undefined ? '' : 'AND j.arch = ?';
    const params: SQLInputValue[] = [name];
    if (options.arch !== undefined) params.push(options.arch);
    params.push(options.limit ?? 50);
    return this.stmt(
      `SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.name = ? ${byArch}
       ORDER BY coalesce(j.ended_at, j.started_at) DESC, j.rowid DESC LIMIT ?`,
    )
      .all(...params)
      .map(toJob);
  }

  /** Input keys of the artifacts the last n runs (running ones included) built or reused. */
  artifactKeysOfLastRuns(n: number): Set<string> {
    const rows = this.stmt(
      `WITH r AS (SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?)
       SELECT j.key FROM jobs j JOIN r ON r.id = j.run_id
       WHERE j.state IN ('built', 'up-to-date') AND j.key IS NOT NULL
       UNION
       SELECT e.value ->> 2 FROM up_to_date u JOIN r ON r.id = u.run_id, json_each(u.jobs) e
       WHERE e.value ->> 2 IS NOT NULL`,
    ).all(n);
    return new Set(rows.map((r) => r['key'] as string));
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

function byJobId(a: JobRecord, b: JobRecord): number {
  return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : a.attempt - b.attempt;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

