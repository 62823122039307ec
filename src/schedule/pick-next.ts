// What runs next: a pure decision with table tests. The ready list is kept sorted by
// ascending priority so the scheduler can take from the end cheaply; the top job runs if
// it fits the free slots, cpus and memory. A job asking for more than the machine has is
// clamped to the machine, so it can still run (alone).
//
// When the top job does not fit (it needs 2 cpus and 1 is free), a smaller one may run in
// the meantime, but not at its expense (EASY backfilling): from the expected ends of the
// running jobs, the top job's start is reserved at the moment enough cpus and memory
// come free; a smaller job may start now only if it is expected to end by then, or uses
// only what the top job will not need at that moment. Without this, a 2-cpu job on the
// critical path waited until every 1-cpu job that kept becoming ready had run. Without
// expected ends (a running job of unknown duration), any job that fits may start.

import { humanBytes } from '../lib/human-bytes.ts';

export interface ReadyJob {
  readonly id: string;
  /** Longest duration-weighted path from this job to the end of the graph. */
  readonly priority: number;
  readonly cpus: number;
  readonly memoryBytes: number;
}

export interface Capacity {
  readonly slots: number;
  readonly cpus: number;
  readonly memoryBytes: number;
}

export function clampToMachine(job: Pick<ReadyJob, 'cpus' | 'memoryBytes'>, total: Capacity): { cpus: number; memoryBytes: number } {
  return { cpus: Math.min(job.cpus, total.cpus), memoryBytes: Math.min(job.memoryBytes, total.memoryBytes) };
}

/**
 * The most jobs that can ever run at once: the slots, or fewer when even the smallest
 * reservations (each clamped to the machine) fill the cpus or the memory first. For
 * saying that `--jobs 3` runs 2 on two cores, not for scheduling.
 */
export function mostAtOnce(jobs: readonly Pick<ReadyJob, 'cpus' | 'memoryBytes'>[], total: Capacity): { jobs: number; by: 'slots' | 'cpus' | 'memory' } {
  const most = (need: number[], have: number): number => {
    need.sort((a, b) => a - b);
    let n = 0;
    for (let used = 0; n < need.length && used + need[n]! <= have; n++) used += need[n]!;
    return n;
  };
  const clamped = jobs.map((j) => clampToMachine(j, total));
  const byCpus = most(clamped.map((j) => j.cpus), total.cpus);
  const byMemory = most(clamped.map((j) => j.memoryBytes), total.memoryBytes);
  const limit = Math.min(total.slots, jobs.length);
  if (byCpus < limit && byCpus <= byMemory) return { jobs: byCpus, by: 'cpus' };
  if (byMemory < limit) return { jobs: byMemory, by: 'memory' };
  return { jobs: limit, by: 'slots' };
}

/** What the scheduler knows of time: for EASY backfilling (see the header). */
export interface Timeline {
  readonly now: number;
  /** What each running job holds, and when it is expected to end (Infinity: unknown). */
  readonly running: readonly { readonly cpus: number; readonly memoryBytes: number; readonly endsAt: number }[];
  /** A ready job's expected duration in ms (Infinity: unknown). */
  readonly durationOf: (job: ReadyJob) => number;
}

/** Index into `readyAscending` of the job to start now, or -1. */
export function pickNext(readyAscending: readonly ReadyJob[], free: Capacity, total: Capacity, timelineOf?: () => Timeline): number {
  if (free.slots <= 0) return -1;
  const fits = (j: ReadyJob): boolean => {
    const need = clampToMachine(j, total);
    return need.cpus <= free.cpus && need.memoryBytes <= free.memoryBytes;
  };
  const top = readyAscending.length - 1;
  if (top < 0) return -1;
  if (fits(readyAscending[top]!)) return top;
  // The top job's reservation: when enough comes free for it, and what is spare then.
  let shadow = -Infinity;
  let spareCpus = Infinity;
  let spareMemory = Infinity;
  // Asked for only here: the usual case (the top job fits) makes no list of running jobs.
  const timeline = timelineOf?.();
  if (timeline !== undefined) {
    const need = clampToMachine(readyAscending[top]!, total);
    let cpus = free.cpus;
    let memory = free.memoryBytes;
    shadow = Infinity;
    for (const r of [...timeline.running].sort((a, b) => a.endsAt - b.endsAt)) {
      cpus += r.cpus;
      memory += r.memoryBytes;
      if (cpus >= need.cpus && memory >= need.memoryBytes) {
        shadow = Math.max(r.endsAt, timeline.now);
        break;
      }
    }
    spareCpus = cpus - need.cpus;
    spareMemory = memory - need.memoryBytes;
  }
  for (let i = top - 1; i >= 0; i--) {
    const j = readyAscending[i]!;
    if (!fits(j)) continue;
    if (timeline === undefined) return i;
    const need = clampToMachine(j, total);
    if (timeline.now + timeline.durationOf(j) <= shadow || (need.cpus <= spareCpus && need.memoryBytes <= spareMemory)) return i;
  }
  return -1;
}

/** Order for the ready list: priority, then id (reverse, so that ties start in name order). */
export function compareReady(a: ReadyJob, b: ReadyJob): number {
  return a.priority - b.priority || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Insert keeping ascending order (binary search). */
export function insertReady(list: ReadyJob[], job: ReadyJob): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareReady(list[mid]!, job) <= 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, job);
}

/**
 * When `--jobs` (given, or one per core) is more than the jobs' reservations let run
 * together: how many will, and the run's note saying why (pure); undefined when the slots
 * are what limits.
 */
export function atOnceNote(jobs: readonly Pick<ReadyJob, 'cpus' | 'memoryBytes'>[], capacity: Capacity, o: { jobsGiven?: boolean } = {}): { jobs: number; text: string } | undefined {
  if (jobs.length === 0) return undefined;
  const most = mostAtOnce(jobs, capacity);
  if (most.by === 'slots') return undefined;
  const why = most.by === 'cpus'
    ? `each reserves its recipe's cpus, at least ${jobs.reduce((least, j) => Math.min(least, j.cpus), Infinity)}, and there are ${capacity.cpus} to reserve (--overcommit-cpus N lets builds reserve N more)`
    : `each reserves its recipe's memory, and there is ${humanBytes(capacity.memoryBytes)} to reserve`;
  const slots = o.jobsGiven === false ? `${capacity.slots} jobs at once (one per core, as no --jobs was given)` : `--jobs ${capacity.slots}`;
  return { jobs: most.jobs, text: `${slots}: at most ${most.jobs} build(s) at once here: ${why}` };
}

/**
 * Of jobs that wait for others (by id): how many each still waits for among `byId` (a wait
 * on a job not there, or on itself, is none), and who waits for each (pure).
 */
export function waitGraph(jobs: readonly { readonly id: string; readonly waitsFor: readonly string[] }[], byId: ReadonlyMap<string, unknown>): { pending: Map<string, number>; dependents: Map<string, string[]> } {
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const j of jobs) {
    let n = 0;
    for (const w of new Set(j.waitsFor)) {
      if (!byId.has(w) || w === j.id) continue;
      n++;
      let list = dependents.get(w);
      if (list === undefined) dependents.set(w, (list = []));
      list.push(j.id);
    }
    pending.set(j.id, n);
  }
  return { pending, dependents };
}
