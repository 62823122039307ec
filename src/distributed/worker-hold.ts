// A `kiln worker`'s waits: for a running job to end or the worker to stop (each wait's
// abort listeners removed once it is over: the worker's signal lives for days), and the
// hold of a job taken that does not fit yet (worker.ts roomFor).

import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { askAlive, watchAlive } from './liveness.ts';

/**
 * Waits until one of `promises` settles or one of `signals` aborts (at once if one has).
 * Its listeners leave the signals once it is over, however it ended.
 */
export async function raceAbort(promises: Iterable<Promise<unknown>>, signals: readonly AbortSignal[]): Promise<void> {
  if (signals.some((s) => s.aborted)) return;
  let onAbort!: () => void;
  const aborted = new Promise<void>((resolve) => (onAbort = resolve));
  for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([...promises, aborted]);
  } catch {
    // (A job's promise that rejected: it has ended all the same.)
  } finally {
    for (const s of signals) s.removeEventListener('abort', onAbort);
  }
}

/** Waits `ms`, or less when one of `signals` aborts (its timer and listeners gone after). */
export async function sleepUnlessAborted(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await raceAbort([new Promise((resolve) => (timer = setTimeout(resolve, ms)))], signals);
  } finally {
    clearTimeout(timer);
  }
}

/** How a hold ended: room for the job, its run cancelled or ended by its coordinator, its coordinator gone, or the worker stopping. */
export type HoldEnd = 'room' | 'cancelled' | 'gone' | 'stopping';

export interface Hold {
  readonly msg: Pick<JsMsg, 'working'>;
  readonly runId: string;
  /** The run's coordinator answers on kiln.alive (the message says so: `alive`). */
  readonly alive: boolean;
  readonly nc: NatsConnection;
  /** Whether the job fits beside the running ones now. */
  readonly fits: () => boolean;
  /** The running jobs (one ending is a moment to look again). */
  readonly running: () => Iterable<Promise<unknown>>;
  /** The worker stopping. */
  readonly stop: AbortSignal;
  /** The coordinator cancelling the job, or its whole run (the job's entry in the worker's controllers). */
  readonly cancel: AbortSignal;
  readonly heartbeatMs: number;
  /** Said once it is known the job is held (its coordinator is there). */
  readonly waiting: () => void;
}

/**
 * Holds a job that does not fit yet: kept in progress (msg.working(), the heartbeat of a
 * running job) until the running jobs leave room for it. Not nak'ed for another worker:
 * each nak is one of the job's MAX_DELIVER (3) deliveries, so a busy fleet would fail a
 * big job for no fault of its own, and with every worker full it would go round the queue
 * (a big job passed over by every small one that fits, starved). Held, it waits at most
 * until the running jobs end (clamped to the machine, it fits an idle one), while this
 * worker takes no other and other workers go on taking the rest. The hold ends early when
 * the coordinator cancels the job or its run (Ctrl-C, or the job settled there: it then
 * counts it as not started, and a build would be for nobody), when the coordinator is gone
 * (asked first, as before a build, and watched while it waits), or when the worker stops.
 */
export async function holdForRoom(h: Hold): Promise<HoldEnd> {
  const heartbeat = setInterval(() => h.msg.working(), h.heartbeatMs);
  const gone = new AbortController();
  let watch: { stop(): void } | undefined;
  try {
    if (h.alive && (await askAlive(h.nc, h.runId)) === 'gone') gone.abort();
    const signals = [h.stop, h.cancel, gone.signal];
    if (!signals.some((s) => s.aborted) && !h.fits()) {
      h.waiting();
      if (h.alive) watch = watchAlive(h.nc, h.runId, () => gone.abort());
      // (Never a busy wait: each turn waits for a running job to end, a cancel, or the stop.)
      while (!signals.some((s) => s.aborted) && !h.fits()) await raceAbort(h.running(), signals);
    }
  } finally {
    clearInterval(heartbeat);
    watch?.stop();
  }
  return h.cancel.aborted ? 'cancelled' : gone.signal.aborted ? 'gone' : h.stop.aborted ? 'stopping' : 'room';
}
