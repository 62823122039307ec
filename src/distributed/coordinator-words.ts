// What a worker hears from the coordinators of the runs it builds for, besides the jobs:
// runs stopped whole (kiln.cancel.<run> '*'), remembered for a while so that a job of one
// being taken as the cancel came is stopped as it starts; and the verdict on a result
// (kiln.verdict.<run>.<job>.<attempt>: `taken`, or `stale` when another worker took the
// job over meanwhile: cluster.ts verdictSubject).

import type { Cluster } from './cluster.ts';

/** The runs whose coordinator stopped them whole, each remembered `memoryMs`. */
export class StoppedRuns {
  readonly #at = new Map<string, number>();
  readonly memoryMs: number;
  constructor(memoryMs: number) {
    this.memoryMs = memoryMs;
  }
  stop(runId: string, now: number): void {
    for (const [r, at] of this.#at) if (now - at > this.memoryMs) this.#at.delete(r);
    this.#at.set(runId, now);
  }
  has(runId: string, now: number): boolean {
    const at = this.#at.get(runId);
    return at !== undefined && now - at <= this.memoryMs;
  }
  get size(): number {
    return this.#at.size;
  }
}

/** How long a worker waits for the coordinator's word on a result before it acks anyway. */
const VERDICT_WAIT_MS = 30_000;

/** The coordinator's verdict on a result (`taken`, `stale`), or undefined when none comes in time (acked then, as before). */
export function awaitVerdict(cluster: Cluster, subject: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      resolve(undefined);
    }, VERDICT_WAIT_MS);
    const sub = cluster.nc.subscribe(subject, {
      max: 1,
      callback: (err, m) => {
        clearTimeout(timer);
        // (A refused subscription: no word will come; acked as when none comes in time.)
        if (err !== null) return resolve(undefined);
        resolve(m === undefined ? undefined : m.string());
      },
    });
  });
}
