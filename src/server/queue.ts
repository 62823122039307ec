// The daemon's build queue: builds persist in the records (table builds) and run in this
// process. One tenant's builds run one after another in submission order (FIFO); builds
// of different tenants run at once up to maxConcurrent. Among the tenants waiting, the
// head build with the highest priority goes first, then the tenant whose last turn is
// oldest (one that has not had one yet first), then the oldest build (startOrder): the
// tenants take turns, so one tenant's backlog does not hold another's build back.
//
// The machine's job slots (and its cpu/memory budget) are one SlotPool shared by the
// running builds: a build alone may use every slot; builds running together share them
// fairly, job by job (src/schedule/slot-pool.ts), so a slot one build leaves idle serves
// another at once.
//
// Each running build gets its own EventBus and AbortController; cancel aborts it. On
// stop() (SIGTERM with --on-stop cancel) running builds are aborted and put back in the
// queue, so a restarted server resumes them, as it does for builds a killed server left
// 'running'; drain() (--on-stop drain) starts nothing more and waits for them to finish.
// The job samples a build's bus carries are kept in the records, the latest in memory.

import { isKilnError, KilnError } from '../errors.ts';
import { EventBus } from '../events/events.ts';
import type { ServerRecords } from '../records/server-records.ts';
import { cancellerText, type BuildRecord, type Canceller, type NewBuild } from '../records/server-record-types.ts';
import { machineCapacity } from '../run/host-env.ts';
import { SlotPool } from '../schedule/slot-pool.ts';

export type { ActiveBuild, BuildRunner, LiveSample, QueueOptions, RunnerContext, RunnerResult, RunningJob } from './queue-types.ts';
import type { ActiveBuild, BuildRunner, QueueOptions } from './queue-types.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

/** How many builds one tenant may have waiting in the queue by default. */
export const DEFAULT_MAX_QUEUED = 100;

/** Why builds do not start: the disk is below --min-free. */
export interface LowSpace {
  readonly freeBytes: number;
  readonly minFreeBytes: number;
  readonly where: string;
}

export type CancelOutcome = 'cancelled' | 'cancelling' | 'finished';

/** How long a starting build's planning keeps its fair share of the slots from the others (KILN_PLANNING_HOLD_MS for tests). */
const PLANNING_HOLD_MS = positiveFromEnv('KILN_PLANNING_HOLD_MS', 30_000);

/**
 * Why the running builds' jobs are killed when the server stops with --on-stop cancel:
 * the jobs' logs end `killed: the run was cancelled (<this>)`, and the build is not over.
 */
export const SHUTDOWN_REASON = 'the server is stopping: the build goes back to the queue and runs again at the next start';

/**
 * The order in which the queued builds that may start now should start: the head build
 * (first submitted) of each tenant not in `busy`, highest priority first, then the tenant
 * whose last start (`lastStart`, a positive count: larger is later) is oldest, a tenant
 * not in it (no start since this server started) before any, then submission order.
 * `queued` is in submission order. Round-robin among the tenants of equal priority: once
 * it started, a tenant waits behind every other tenant waiting, so none starves.
 */
export function startOrder<B extends { readonly tenant: string; readonly priority: number }>(
  queued: readonly B[],
  busy: ReadonlySet<string>,
  lastStart: ReadonlyMap<string, number>,
): B[] {
  const heads: Array<{ b: B; order: number; turn: number }> = [];
  const seen = new Set<string>();
  queued.forEach((b, order) => {
    if (seen.has(b.tenant)) return;
    seen.add(b.tenant);
    if (!busy.has(b.tenant)) heads.push({ b, order, turn: lastStart.get(b.tenant) ?? 0 });
  });
  heads.sort((x, y) => y.b.priority - x.b.priority || x.turn - y.turn || x.order - y.order);
  return heads.map((h) => h.b);
}

export class BuildQueue {
  readonly maxConcurrent: number;
  readonly slots: number;
  /** The job slots, cpus and memory shared by the running builds. */
  readonly pool: SlotPool;
  #records: ServerRecords;
  #run: BuildRunner;
  #onError: (buildId: string, e: unknown) => void;
  #active = new Map<string, ActiveBuild>();
  #stopping = false;
  readonly maxQueuedPerTenant: number;
  #waiters = new Map<string, Array<() => void>>();
  #minFree: QueueOptions['minFree'];
  #lowSpace: LowSpace | undefined;
  #recheck: NodeJS.Timeout | undefined;
  #onEnded: ((build: BuildRecord) => void) | undefined;
  /** When each tenant's latest build started (a counter: later is larger), for startOrder's turns. */
  #lastStart = new Map<string, number>();
  #starts = 0;

