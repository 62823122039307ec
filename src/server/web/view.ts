// The web page's view of a build, as pure functions: a job's row (from its record or from
// an event), how two reports of the same job merge, the order of the package table
// (failures first), counts by state, progress and ETA. The server renders the first page
// from these and sends the same JobView and BuildSummary shapes over the build's event
// stream (events-route.ts); the browser script only draws them.

import type { KilnEvent } from '../../events/events.ts';
import type { JobRecord, JobRecordState } from '../../records/record-types.ts';
import type { BuildState } from '../../records/server-record-types.ts';
import { describeReason } from '../../plan/reason.ts';
import { url } from './html.ts';

export interface JobView {
  readonly jobId: string;
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly state: JobRecordState;
  readonly attempt: number;
  /** Why it was (re)built, in words; null when it did not run. */
  readonly why: string | null;
  /** skipped: which dependency; broken: the reason chain; failed: the failure message. */
  readonly cause: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly durationMs: number | null;
  /** The API path of its log (text, or followed as SSE); null when it did not run. */
  readonly log: string | null;
  /** The step a running job is in (fetch, stage, build, pack), when known. */
  readonly phase: string | null;
}

export interface SampleView {
  readonly jobId: string;
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  readonly at: number;
}

export interface BuildSummary {
  readonly id: string;
  readonly tenant: string;
  readonly tree: string;
  /** The uploaded tree's folder name as `kiln build --server` sent it (request `treeName`); null for a named tree or an older client. */
  readonly treeName: string | null;
  readonly state: BuildState;
  readonly error: string | null;
  /** What to do about `error` (the build failed with a kiln error before or outside its jobs). */
  readonly errorHint: string | null;
  /** Jobs the run planned; null before the run started. */
  readonly total: number | null;
  /** Jobs that reached a final state. */
  readonly finished: number;
  readonly running: number;
  /** Planned jobs not started yet. */
  readonly pending: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  /** Estimated time left, null when unknown (nothing to go by) or when the build ended. */
  readonly etaMs: number | null;
  readonly at: number;
}

/** The package table's order: what needs attention first. */
export const STATE_ORDER: readonly JobRecordState[] = ['failed', 'broken', 'skipped', 'cancelled', 'running', 'built', 'up-to-date'];

export function logPath(buildId: string, jobId: string): string {
  return url`/api/v1/builds/${buildId}/jobs/${jobId}/log`;
}

export function jobViewOf(buildId: string, j: JobRecord, phase: string | null = null): JobView {
  return {
    jobId: j.jobId,
    name: j.name,
    version: j.version,
    arch: j.arch,
    state: j.state,
    attempt: j.attempt,
    why: j.why === null ? null : describeReason(j.why),
    cause: j.cause,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    durationMs: j.durationMs,
    log: j.log === null ? null : logPath(buildId, j.jobId),
    phase: j.state === 'running' ? phase : null,
  };
}

/**
 * A job the queue knows is running (queue.ts RunningJob) before the records have it:
 * they are written in batches and lag the queue by a few tens of milliseconds.
 */
export function jobViewOfRunning(buildId: string, r: { readonly jobId: string; readonly name: string; readonly arch: string; readonly startedAt: number }, phase: string | null = null): JobView {
  return {
    jobId: r.jobId, name: r.name, version: '', arch: r.arch, state: 'running', attempt: 1, why: null, cause: null,
    startedAt: r.startedAt, endedAt: null, durationMs: null, log: logPath(buildId, r.jobId), phase,
  };
}

/** The job a build event reports, merged onto what was known of it; undefined for other events. */
export function jobViewFromEvent(buildId: string, prev: JobView | undefined, e: KilnEvent): JobView | undefined {
  switch (e.type) {
    case 'job-started':
      return {
        jobId: e.jobId, name: e.name, version: e.version, arch: e.arch, state: 'running', attempt: e.attempt,
        why: describeReason(e.why), cause: null, startedAt: e.at, endedAt: null, durationMs: null,
        log: logPath(buildId, e.jobId), phase: null,
      };
    case 'job-finished':
      return {
        jobId: e.jobId, name: e.name, version: e.version, arch: e.arch, state: e.state, attempt: prev?.attempt ?? 1,
        why: prev?.why ?? null, cause: e.failure?.message ?? null, startedAt: e.startedAt, endedAt: e.at,
        durationMs: e.at - e.startedAt, log: prev?.log ?? logPath(buildId, e.jobId), phase: null,
      };
    case 'job-settled':
      return {
        jobId: e.jobId, name: e.name, version: e.version, arch: e.arch, state: e.state, attempt: prev?.attempt ?? 1,
        why: prev?.why ?? null, cause: e.cause ?? null, startedAt: prev?.startedAt ?? null, endedAt: e.at,
        durationMs: prev?.startedAt == null ? null : e.at - prev.startedAt, log: prev?.log ?? null, phase: null,
      };
    case 'job-phase':
      return prev === undefined || prev.state !== 'running' ? undefined : { ...prev, phase: e.phase };
    default:
      return undefined;
  }
}

/**
 * Merge a newer report of a job (from an event, or from the records, which lag events by
 * a few tens of milliseconds) onto the one known: a later attempt wins; within one
 * attempt a final state is never taken back to running. Fields the report lacks (null)
 * keep their known value. Returns undefined when nothing changes.
 */
