// What a `kiln worker` reserves for its jobs (pure, table tests): as a local build's
// scheduler does (schedule/pick-next.ts), each job holds its recipe's cpus and memory
// while it builds, clamped to the machine (so one larger than the machine still runs,
// alone); a job starts only when its reservation fits what the running ones leave free
// of the cores (plus --overcommit-cpus) and the memory, besides the --jobs slots.

import { clampToMachine, type Capacity } from '../schedule/pick-next.ts';
import type { Job } from '../plan/job.ts';

export { clampToMachine };

export interface Reservation {
  readonly cpus: number;
  readonly memoryBytes: number;
}

/**
 * A job's reservation as its message says it: its cpus (checked by the message's schema)
 * and its recipe's memory (not checked there: anything but a size is none).
 */
export function reservationOf(job: Pick<Job, 'cpus'> & { readonly spec: { readonly build?: { readonly memoryBytes?: unknown } } }): Reservation {
  const memory = job.spec.build?.memoryBytes;
  return {
    cpus: Number.isFinite(job.cpus) && job.cpus > 0 ? job.cpus : 1,
    memoryBytes: typeof memory === 'number' && Number.isFinite(memory) && memory > 0 ? memory : 0,
  };
}

/** What the running jobs (their reservations, clamped) leave of `total`. */
export function freeOf(running: Iterable<Reservation>, total: Capacity): Capacity {
  let slots = total.slots;
  let cpus = total.cpus;
  let memoryBytes = total.memoryBytes;
  for (const r of running) {
    const held = clampToMachine(r, total);
    slots--;
    cpus -= held.cpus;
    memoryBytes -= held.memoryBytes;
  }
  return { slots, cpus, memoryBytes };
}

/**
 * Whether a job needing `need` may start now beside `running`. Nothing running: always
 * (clamped, it fits the machine; this also keeps a worker from waiting for ever).
 */
export function fitsNow(need: Reservation, running: readonly Reservation[], total: Capacity): boolean {
  if (running.length === 0) return true;
  const free = freeOf(running, total);
  const want = clampToMachine(need, total);
  return free.slots > 0 && want.cpus <= free.cpus && want.memoryBytes <= free.memoryBytes;
}

/**
 * Whether to take another message at all: a free slot, and room for the smallest job
 * there is (1 cpu; a job of no memory). A message taken that does not fit is held.
 */
export function mayTake(running: readonly Reservation[], total: Capacity): boolean {
  return fitsNow({ cpus: 1, memoryBytes: 0 }, running, total);
}

/** What a worker has reserved of what it can reserve (for `kiln workers`: worker-status.ts). */
export interface Reserved {
  readonly cpus: { readonly reserved: number; readonly total: number };
  readonly memory: { readonly reserved: number; readonly total: number };
}

/** The running jobs' reservations (clamped, as fitsNow counts them) against `total` (pure). */
export function reservedOf(running: Iterable<Reservation>, total: Capacity): Reserved {
  const free = freeOf(running, total);
  return {
    cpus: { reserved: total.cpus - free.cpus, total: total.cpus },
    memory: { reserved: total.memoryBytes - free.memoryBytes, total: total.memoryBytes },
  };
}
