// The forecast of `kiln plan --forecast`: how long the jobs to build would take with N
// builders, by replaying the plan in simulated time with the real scheduler's decision
// (pickNext on a ready list ordered by computePriorities, with the same cpu and memory
// reservations and EASY backfilling) and each job taking its learned duration (or the
// estimate). Pure; event-driven: the running jobs' ends in a heap. 10,000 jobs take
// 0.2-0.8 s per --jobs value on a 2-core machine; like the real scheduler's, picking can
// go quadratic when most jobs are ready and the top one does not fit (30,000 such jobs:
// 10-14 s). Also the critical path (the longest duration-weighted chain:
// no number of builders finishes sooner) and a bound from the cpus the jobs reserve.

import { clampToMachine, insertReady, pickNext, waitGraph, type Capacity, type ReadyJob, type Timeline } from './pick-next.ts';
import { computePriorities } from './priority.ts';

export interface ForecastJob {
  readonly id: string;
  /** Ids of other jobs in this forecast that must end first (others are ignored). */
  readonly waitsFor: readonly string[];
  readonly cpus: number;
  readonly memoryBytes: number;
  /** Learned duration in ms, or the estimate when `learned` is false. */
  readonly durationMs: number;
  readonly learned: boolean;
}

export interface Simulation {
  /** When the last job ends, from the start at 0 (ms). */
  readonly makespanMs: number;
  /** The most jobs that ran at once. */
  readonly peak: number;
  /** Each job's simulated start and end (ms). */
  readonly times: ReadonlyMap<string, { readonly startMs: number; readonly endMs: number }>;
}

/**
 * Replays `jobs` (in dependency order, as computePriorities wants: each after what it
 * waits for) on `capacity`, as runScheduler would if every job took its duration;
 * `boosted` as kiln build's (priority-boost, --boost).
 */
export function simulate(jobs: readonly ForecastJob[], capacity: Capacity, boosted?: ReadonlySet<string>): Simulation {
  if (!(capacity.slots >= 1)) throw new Error(`forecast: capacity.slots must be at least 1, got ${capacity.slots}`);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const priorities = computePriorities(waitsWithin(jobs, byId), (id) => byId.get(id)!.durationMs, boosted);
  const ready: ReadyJob[] = [];
  const { pending, dependents } = waitGraph(jobs, byId);
  for (const j of jobs) if (pending.get(j.id) === 0) insertReady(ready, readyOf(j));
  function readyOf(j: ForecastJob): ReadyJob {
    return { id: j.id, priority: priorities.get(j.id) ?? 0, cpus: j.cpus, memoryBytes: j.memoryBytes };
  }

  let now = 0;
  const free = { slots: capacity.slots, cpus: capacity.cpus, memoryBytes: capacity.memoryBytes };
  const holds = new Map<string, { cpus: number; memoryBytes: number; endsAt: number }>();
  const ends = new EndHeap();
  const times = new Map<string, { startMs: number; endMs: number }>();
  let peak = 0;
  // As runScheduler's: asked for only when the top job does not fit.
  const timeline = (): Timeline => ({ now, running: [...holds.values()], durationOf: (j) => byId.get(j.id)!.durationMs });

  for (;;) {
    for (let i = pickNext(ready, free, capacity, timeline); i >= 0; i = pickNext(ready, free, capacity, timeline)) {
      const j = byId.get(ready.splice(i, 1)[0]!.id)!;
      const need = clampToMachine(j, capacity);
      free.slots--;
      free.cpus -= need.cpus;
      free.memoryBytes -= need.memoryBytes;
      const endsAt = now + j.durationMs;
      holds.set(j.id, { ...need, endsAt });
      times.set(j.id, { startMs: now, endMs: endsAt });
      ends.push(endsAt, j.id);
      peak = Math.max(peak, holds.size);
    }
    if (ends.size === 0) break;
    // Every job that ends at the next end, before the next pick.
    now = ends.peekAt();
    while (ends.size > 0 && ends.peekAt() === now) {
      const id = ends.pop();
      const h = holds.get(id)!;
      holds.delete(id);
      free.slots++;
      free.cpus += h.cpus;
      free.memoryBytes += h.memoryBytes;
      for (const d of dependents.get(id) ?? []) {
        const n = pending.get(d)! - 1;
        pending.set(d, n);
        if (n === 0) insertReady(ready, readyOf(byId.get(d)!));
      }
    }
  }
  if (times.size < jobs.length) {
    const stuck = jobs.filter((j) => !times.has(j.id)).map((j) => j.id);
    throw new Error(`forecast: ${stuck.length} job(s) never became ready (they wait for each other): ${stuck.slice(0, 5).join(', ')}`);
  }
  return { makespanMs: now, peak, times };
}