export function mergeJob(prev: JobView | undefined, next: JobView): JobView | undefined {
  if (prev === undefined) return next;
  if (next.attempt < prev.attempt) return undefined;
  // A new attempt starts afresh: nothing of the earlier one's end carries over.
  if (next.attempt > prev.attempt) return next;
  if (next.attempt === prev.attempt && prev.state !== 'running' && next.state === 'running') return undefined;
  const merged: JobView = {
    ...next,
    why: next.why ?? prev.why,
    cause: next.cause ?? (next.state === prev.state ? prev.cause : null),
    startedAt: next.startedAt ?? prev.startedAt,
    endedAt: next.endedAt ?? prev.endedAt,
    durationMs: next.durationMs ?? prev.durationMs,
    log: next.log ?? prev.log,
    phase: next.state === 'running' ? (next.phase ?? prev.phase) : null,
  };
  return sameJob(prev, merged) ? undefined : merged;
}

function sameJob(a: JobView, b: JobView): boolean {
  return (Object.keys(b) as (keyof JobView)[]).every((k) => a[k] === b[k]);
}

/** Failures first (failed, broken, skipped, cancelled), then running, built, up to date; by name within. */
export function sortJobs(jobs: Iterable<JobView>): JobView[] {
  const rank = (s: JobRecordState): number => {
    const i = STATE_ORDER.indexOf(s);
    return i === -1 ? STATE_ORDER.length : i;
  };
  return [...jobs].sort((a, b) => rank(a.state) - rank(b.state) || cmp(a.name, b.name) || cmp(a.arch, b.arch) || cmp(a.jobId, b.jobId));
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function countStates(jobs: Iterable<JobView>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of jobs) out[j.state] = (out[j.state] ?? 0) + 1;
  return out;
}

export interface EtaInput {
  /** Jobs not started yet. */
  readonly pending: number;
  /** Running jobs: how long each has run, and how long it took before (when known). */
  readonly running: readonly { readonly elapsedMs: number; readonly expectedMs: number | undefined }[];
  /** Durations of the jobs built so far in this build. */
  readonly builtMs: readonly number[];
  /** Job slots the build runs on. */
  readonly slots: number;
}

/**
 * Time left, roughly: the work left (what the running jobs still need by their learned
 * durations, plus the pending jobs at the mean duration seen) spread over the slots, but
 * never less than the longest running job still needs. Null when there is nothing to
 * go by (no learned duration and nothing built yet).
 */
export function estimateEtaMs(input: EtaInput): number | null {
  const known = [...input.builtMs, ...input.running.flatMap((r) => (r.expectedMs === undefined ? [] : [r.expectedMs]))];
  if (input.pending === 0 && input.running.length === 0) return 0;
  if (known.length === 0) return null;
  const mean = known.reduce((s, x) => s + x, 0) / known.length;
  const left = input.running.map((r) => Math.max(0, (r.expectedMs ?? mean) - r.elapsedMs));
  const work = left.reduce((s, x) => s + x, 0) + input.pending * mean;
  return Math.round(Math.max(work / Math.max(1, input.slots), ...left, 0));
}

export interface SummaryInput {
  readonly build: {
    readonly id: string; readonly tenant: string; readonly tree: string; readonly state: BuildState; readonly error: string | null;
    readonly errorHint?: string | null; readonly treeName?: string | null;
    readonly createdAt: number; readonly startedAt: number | null; readonly endedAt: number | null;
  };
  readonly jobs: Iterable<JobView>;
  readonly total: number | null;
  readonly slots: number;
  /** Learned durations by "name@arch" (records' learnedDurations), for the ETA. */
  readonly expectedMs?: ReadonlyMap<string, number>;
  readonly now: number;
}

/**
 * A job view with the daemon's paths hidden from its cause (an uploaded tree's folder as
 * `{tree}`, tree-root.ts), as GET /jobs and report.json give them; the same view when
 * nothing changes.
 */
export function hideJobPaths(v: JobView, hide: ((text: string) => string) | undefined): JobView {
  if (hide === undefined || v.cause === null) return v;
  const cause = hide(v.cause);
  return cause === v.cause ? v : { ...v, cause };
}

export function summarize(input: SummaryInput): BuildSummary {
  const jobs = [...input.jobs];
  const counts = countStates(jobs);
  const running = jobs.filter((j) => j.state === 'running');
  const finished = jobs.length - running.length;
  const pending = input.total === null ? 0 : Math.max(0, input.total - jobs.length);
  const live = input.build.state === 'running' && input.total !== null;
  const etaMs = !live
    ? null
    : estimateEtaMs({
        pending,
        running: running.map((j) => ({ elapsedMs: j.startedAt === null ? 0 : Math.max(0, input.now - j.startedAt), expectedMs: input.expectedMs?.get(`${j.name}@${j.arch}`) })),
        builtMs: jobs.flatMap((j) => (j.state === 'built' && j.durationMs !== null ? [j.durationMs] : [])),
        slots: input.slots,
      });
  const b = input.build;
  return {
    id: b.id, tenant: b.tenant, tree: b.tree, treeName: b.treeName ?? null, state: b.state, error: b.error, errorHint: b.errorHint ?? null, total: input.total,
    finished, running: running.length, pending, counts,
    createdAt: b.createdAt, startedAt: b.startedAt, endedAt: b.endedAt, etaMs, at: input.now,
  };
}

/** 0 → "0s", 61_000 → "1m 01s", 3_723_000 → "1h 02m 03s". */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(sec)}s`;
  if (m > 0) return `${m}m ${pad(sec)}s`;
  return `${sec}s`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n) || n < 0) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The ISO time, to the second, in UTC (the page's script shows it in the viewer's zone). */
export function formatTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