  constructor(options: QueueOptions) {
    this.#records = options.records;
    this.#run = options.run;
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 2);
    this.slots = Math.max(1, options.slots);
    this.pool = options.pool ?? new SlotPool(machineCapacity(this.slots, options.overcommitCpus));
    this.#onError = options.onError ?? (() => undefined);
    this.#minFree = options.minFree;
    this.maxQueuedPerTenant = Math.max(1, options.maxQueuedPerTenant ?? DEFAULT_MAX_QUEUED);
    this.#onEnded = options.onEnded;
  }

  /** onEnded with the build as recorded; what it throws is not the queue's concern. */
  #ended(id: string): void {
    if (this.#onEnded === undefined) return;
    const b = this.#records.getBuild(id);
    try {
      if (b !== undefined) this.#onEnded(b);
    } catch (e) {
      this.#onError(id, e);
    }
  }

  /** Set while the free-space guard holds builds back (the last check's figures). */
  lowSpace(): LowSpace | undefined {
    this.#checkSpace();
    return this.#lowSpace;
  }

  /** Whether builds may start as far as disk space goes; remembers why not. */
  #checkSpace(): boolean {
    const guard = this.#minFree;
    if (guard === undefined || guard.bytes <= 0) return true;
    const free = guard.free();
    this.#lowSpace = free !== undefined && free.bytes < guard.bytes ? { freeBytes: free.bytes, minFreeBytes: guard.bytes, where: free.where } : undefined;
    return this.#lowSpace === undefined;
  }

  /**
   * Re-queue what a dead server left running (failing instead a build cut off by too many
   * deaths of the server in a row, and ending cancelled one whose cancel it did not
   * finish), then start what can start. The ids of each.
   */
  start(): { requeued: string[]; failed: string[]; cancelled: string[] } {
    const r = this.#records.requeueInterrupted();
    for (const id of [...r.failed, ...r.cancelled]) this.#ended(id);
    this.pump();
    return r;
  }

  enqueue(b: NewBuild): BuildRecord {
    if (this.#stopping) {
      throw new KilnError('server-stopping', 'the server is stopping and takes no new builds', { hint: 'submit it again once the server is back' });
    }
    // One tenant cannot fill the queue (and the records) for everyone.
    const queued = this.#records.listBuilds({ tenant: b.tenant, state: 'queued', limit: this.maxQueuedPerTenant }).length;
    if (queued >= this.maxQueuedPerTenant) {
      throw new KilnError('too-many-builds', `tenant ${b.tenant} has ${queued} builds queued already, the most this daemon takes from one tenant`, {
        hint: 'submit it once some have run, or cancel those no longer wanted (kiln cancel --server URL ID); the operator sets the limit with kiln serve --max-queued N',
      });
    }
    const rec = this.#records.insertBuild(b);
    this.pump();
    return this.#records.getBuild(rec.id) ?? rec;
  }

  /**
   * A queued build is cancelled at once; a running one is aborted (it ends 'cancelled').
   * `by` (the token's tenant, admin or not) is recorded, and named in the build's error.
   */
  cancel(id: string, by?: Canceller): CancelOutcome {
    const active = this.#active.get(id);
    if (active !== undefined) {
      if (!active.controller.signal.aborted) {
        active.abortedBy = 'cancel';
        active.cancelledBy = by;
        if (by !== undefined) this.#records.markCancelling(id, by);
        // The reason is what the jobs' logs say ended them (`killed: the run was cancelled (…)`).
        active.controller.abort(new Error(by === undefined ? `build ${id} cancelled` : `build ${id} cancelled by ${cancellerText(by)}`));
      }
      return 'cancelling';
    }
    if (this.#records.cancelQueued(id, { by })) {
      this.#ended(id);
      this.#notify(id);
      return 'cancelled';
    }
    return 'finished';
  }

  active(): ActiveBuild[] {
    return [...this.#active.values()];
  }

  getActive(id: string): ActiveBuild | undefined {
    return this.#active.get(id);
  }

  queueLength(): number {
    return this.#records.queuedBuilds().length;
  }

  /** Resolves once the build is no longer queued or running (for tests and the CLI). */
  async settled(id: string, options: { signal?: AbortSignal } = {}): Promise<BuildRecord | undefined> {
    for (;;) {
      const b = this.#records.getBuild(id);
      if (b === undefined || (b.state !== 'queued' && b.state !== 'running')) return b;
      if (this.#stopping && !this.#active.has(id)) return b;
      options.signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const list = this.#waiters.get(id) ?? [];
        list.push(resolve);
        this.#waiters.set(id, list);
      });
    }
  }

  /** True once stop() or drain() was called: no build is taken or started any more. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Stop taking and starting builds, and wait for the running ones to end on their own. */
  async drain(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled([...this.#active.values()].map((a) => a.done));
    for (const id of this.#waiters.keys()) this.#notify(id);
  }

  /** Start every build that may start now. */
  pump(): void {
    if (this.#stopping) return;
    if (this.#active.size >= this.maxConcurrent) return;
    if (!this.#checkSpace()) {
      // Queued builds wait for space (a gc, a cleanup): look again in a while.
      if (this.#recheck === undefined && this.#records.queuedBuilds().length > 0) {
        this.#recheck = setTimeout(() => {
          this.#recheck = undefined;
          this.pump();
        }, this.#minFree?.recheckMs ?? 10_000);
        this.#recheck.unref();
      }
      return;
    }
    const busy = new Set([...this.#active.values()].map((a) => a.tenant));
    for (const b of startOrder(this.#records.queuedBuilds(), busy, this.#lastStart)) {
      if (this.#active.size >= this.maxConcurrent) break;
      this.#launch(b);
    }
  }

  /** Stop taking builds, abort the running ones (they go back to the queue) and wait for them. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#recheck);
    for (const a of this.#active.values()) {
      if (!a.controller.signal.aborted) {
        a.abortedBy = 'shutdown';
        // What the jobs' logs say ended them: the build is not over, it runs again.
        a.controller.abort(new Error(SHUTDOWN_REASON));
      }
    }
    await Promise.allSettled([...this.#active.values()].map((a) => a.done));
    for (const id of this.#waiters.keys()) this.#notify(id);
  }

  #launch(b: BuildRecord): void {
    if (!this.#records.markStarted(b.id)) return;
    this.#lastStart.set(b.tenant, ++this.#starts);
    const bus = new EventBus();
    const controller = new AbortController();
    let finish!: () => void;
    const active: ActiveBuild = {
      id: b.id,
      tenant: b.tenant,
      bus,
      controller,
      startedAt: Date.now(),
      runId: undefined,
      toBuild: [],
      runningJobs: new Map(),
      samples: new Map(),
      phases: new Map(),
      abortedBy: undefined,
      cancelledBy: undefined,
      done: new Promise<void>((resolve) => (finish = resolve)),
    };
    this.#active.set(b.id, active);
    bus.on((e) => {
      if (e.type === 'run-started') {
        active.runId = e.runId;
        active.toBuild = e.toBuild ?? [];
        this.#records.setRunId(b.id, e.runId);
      } else if (e.type === 'job-started') {
        active.runningJobs.set(e.jobId, { buildId: b.id, runId: e.runId, jobId: e.jobId, name: e.name, arch: e.arch, startedAt: e.at, log: e.log });
        active.phases.delete(e.jobId);
      } else if (e.type === 'job-finished' || e.type === 'job-settled') {
        active.runningJobs.delete(e.jobId);
        active.samples.delete(e.jobId);
        active.phases.delete(e.jobId);
      } else if (e.type === 'job-phase') {
        if (active.runningJobs.has(e.jobId)) active.phases.set(e.jobId, e.phase);
      } else if (e.type === 'job-sample') {
        if (!active.runningJobs.has(e.jobId)) return;
        active.samples.set(e.jobId, { at: e.at, cpuCores: e.cpuCores, memoryBytes: e.memoryBytes, diskBytes: e.diskBytes });
        this.#records.insertSample({ runId: e.runId, jobId: e.jobId, at: e.at, cpuCores: e.cpuCores, memoryBytes: e.memoryBytes, diskBytes: e.diskBytes });
      }
    });
    // Planning, it counts among the builds sharing the slots (a build started a moment later
    // does not take them all meanwhile), for PLANNING_HOLD_MS at most.
    const slotGate = this.pool.join(b.id, { planning: true });
    const planningLapse = setTimeout(() => slotGate.endPlanning(), PLANNING_HOLD_MS);
    planningLapse.unref();
    void this.#run(b, { bus, maxJobs: this.slots, slotGate, signal: controller.signal })
      .then(
        (r) => {
          if (active.runId === undefined) this.#records.setRunId(b.id, r.runId);
          this.#end(active, r.state, undefined);
        },
        (e: unknown) => {
          if (controller.signal.aborted) return this.#end(active, 'cancelled', undefined);
          if (!isKilnError(e)) this.#onError(b.id, e);
          // A KilnError keeps its code and hint: the client prints it and exits as a local run would.
          this.#end(active, 'failed', isKilnError(e) ? { message: e.message, code: e.code, hint: e.hint } : { message: e instanceof Error ? e.message : String(e) });
        },
      )
      .catch((e: unknown) => this.#onError(b.id, e))
      .finally(() => {
        // Whatever the build still held (a runner that threw mid-job) goes back to the others.
        clearTimeout(planningLapse);
        slotGate.leave();
        this.#active.delete(b.id);
        finish();
        this.#notify(b.id);
        this.pump();
      });
  }

  #end(a: ActiveBuild, state: 'done' | 'failed' | 'cancelled', error: { message: string; code?: string; hint?: string | undefined } | undefined): void {
    if (a.abortedBy === 'shutdown') {
      this.#records.requeue(a.id, 'interrupted: the server stopped while it ran; queued again');
      return;
    }
    const cancelled = a.abortedBy === 'cancel' || state === 'cancelled';
    const note = a.cancelledBy === undefined ? 'cancelled' : `cancelled by ${cancellerText(a.cancelledBy)}`;
    this.#records.markEnded(a.id, cancelled ? { state: 'cancelled', error: error?.message ?? note } : { state, error: error?.message, errorCode: error?.code, errorHint: error?.hint });
    this.#ended(a.id);
  }

  #notify(id: string): void {
    const list = this.#waiters.get(id);
    this.#waiters.delete(id);
    for (const w of list ?? []) w();
  }
}
