// What the progress views show, folded from the event stream: counts by state, the
// running jobs with their start time and expected duration, the jobs still to start
// with theirs (run-started carries them), how the run ended, and an ETA. Pure.

import type { KilnEvent } from '../../events/events.ts';
import type { JobState } from '../../plan/job.ts';

export interface RunningJob {
  readonly jobId: string;
  readonly startedAt: number;
  readonly expectedMs: number | undefined;
  phase: string;
}

export interface ProgressModel {
  runId: string;
  startedAt: number;
  total: number;
  slots: number;
  counts: Record<JobState, number>;
  running: Map<string, RunningJob>;
  /** Durations of the jobs this run finished: the estimate for a job whose own is unknown. */
  finishedDurations: number[];
  /**
   * Jobs to build not started (nor settled) yet → their expected duration (undefined when
   * unknown). undefined when run-started did not list the jobs to build.
   */
  waiting: Map<string, number | undefined> | undefined;
  /** Set when the run stops starting jobs (Ctrl-C, --fail-fast after a failure): why. */
  stopping: string | undefined;
  /** How the run ended (run-finished). */
  ended: { readonly state: 'done' | 'failed' | 'cancelled'; readonly at: number } | undefined;
}

export function emptyModel(): ProgressModel {
  return {
    runId: '',
    startedAt: Date.now(),
    total: 0,
    slots: 1,
    counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 },
    running: new Map(),
    finishedDurations: [],
    waiting: undefined,
    stopping: undefined,
    ended: undefined,
  };
}

export function applyEvent(m: ProgressModel, e: KilnEvent): void {
  switch (e.type) {
    case 'run-started':
      m.runId = e.runId;
      m.startedAt = e.at;
      m.total = e.total;
      m.slots = e.atOnce ?? e.maxJobs;
      m.waiting = e.toBuild === undefined ? undefined : new Map(e.toBuild.map((id, i) => [id, e.expectedMs?.[i]]));
      return;
    case 'job-settled':
      m.waiting?.delete(e.jobId);
      m.counts[e.state]++;
      return;
    case 'job-started': {
      const planned = m.waiting?.get(e.jobId);
      m.waiting?.delete(e.jobId);
      m.running.set(e.jobId, { jobId: e.jobId, startedAt: e.at, expectedMs: e.expectedMs ?? planned, phase: 'fetch' });
      return;
    }
    case 'job-waiting':
      // It holds its slot while another kiln process builds the same inputs.
      m.running.set(e.jobId, { jobId: e.jobId, startedAt: e.at, expectedMs: m.waiting?.get(e.jobId), phase: `waiting for kiln pid ${e.holderPid}` });
      return;
    case 'job-phase': {
      const r = m.running.get(e.jobId);
      if (r !== undefined) r.phase = e.phase;
      return;
    }
    case 'job-finished':
      m.waiting?.delete(e.jobId);
      if (m.running.delete(e.jobId) || e.state === 'built') m.finishedDurations.push(e.at - e.startedAt);
      m.counts[e.state]++;
      return;
    case 'run-finished':
      m.ended = { state: e.state, at: e.at };
      m.counts = { ...e.counts };
      m.running.clear();
      m.waiting?.clear();
      return;
    case 'note':
    case 'job-sample':
      return;
  }
}

/** The run stops starting jobs (Ctrl-C, --fail-fast after a failure): `why` is shown, the ETA is not. */
export function markStopping(m: ProgressModel, why: string): void {
  m.stopping ??= why;
}

export function doneCount(m: ProgressModel): number {
  return Object.values(m.counts).reduce((a, b) => a + b, 0);
}

/** Jobs neither settled nor running: those still to start. */
export function waitingCount(m: ProgressModel): number {
  return Math.max(0, m.total - doneCount(m) - m.running.size);
}

/**
 * Remaining wall time: the work left (each waiting job's own expected duration, else the
 * average of this run's finished jobs) spread over the job slots, and never less than the
 * longest running job's remainder. undefined until something is known, once the run
 * stops starting jobs (its running jobs are being stopped, not finished), and at its end.
 */
export function etaMs(m: ProgressModel, now: number): number | undefined {
  if (m.ended !== undefined || m.stopping !== undefined) return undefined;
  const waiting = waitingCount(m);
  if (waiting === 0 && m.running.size === 0) return undefined;
  const known = m.finishedDurations.length > 0 ? m.finishedDurations : [...m.running.values(), ...(m.waiting?.values() ?? [])].flatMap((r) => {
    const ms = typeof r === 'object' ? r.expectedMs : r;
    return ms === undefined ? [] : [ms];
  });
  const avg = known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
  let work = 0;
  if (m.waiting !== undefined && m.waiting.size === waiting) {
    for (const ms of m.waiting.values()) {
      const d = ms ?? avg;
      if (d === undefined) return undefined;
      work += d;
    }
  } else if (waiting > 0) {
    if (avg === undefined) return undefined;
    work = waiting * avg;
  }
  let longest = 0;
  for (const r of m.running.values()) {
    const d = r.expectedMs ?? avg;
    if (d === undefined) return undefined;
    const left = Math.max(0, d - (now - r.startedAt));
    work += left;
    longest = Math.max(longest, left);
  }
  return Math.max(longest, work / Math.max(1, m.slots));
}
