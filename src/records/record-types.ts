// The shapes the records module reads and writes: runs, jobs (one row per attempt), the
// inputs of a job's key, and per-package state. records.ts holds the queries.

import type { FailureReason, JobState, Rusage } from '../plan/job.ts';
import type { Reason } from '../plan/reason.ts';
import type { InputParts } from '../plan/input-parts.ts';
import type { RetryRecord } from './retry-attempts.ts';

export type RunState = 'running' | 'done' | 'failed' | 'cancelled';
/** A job row's state: a final JobState, or 'running' while its attempt is under way. */
export type JobRecordState = JobState | 'running';
export type JobCounts = Readonly<Partial<Record<JobState, number>>>;

export interface RunRecord {
  readonly id: string;
  readonly tree: string;
  readonly targets: readonly string[];
  readonly archs: readonly string[];
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly state: RunState;
  readonly counts: JobCounts | null;
  readonly pid: number | null;
  readonly host: string | null;
  readonly maxJobs: number | null;
  readonly total: number | null;
  /** Its kiln's last sign of life while it ran (epoch ms, written every second; absent before the first, or in records older than schema 18). */
  readonly aliveAt?: number;
  /**
   * Its kiln died (killed, crashed) and a later kiln ended it (markInterruptedRuns): endedAt
   * is its last sign of life, not when it stopped, which is not known (present only then).
   */
  readonly interrupted?: true;
}

export interface JobRecord {
  readonly runId: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly state: JobRecordState;
  readonly key: string | null;
  readonly why: Reason | null;
  /** skipped: which dependency; broken: the reason chain; failed: the failure message. */
  readonly cause: string | null;
  readonly failureReason: FailureReason | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly durationMs: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly rusage: Rusage | null;
  readonly log: string | null;
  /** What the output checks warned of (`check: message`); absent when nothing. */
  readonly warnings?: readonly string[];
  readonly artifact: string | null;
  readonly outputHash: string | null;
  /** With --nats: the worker whose result it took; absent for a job built here. */
  readonly worker?: string;
  /** A Debian binNMU: its binary packages' version (VERSION+bN); absent otherwise. */
  readonly binaryVersion?: string;
  /** --retry built it more than once: which attempt this is, and what the earlier ones failed with (absent otherwise). */
  readonly retry?: RetryRecord;
  /**
   * Cut off by its kiln's death: endedAt is the last sign of life of its run, and durationMs
   * how long it ran at least (when it stopped is not known; present only then).
   */
  readonly endApproximate?: true;
}

/** The input-key components of a job, so the planner can say which one changed. */
export interface JobInputs {
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  /** depJobId → outputHash of the dependency artifact the job was built against. */
  readonly depOutputs: Readonly<Record<string, string>>;
  /** What the two hashes are made of (plan/input-parts.ts); absent in rows from before kiln recorded it. */
  readonly parts?: InputParts;
}

export interface JobRecordWithInputs extends JobRecord {
  /** null when the planner did not record inputs for that run. */
  readonly inputs: JobInputs | null;
}

export interface CreateRunInput {
  readonly id: string;
  readonly tree: string;
  readonly targets: readonly string[];
  readonly archs: readonly string[];
  readonly maxJobs: number;
  readonly startedAt: number;
  readonly total?: number;
  /** Job ids the run will execute (to-build at plan time); a queued one has no jobs row yet. */
  readonly toBuild?: readonly string[] | undefined;
  /** Defaults to this process and host: markInterruptedRuns checks the pid is alive. */
  readonly pid?: number;
  readonly host?: string;
}

export interface JobStartInput {
  readonly runId: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly why: Reason;
  readonly log: string;
  readonly startedAt: number;
}

export interface JobEndInput {
  readonly runId: string;
  readonly jobId: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly state: JobState;
  readonly key: string;
  readonly outputHash?: string;
  readonly artifact?: string;
  readonly failure?: { readonly reason: FailureReason; readonly message: string };
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly rusage?: Rusage;
  /** What the output checks warned of (`check: message`). */
  readonly warnings?: readonly string[];
  /** Up to date without early cutoff: why (another kiln built it). */
  readonly cause?: string;
  /** Its log, when it has one its start did not record (a job a worker never took has its queue notes). */
  readonly log?: string;
  /** With --nats: the worker whose result it took. */
  readonly worker?: string;
  /** A Debian binNMU: its binary packages' version (VERSION+bN). */
  readonly binaryVersion?: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface JobSettledInput {
  readonly runId: string;
  readonly jobId: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly state: 'up-to-date' | 'broken' | 'skipped' | 'cancelled';
  readonly cause?: string;
  readonly key?: string;
  readonly outputHash?: string;
  readonly artifact?: string;
  readonly at: number;
}

/** A package's last good output as its records keep it: the key, the output hash and the artifact's path. */
export interface SuccessOutput {
  readonly jobId: string;
  readonly key: string;
  readonly outputHash: string;
  readonly artifact: string;
  /** What the records said when the planner read them: the row is refreshed only if it still says so. */
  readonly seen: { readonly outputHash: string; readonly artifact: string; readonly at: number | null };
}

export interface PackageState {
  readonly success:
    | {
        readonly key: string;
        readonly recipeHash: string;
        readonly sourcesHash: string;
        readonly envId: string;
        readonly depOutputs: Readonly<Record<string, string>>;
        /** The output and artifact path of that build (null in records older than schema 5). */
        readonly outputHash: string | null;
        readonly artifact: string | null;
        /** When that output was recorded (epoch ms; null in records older than schema 14). */
        readonly at?: number | null;
      }
    | undefined;
  readonly attempt: { readonly state: string; readonly key: string } | undefined;
}
