// The build queue's types (queue.ts): what a runner is given and returns, a running
// build as the routes see it, and the queue's options.

import type { EventBus } from '../events/events.ts';
import type { ServerRecords } from '../records/server-records.ts';
import type { BuildRecord, Canceller } from '../records/server-record-types.ts';
import type { SlotGate, SlotPool } from '../schedule/slot-pool.ts';

export interface RunnerContext {
  readonly bus: EventBus;
  /** The most job slots this build may use: all of them, when it runs alone. */
  readonly maxJobs: number;
  /** This build's place in the shared slot pool (hand it to runScheduler as slotGate). */
  readonly slotGate?: SlotGate | undefined;
  readonly signal: AbortSignal;
}

export interface RunnerResult {
  readonly runId: string;
  readonly state: 'done' | 'failed' | 'cancelled';
}

/** Runs one build to its end (runBuild in production; a fake in tests). */
export type BuildRunner = (build: BuildRecord, ctx: RunnerContext) => Promise<RunnerResult>;

export interface RunningJob {
  readonly buildId: string;
  readonly runId: string;
  readonly jobId: string;
  readonly name: string;
  readonly arch: string;
  readonly startedAt: number;
  readonly log: string;
}

export interface LiveSample {
  readonly at: number;
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
}

export interface ActiveBuild {
  readonly id: string;
  readonly tenant: string;
  readonly bus: EventBus;
  readonly controller: AbortController;
  readonly startedAt: number;
  runId: string | undefined;
  /** The job ids its run will build (run-started's toBuild, recorded as the run's to_build): GET /builds/{id}/jobs lists those not started as waiting. */
  toBuild: readonly string[];
  readonly runningJobs: Map<string, RunningJob>;
  /** The latest resource sample of each running job. */
  readonly samples: Map<string, LiveSample>;
  /** The step each running job is in (its latest job-phase event), for snapshots of it. */
  readonly phases: Map<string, string>;
  /** Why it was aborted: by a user's cancel, or by the server stopping. */
  abortedBy: 'cancel' | 'shutdown' | undefined;
  /** Whose cancel aborted it (with abortedBy 'cancel'; undefined for a cancel that named nobody). */
  cancelledBy: Canceller | undefined;
  readonly done: Promise<void>;
}

export interface QueueOptions {
  readonly records: ServerRecords;
  readonly run: BuildRunner;
  /** Builds of different tenants at once (default 2). */
  readonly maxConcurrent?: number;
  /** The machine's job slots, shared among concurrent builds. */
  readonly slots: number;
  /** Reserved cpus may exceed the cores by this many (kiln serve --overcommit-cpus). */
  readonly overcommitCpus?: number;
  /** The pool the running builds share (default: `slots` with this machine's cpus and memory). */
  readonly pool?: SlotPool;
  /** A runner that throws (a bug, or an unexpected failure) is reported here. */
  readonly onError?: (buildId: string, e: unknown) => void;
  /**
   * The free-space guard (kiln serve --min-free): no build starts while `free()` says the
   * state's disk has less than `bytes`; queued builds wait, re-checked every `recheckMs`.
   */
  readonly minFree?: { readonly bytes: number; readonly free: () => { bytes: number; where: string } | undefined; readonly recheckMs?: number };
  /** The most builds one tenant may have queued (kiln serve --max-queued; default DEFAULT_MAX_QUEUED). */
  readonly maxQueuedPerTenant?: number;
  /** Told of every build that ended (done, failed, cancelled; not one put back in the queue), as recorded (kiln serve --webhook). */
  readonly onEnded?: (build: BuildRecord) => void;
}
