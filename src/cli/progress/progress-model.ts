// What the progress views show, folded from the event stream: counts by state, the
// running jobs with their start time and expected duration, and an ETA. Pure.

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
  /** Expected durations of to-build jobs not started yet are unknown to events; estimated from what ran. */
  finishedDurations: number[];
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
  };
}

export function applyEvent(m: ProgressModel, e: KilnEvent): void {
  switch (e.type) {
    case 'run-started':
      m.runId = e.runId;
      m.startedAt = e.at;
      m.total = e.total;
      m.slots = e.maxJobs;
      return;
    case 'job-settled':
      m.counts[e.state]++;
      return;
    case 'job-started':
      m.running.set(e.jobId, { jobId: e.jobId, startedAt: e.at, expectedMs: e.expectedMs, phase: 'fetch' });
      return;
    case 'job-phase': {
      const r = m.running.get(e.jobId);
      if (r !== undefined) r.phase = e.phase;
      return;
    }
    case 'job-finished':
      if (m.running.delete(e.jobId) || e.state === 'built') m.finishedDurations.push(e.at - e.startedAt);
      m.counts[e.state]++;
      return;
    case 'run-finished':
    case 'note':
      return;
  }
}

export function doneCount(m: ProgressModel): number {
  return Object.values(m.counts).reduce((a, b) => a + b, 0);
}

/** Remaining wall time: the work left spread over the job slots. undefined until something is known. */
export function etaMs(m: ProgressModel, now: number): number | undefined {
  const known = m.finishedDurations.length > 0 ? m.finishedDurations : [...m.running.values()].flatMap((r) => (r.expectedMs === undefined ? [] : [r.expectedMs]));
  if (known.length === 0) return undefined;
  const avg = known.reduce((a, b) => a + b, 0) / known.length;
  const waiting = Math.max(0, m.total - doneCount(m) - m.running.size);
  let left = waiting * avg;
  for (const r of m.running.values()) left += Math.max(0, (r.expectedMs ?? avg) - (now - r.startedAt));
  return left / Math.max(1, m.slots);
}
