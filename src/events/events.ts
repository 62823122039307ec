// The one event stream. The scheduler and executor emit; records, logs, the progress
// view, the API's live streams and metrics subscribe. Nobody is called directly.

import type { FailureReason, JobState, Rusage } from '../plan/job.ts';
import type { Reason } from '../plan/reason.ts';
import type { InputParts } from '../plan/input-parts.ts';

export type JobPhase = 'fetch' | 'stage' | 'install' | 'build' | 'collect' | 'pack';

/** What a job's key was made of, so a later plan can say why it rebuilds. */
export interface KeyInputs {
  readonly recipeHash: string;
  readonly sourcesHash: string;
  readonly envId: string;
  /** Staged job id → its output hash. */
  readonly depOutputs: Readonly<Record<string, string>>;
  /** What recipeHash and sourcesHash are made of (plan/input-parts.ts): the next plan names the part that changed. */
  readonly parts?: InputParts;
}

export type KilnEvent =
  | {
      /** Something the user should know that is not a job's state (e.g. the sandbox chosen). */
      readonly type: 'note';
      readonly at: number;
      readonly text: string;
    }
  | {
      readonly type: 'run-started';
      readonly runId: string;
      readonly at: number;
      readonly tree: string;
      readonly targets: readonly string[];
      readonly archs: readonly string[];
      readonly total: number;
      readonly maxJobs: number;
      /** Fewer than maxJobs when the cpus or memory the builds reserve let no more run together. */
      readonly atOnce?: number;
      /** With --nats: the NATS server (as shown) its jobs go through to the workers; maxJobs is then jobs in flight. */
      readonly workers?: string;
      /** Job ids this run will execute (to-build at plan time): `kiln logs PKG` tells a queued package from one not in the run. */
      readonly toBuild?: readonly string[];
      /**
       * Expected duration in ms of each job of `toBuild`, at the same index: learned from
       * its past builds, else the median of what is known. Absent when nothing was ever
       * built (no estimate to give). For the ETA of jobs not started yet.
       */
      readonly expectedMs?: readonly number[];
    }
  | {
      /** A package that will not be executed in this run: up-to-date at plan time, broken. */
      readonly type: 'job-settled';
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
      readonly inputs?: KeyInputs;
      readonly at: number;
    }
  | {
      readonly type: 'job-started';
      readonly runId: string;
      readonly jobId: string;
      readonly name: string;
      readonly version: string;
      readonly arch: string;
      readonly why: Reason;
      readonly attempt: number;
      readonly log: string;
      readonly at: number;
      /** Learned duration, for ETA; undefined when never built. */
      readonly expectedMs: number | undefined;
    }
  | {
      /** A job to build waits for another kiln process that builds the same inputs (build-locks.ts). */
      readonly type: 'job-waiting';
      readonly runId: string;
      readonly jobId: string;
      /** That process's pid. */
      readonly holderPid: number;
      readonly at: number;
    }
  | {
      readonly type: 'job-phase';
      readonly runId: string;
      readonly jobId: string;
      readonly phase: JobPhase;
      readonly at: number;
    }
  | {
      readonly type: 'job-finished';
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
      readonly inputs?: KeyInputs;
      /** The job's log (a build that ran: failed, cancelled or built). */
      readonly log?: string;
      /** Up to date: why, when it was not early cutoff (another kiln process built it meanwhile). */
      readonly cause?: string;
      /** What the output checks warned of, `check: message` each (a built package; see execute/output-checks.ts). */
      readonly warnings?: readonly string[];
      /** A failed build's workspace, kept (--keep-failed): rebuild.sh there re-runs it on the host sandbox. */
      readonly keptWorkspace?: string;
      /** With --nats: the kiln worker whose result it is. */
      readonly worker?: string;
      /** A Debian binNMU that was built: its binary packages' version (VERSION+bN). */
      readonly binaryVersion?: string;
      readonly startedAt: number;
      readonly at: number;
    }
  | {
      /** A running job's resource use, sampled every few seconds (cgroup, or its process tree). */
      readonly type: 'job-sample';
      readonly runId: string;
      readonly jobId: string;
      /** CPU use since the previous sample, in cores (1.5 = one and a half cores busy). */
      readonly cpuCores: number;
      /** Resident memory now, in bytes. */
      readonly memoryBytes: number;
      /** Size of the job's workspace on disk, in bytes. */
      readonly diskBytes: number;
      readonly at: number;
    }
  | {
      readonly type: 'run-finished';
      readonly runId: string;
      readonly at: number;
      readonly state: 'done' | 'failed' | 'cancelled';
      readonly counts: Readonly<Record<JobState, number>>;
      /** How many of the broken a recipe's `ignore` accounts for (they do not fail the run); absent when none. */
      readonly ignored?: number;
    };

export type KilnEventType = KilnEvent['type'];

export type Listener = (e: KilnEvent) => void;

/** A synchronous fan-out bus: listeners run in subscription order; one throwing does not stop the others. */
export class EventBus {
  #listeners: Listener[] = [];
  #errors: unknown[] = [];

  on(listener: Listener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  emit(e: KilnEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#errors.push(err);
      }
    }
  }

  /** Errors thrown by listeners, so a broken subscriber is reported rather than silently lost. */
  get listenerErrors(): readonly unknown[] {
    return this.#errors;
  }
}
