// The run loop, and nothing else. It is handed the jobs to run (ids, what each waits
// for, what each reserves, its priority) and a `run(id, {signal})` callback; it never
// knows what a job does. One loop owns all scheduler state:
//
//   ready (sorted by priority) ──pickNext──► running ──settle──► done / failed
//                                                       └─► dependents ready, or skipped
//
// Keeps going after a failure (bulk-build default); with failFast it stops starting
// jobs, and so when `holdStarts` gives a reason (kiln build --min-free): then the jobs
// never started are skipped with that reason. When `signal` fires it stops starting jobs, aborts every running one and marks
// the rest cancelled; it returns once every running job has returned.
//
// With a `slotGate` (the daemon's SlotPool, shared by the builds running at once) each
// job also takes a slot of the shared pool, fairly among the builds; `capacity` still
// bounds this build alone. Without one, it is the only user of `capacity`.

import { clampToMachine, insertReady, pickNext, waitGraph, type Capacity, type ReadyJob, type Timeline } from './pick-next.ts';
import type { SlotGate, SlotGrant } from './slot-pool.ts';

export interface SchedJob {
  readonly id: string;
  /** Ids of other jobs in this schedule that must succeed first (others are ignored). */
  readonly waitsFor: readonly string[];
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly priority: number;
  /** Expected duration in ms (learned, or an estimate): lets a smaller job run ahead of a blocked bigger one only when it does not delay it (pick-next.ts). */
  readonly expectedMs?: number;
}

export type SchedResult =
  | { readonly state: 'succeeded' }
  | { readonly state: 'failed' }
  | { readonly state: 'cancelled' }
  /** cause: the id of the job that failed, or holdStarts' reason. */
  | { readonly state: 'skipped'; readonly cause: string };

export interface SchedulerOptions {
  readonly jobs: readonly SchedJob[];
  readonly run: (id: string, options: { signal: AbortSignal }) => Promise<'succeeded' | 'failed' | 'cancelled'>;
  readonly capacity: Capacity;
  readonly failFast?: boolean;
  /** Asked before a job starts: a reason it may not (run/disk-guard.ts) stops starting jobs, as failFast does; those never started are skipped with it. */
  readonly holdStarts?: (() => string | undefined) | undefined;
  /** Told of every job that will not run (skipped, or cancelled before it started), as soon as it is known. */
  readonly onSettled?: (id: string, result: SchedResult) => void;
  readonly signal?: AbortSignal;
  /** Job slots and cpu/memory shared with other builds (the daemon's pool). */
  readonly slotGate?: SlotGate | undefined;
}