export interface CriticalPath {
  /** Its length in ms: no number of builders does the jobs in less. */
  readonly ms: number;
  /** From the first job to the last, each with its duration. */
  readonly jobs: readonly { readonly id: string; readonly durationMs: number; readonly learned: boolean }[];
}

/** The longest duration-weighted chain of `jobs` (in dependency order); ties go to the first id by name. */
export function criticalPath(jobs: readonly ForecastJob[]): CriticalPath {
  if (jobs.length === 0) return { ms: 0, jobs: [] };
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const nodes = waitsWithin(jobs, byId);
  const prio = computePriorities(nodes, (id) => byId.get(id)!.durationMs);
  const dependents = new Map<string, string[]>();
  for (const n of nodes) for (const w of n.waitsFor) (dependents.get(w) ?? dependents.set(w, []).get(w)!).push(n.id);
  // The highest priority among `ids` (only those of priority `want`, when given); ties by name.
  const best = (ids: Iterable<string>, want?: number): string | undefined => {
    let pick: string | undefined;
    for (const id of ids) {
      const p = prio.get(id)!;
      if (want !== undefined && Math.abs(p - want) > 1e-9 * Math.max(1, want)) continue;
      const q = pick === undefined ? -Infinity : prio.get(pick)!;
      if (p > q || (p === q && id < pick!)) pick = id;
    }
    return pick;
  };
  const path: CriticalPath['jobs'][number][] = [];
  let cur = best(byId.keys());
  const ms = prio.get(cur!)!;
  while (cur !== undefined) {
    const j = byId.get(cur)!;
    path.push({ id: j.id, durationMs: j.durationMs, learned: j.learned });
    cur = best(dependents.get(cur) ?? [], prio.get(cur)! - j.durationMs);
  }
  return { ms, jobs: path };
}

/**
 * What no number of builders beats on this capacity: the critical path, or the cpus the
 * jobs reserve (each clamped to the machine) spread evenly over the machine's, if longer.
 */
export function lowerBound(jobs: readonly ForecastJob[], capacity: Pick<Capacity, 'cpus' | 'memoryBytes'>, path: CriticalPath = criticalPath(jobs)): { ms: number; by: 'critical path' | 'cpus' } {
  let cpuMs = 0;
  for (const j of jobs) cpuMs += clampToMachine(j, { slots: 1, ...capacity }).cpus * j.durationMs;
  const byCpus = Math.ceil(cpuMs / capacity.cpus);
  return byCpus > path.ms ? { ms: byCpus, by: 'cpus' } : { ms: path.ms, by: 'critical path' };
}

/** Jobs as computePriorities takes them: only waits on jobs of the forecast. */
function waitsWithin(jobs: readonly ForecastJob[], byId: ReadonlyMap<string, ForecastJob>): { id: string; waitsFor: string[] }[] {
  return jobs.map((j) => ({ id: j.id, waitsFor: [...new Set(j.waitsFor)].filter((w) => w !== j.id && byId.has(w)) }));
}

/** A binary min-heap of (end time, job id); ties in the order pushed. */
class EndHeap {
  private readonly at: number[] = [];
  private readonly seq: number[] = [];
  private readonly ids: string[] = [];
  private pushed = 0;

  get size(): number {
    return this.at.length;
  }

  peekAt(): number {
    return this.at[0]!;
  }

  push(at: number, id: string): void {
    this.at.push(at);
    this.seq.push(this.pushed++);
    this.ids.push(id);
    let i = this.at.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.less(i, up)) break;
      this.swap(i, up);
      i = up;
    }
  }

  pop(): string {
    const top = this.ids[0]!;
    const last = this.at.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.seq.pop();
    this.ids.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.at.length && this.less(l, m)) m = l;
      if (r < this.at.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.at[a]! < this.at[b]! || (this.at[a] === this.at[b] && this.seq[a]! < this.seq[b]!);
  }

  private swap(a: number, b: number): void {
    [this.at[a], this.at[b]] = [this.at[b]!, this.at[a]!];
    [this.seq[a], this.seq[b]] = [this.seq[b]!, this.seq[a]!];
    [this.ids[a], this.ids[b]] = [this.ids[b]!, this.ids[a]!];
  }
}
