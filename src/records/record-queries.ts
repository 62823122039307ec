// The records' read side (records.ts adds the writes): the queries the planner (package
// state, output warnings, learned durations, why-rebuild's last success and attempt),
// reports, `kiln status`, `kiln history` and cache gc ask of the runs and jobs tables.
// Records extends this class; only it is opened (openRecords).

import type { SQLInputValue } from 'node:sqlite';
import { toJob, toJobWithInputs, toRun, SqlStore } from './db.ts';
import type { JobRecord, JobRecordWithInputs, PackageState, RunRecord } from './record-types.ts';
import type { ReservedBinnmu } from '../debian/auto-binnmu.ts';
import type { InputParts } from '../plan/input-parts.ts';

/** How many recent successful builds learnedDurations looks at. */
export const DURATION_WINDOW = 5;

const JOB_COLUMNS = `j.run_id, j.job_id, j.attempt, j.name, j.version, j.arch, j.state, j.key, j.why, j.cause,
  j.failure_reason, j.started_at, j.ended_at, j.duration_ms, j.exit_code, j.signal, j.user_ms, j.system_ms,
  j.max_rss_kb, j.log, j.artifact, j.output_hash, j.warnings, j.worker, j.binary_version`;
const INPUT_COLUMNS = `i.recipe_hash, i.sources_hash, i.env_id, i.dep_outputs`;
const LATEST_ATTEMPT = `j.attempt = (SELECT max(attempt) FROM jobs WHERE run_id = j.run_id AND job_id = j.job_id)`;

export class RecordQueries extends SqlStore {
  /** The binNMU numbers --binnmu auto gave builds of `name` `version` here (debian/auto-binnmu.ts), on every arch. */
  binnmusOf(name: string, version: string): ReservedBinnmu[] {
    return this.stmt('SELECT arch, key, binary_version FROM binnmus WHERE name = ? AND version = ? ORDER BY rowid').all(name, version)
      .map((r) => ({ arch: String(r['arch']), key: String(r['key']), binaryVersion: (r['binary_version'] ?? null) as string | null }));
  }

  /** Every package's state in one scan: job id (name@arch) → last success inputs and latest attempt. */
  packageStates(): Map<string, PackageState> {
    const out = new Map<string, PackageState>();
    // Rows as arrays (no object per row with every column named), and depOutputs parsed
    // only when asked for: only packages to be built need it.
    const stmt = this.stmt(
      `SELECT job_id, success_key, recipe_hash, sources_hash, env_id, dep_outputs, success_output_hash, success_artifact,
         attempt_state, attempt_key, success_at FROM package_state`,
    );
    stmt.setReturnArrays(true);
    for (const r of stmt.all() as unknown as (string | null)[][]) {
      const at = r[10] as unknown as number | null;
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
              at,
            };
      const attempt = r[8] === null ? undefined : { state: r[8]!, key: r[9] ?? '' };
      out.set(r[0]!, { success, attempt });
    }
    return out;
  }

  /** The key and artifact path of each package's last good build that has one (at most `limit`, oldest packages first). */
  lastArtifacts(limit = -1): { key: string; artifact: string }[] {
    const stmt = this.stmt('SELECT success_key, success_artifact FROM package_state WHERE success_artifact IS NOT NULL AND success_key IS NOT NULL ORDER BY rowid LIMIT ?');
    stmt.setReturnArrays(true);
    return (stmt.all(limit) as unknown as [string, string][]).map(([key, artifact]) => ({ key, artifact }));
  }

  /** Every package name the jobs table knows (for "did you mean" when a command names another). */
  packageNames(): string[] {
    return (this.stmt('SELECT DISTINCT name FROM jobs ORDER BY name').all() as { name: string }[]).map((r) => r.name);
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

  /**
   * Whether run `id` has ended and every other run ended before `since` (when run `id`
   * began to plan, before its run-started): nothing ran beside it or since (the plan
   * memo's test, run/plan-memo.ts).
   */
  nothingRanSince(id: string, since: number): boolean {
    const run = this.stmt('SELECT ended_at FROM runs WHERE id = ?').get(id);
    if (run === undefined || run['ended_at'] === null) return false;
    // Going (never ended), or ended after it began.
    return this.stmt('SELECT 1 AS x FROM runs WHERE id != ? AND (ended_at IS NULL OR ended_at >= ?) LIMIT 1').get(id, since) === undefined;
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

  /**
   * The successful build of a package on an arch whose inputs are nearest these: the same
   * env (which a run's profiles are part of) first, then the same recipe hash (which its
   * options are part of), then the newest. Why-rebuild compares against it, so that a
   * change is named against the build of this variant, not the newest of any variant.
   */
  nearestSuccess(name: string, arch: string, want: { readonly envId: string; readonly recipeHash: string }): JobRecordWithInputs | undefined {
    const row = this.stmt(
      `SELECT ${JOB_COLUMNS}, ${INPUT_COLUMNS} FROM jobs j
       JOIN job_inputs i ON i.run_id = j.run_id AND i.job_id = j.job_id
       WHERE j.name = ? AND j.arch = ? AND j.state IN ('built', 'up-to-date')
       ORDER BY i.env_id = ? DESC, i.recipe_hash = ? DESC, coalesce(j.ended_at, j.started_at) DESC, j.rowid DESC LIMIT 1`,
    ).get(name, arch, want.envId, want.recipeHash);
    return row === undefined ? undefined : toJobWithInputs(row);
  }

  /**
   * What the recipe and sources hashes of the newest successful build of a package on an
   * arch with these hashes were made of (plan/input-parts.ts), or undefined when no such
   * build recorded them (built by a kiln from before it did).
   */
  inputPartsOf(name: string, arch: string, hashes: { readonly recipeHash: string; readonly sourcesHash: string }): InputParts | undefined {
    const row = this.stmt(
      `SELECT i.parts FROM jobs j
       JOIN job_inputs i ON i.run_id = j.run_id AND i.job_id = j.job_id
       WHERE j.name = ? AND j.arch = ? AND j.state IN ('built', 'up-to-date')
         AND i.recipe_hash = ? AND i.sources_hash = ? AND i.parts IS NOT NULL
       ORDER BY coalesce(j.ended_at, j.started_at) DESC, j.rowid DESC LIMIT 1`,
    ).get(name, arch, hashes.recipeHash, hashes.sourcesHash);
    if (row === undefined) return undefined;
    try {
      return JSON.parse(String(row['parts'])) as InputParts;
    } catch {
      return undefined; // only explains a rebuild: a damaged row says less, and nothing else
    }
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
}

function byJobId(a: JobRecord, b: JobRecord): number {
  return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : a.attempt - b.attempt;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}