export async function runScheduler(options: SchedulerOptions): Promise<Map<string, SchedResult>> {
  const { capacity } = options;
  const results = new Map<string, SchedResult>();
  const byId = new Map(options.jobs.map((j) => [j.id, j]));
  const { pending, dependents } = waitGraph(options.jobs, byId);
  const ready: ReadyJob[] = [];
  for (const j of options.jobs) if (pending.get(j.id) === 0) insertReady(ready, j);

  const free = { slots: capacity.slots, cpus: capacity.cpus, memoryBytes: capacity.memoryBytes };
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  // What each running job holds and when it is expected to end, for pickNext's backfilling.
  const holds = new Map<string, { cpus: number; memoryBytes: number; endsAt: number }>();
  const timeline = (): Timeline => ({
    now: Date.now(),
    running: [...holds.values()],
    durationOf: (j) => byId.get(j.id)?.expectedMs ?? Infinity,
  });
  let stopping = false;
  /** holdStarts' reason, once it gave one. */
  let held: string | undefined;
  let wake: () => void = () => {};
  const gate = options.slotGate;
  gate?.onWake(() => wake());
  // A job is clamped to what this build may use and to what the shared pool has in all.
  const within = gate === undefined ? capacity : least(capacity, gate.total);

  // Jobs that never ran are announced through onSettled; jobs that ran report themselves.
  const settle = (id: string, r: SchedResult): void => {
    if (results.has(id)) return;
    results.set(id, r);
    options.onSettled?.(id, r);
  };
  // Dependents of a job that did not succeed are skipped, naming the job that failed.
  const skipDependents = (id: string, cause: string): void => {
    const todo = [...(dependents.get(id) ?? [])];
    while (todo.length > 0) {
      const d = todo.pop()!;
      if (results.has(d)) continue;
      settle(d, { state: 'skipped', cause });
      todo.push(...(dependents.get(d) ?? []));
    }
  };
  const onAbort = (): void => {
    stopping = true;
    for (const r of running.values()) r.controller.abort(options.signal?.reason);
    wake();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    while (true) {
      while (!stopping) {
        // Backfilling by expected ends (pick-next.ts) only when this build owns its capacity:
        // in a shared pool, other builds' jobs free cpus too, and this build cannot see them.
        const i = gate === undefined ? pickNext(ready, free, within, timeline) : pickNext(ready, least(free, gate.free()), within);
        if (i < 0) break;
        held = options.holdStarts?.();
        if (held !== undefined) {
          stopping = true;
          break;
        }
        let grant: SlotGrant | undefined;
        if (gate !== undefined) {
          grant = gate.tryAcquire(clampToMachine(ready[i]!, within));
          if (grant === undefined) break;
        }
        const job = ready.splice(i, 1)[0]!;
        start(job, grant);
      }
      // A ready job this build could start but for the shared pool waits its turn there.
      gate?.want(!stopping && pickNext(ready, free, within) >= 0);
      if (running.size === 0 && (gate === undefined || stopping || ready.length === 0)) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    gate?.want(false);
    gate?.onWake(() => undefined);
    options.signal?.removeEventListener('abort', onAbort);
  }
  // Whatever never started: cancelled if we were stopped or by fail-fast; skipped, saying why, if held.
  const never: SchedResult = held !== undefined && options.signal?.aborted !== true ? { state: 'skipped', cause: held } : { state: 'cancelled' };
  for (const j of options.jobs) if (!results.has(j.id)) settle(j.id, never);
  return results;

  function start(job: ReadyJob, grant?: SlotGrant): void {
    const j = byId.get(job.id)!;
    const need = { cpus: Math.min(j.cpus, capacity.cpus), memoryBytes: Math.min(j.memoryBytes, capacity.memoryBytes) };
    free.slots--;
    free.cpus -= need.cpus;
    free.memoryBytes -= need.memoryBytes;
    holds.set(j.id, { cpus: need.cpus, memoryBytes: need.memoryBytes, endsAt: Date.now() + (j.expectedMs ?? Infinity) });
    const controller = new AbortController();
    const done = (async () => {
      let outcome: 'succeeded' | 'failed' | 'cancelled';
      try {
        // Call run() from a microtask: if it threw synchronously, this job would settle
        // before `running` holds it, and the loop would then wait for it forever.
        outcome = await Promise.resolve().then(() => options.run(j.id, { signal: controller.signal }));
      } catch {
        outcome = 'failed';
      }
      running.delete(j.id);
      holds.delete(j.id);
      free.slots++;
      free.cpus += need.cpus;
      free.memoryBytes += need.memoryBytes;
      grant?.release();
      results.set(j.id, { state: outcome });
      if (outcome === 'succeeded') {
        for (const d of dependents.get(j.id) ?? []) {
          const n = pending.get(d)! - 1;
          pending.set(d, n);
          if (n === 0 && !results.has(d)) insertReady(ready, byId.get(d)!);
        }
      } else if (outcome === 'failed') {
        skipDependents(j.id, j.id);
        if (options.failFast) stopping = true;
      }
      wake();
    })();
    running.set(j.id, { controller, done });
  }
}

function least(a: Capacity, b: Capacity): Capacity {
  return { slots: Math.min(a.slots, b.slots), cpus: Math.min(a.cpus, b.cpus), memoryBytes: Math.min(a.memoryBytes, b.memoryBytes) };
}
