// What runs next: a pure decision with table tests. The ready list is kept sorted by
// ascending priority so the scheduler can take from the end cheaply; the first job from
// the top that fits the free slots, cpus and memory wins. A job asking for more than the
// machine has is clamped to the machine, so it can still run (alone).

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

/** Index into `readyAscending` of the job to start now, or -1. */
export function pickNext(readyAscending: readonly ReadyJob[], free: Capacity, total: Capacity): number {
  if (free.slots <= 0) return -1;
  for (let i = readyAscending.length - 1; i >= 0; i--) {
    const need = clampToMachine(readyAscending[i]!, total);
    if (need.cpus <= free.cpus && need.memoryBytes <= free.memoryBytes) return i;
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
