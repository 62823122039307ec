// A Job is one (package, arch) build that the scheduler hands to execute().

import type { PackageSpec } from './spec.ts';
import type { Reason } from './reason.ts';

/** The cause of a job early cutoff settled (its job-finished event, status, history, the report). */
export const EARLY_CUTOFF_CAUSE = "early cutoff: its dependencies' outputs are unchanged, so its artifact is too";

/** Final states of a package in a run, exactly as reports spell them. */
export type JobState = 'built' | 'up-to-date' | 'failed' | 'skipped' | 'broken' | 'cancelled';

/** Why a job failed. */
export type FailureReason =
  | 'exit-status'
  | 'signal'
  | 'timeout'
  | 'silent'
  /** Killed for printing the same line over and over past its loop-timeout (logs/loop-watch.ts). */
  | 'looping'
  | 'out-of-memory'
  /** A fork failed at the sandbox's limit of processes, and the build failed. */
  | 'pids-limit'
  /** The build failed with the disk of its workspace full, or its output with the artifact cache's disk full: the machine's problem more than the package's. */
  | 'disk-full'
  | 'fetch-failed'
  | 'stage-failed'
  | 'install-failed'
  | 'pack-failed'
  | 'internal'
  /** Not a failure of the job: the run was cancelled while it ran (state `cancelled`). */
  | 'cancelled';

export interface Job {
  /** `name` for arch-independent packages, else `name:arch`... see jobIdOf. */
  readonly id: string;
  readonly runId: string;
  readonly spec: PackageSpec;
  readonly arch: string;
  /** Input key material that does not depend on dependency outputs (recipe, sources, env, arch). */
  readonly ownKey: string;
  /** Job ids whose artifacts are staged into $SYSROOT: build deps plus their runtime closure. */
  readonly stage: readonly string[];
  /** Job ids of direct build dependencies (the scheduler waits for these). */
  readonly waitsFor: readonly string[];
  readonly why: Reason;
  /** why is dependency-changed: the outputs the last good build staged (whyWhenStarted). */
  readonly previousDepOutputs?: Readonly<Record<string, string>> | undefined;
  readonly envId: string;
  readonly attempt: number;
  /** The recipe's cpus clamped to the machine, as the scheduler reserves them: JOBS and the build's cpu limit. */
  readonly cpus: number;
}

export function jobIdOf(name: string, arch: string): string {
  return `${name}@${arch}`;
}

export interface Rusage {
  readonly userMs: number;
  readonly systemMs: number;
  readonly maxRssKb: number;
}

/** What execute() returns for one job. */
export interface JobOutcome {
  readonly state: 'built' | 'up-to-date' | 'failed' | 'cancelled';
  /** Final input key (own key + dependency output hashes). */
  readonly key: string;
  /** sha256 of the artifact's manifest: the package's output identity (early cutoff). */
  readonly outputHash?: string;
  /** Path of the packed artifact in the cache. */
  readonly artifact?: string;
  readonly failure?: { readonly reason: FailureReason; readonly message: string };
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly rusage?: Rusage;
  readonly log?: string;
  /** Why an up-to-date job that was to be built needed no build, when not early cutoff (another kiln built it). */
  readonly cause?: string;
  /** What the output checks warned of (`check: message`), for a built package. */
  readonly warnings?: readonly string[];
  /** With --nats: the worker whose result this is. */
  readonly worker?: string;
  /** A failed build's workspace, kept (--keep-failed). */
  readonly keptWorkspace?: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export type Execute = (job: Job, options: { signal: AbortSignal }) => Promise<JobOutcome>;
