// followBuild: one build's live state as a sequence of messages, for the event stream
// GET /api/v1/builds/{id}/events (events-route.ts) that the build page listens to.
//
//   snapshot  {build, jobs, samples}  first, and again whenever the build starts a new run
//   job       JobView                 a job started, changed phase, finished or settled
//   sample    SampleView              a running job's latest cpu/memory/disk sample
//   build     BuildSummary            state, totals and ETA: every tick while it runs, else on change
//   end       BuildSummary            the build ended; nothing follows
//
// Two sources feed one model per connection: the running build's event bus, for
// immediacy, and the records, re-read every few seconds, for what the bus cannot give
// (events before this connection, a build run by an earlier server). mergeJob() (view.ts)
// makes the two agree: a later attempt wins, and a job never goes back from a final state
// to running, so the records' short lag behind the bus does no harm.

import type { EventBus, KilnEvent } from '../../events/events.ts';
import type { BuildRecord } from '../../records/server-record-types.ts';
import { treeNameOf, type ServerContext } from '../context.ts';
import { treeHider } from './pages.ts';
import { hideJobPaths, jobViewFromEvent, jobViewOf, jobViewOfRunning, mergeJob, summarize, type BuildSummary, type JobView, type SampleView } from './view.ts';

export type FeedMessage =
  | { readonly event: 'snapshot'; readonly data: { readonly build: BuildSummary; readonly jobs: readonly JobView[]; readonly samples: readonly SampleView[] } }
  | { readonly event: 'job'; readonly data: JobView }
  | { readonly event: 'sample'; readonly data: SampleView }
  | { readonly event: 'build'; readonly data: BuildSummary }
  | { readonly event: 'end'; readonly data: BuildSummary };

export interface FollowBuildOptions {
  readonly signal?: AbortSignal;
  /** How often the build's state is checked and a summary sent (default 1000 ms). */
  readonly tickMs?: number;
  /** How often the records are re-read to catch what the bus did not say (default 3000 ms). */
  readonly resyncMs?: number;
  readonly now?: () => number;
}

const ENDED = new Set(['done', 'failed', 'cancelled']);

export async function* followBuild(ctx: ServerContext, buildId: string, options: FollowBuildOptions = {}): AsyncGenerator<FeedMessage, void, undefined> {
  const { signal } = options;
  const tickMs = options.tickMs ?? 1000;
  const resyncMs = options.resyncMs ?? 3000;
  const now = options.now ?? Date.now;

  let model = new Map<string, JobView>();
  let samples = new Map<string, SampleView>();
  let outbox: FeedMessage[] = [];
  let runId: string | null = null;
  let expected = new Map<string, number>();
  let slots = 1;
  let restart = false;
  let bus: EventBus | undefined;
  let off: (() => void) | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  // An uploaded tree's folder on the daemon is `{tree}` in causes (set once the build is read).
  let hide: ((text: string) => string) | undefined;
  const upsert = (raw: JobView | undefined, quiet: boolean): void => {
    if (raw === undefined) return;
    const v = hideJobPaths(raw, hide);
    const merged = mergeJob(model.get(v.jobId), v);
    if (merged === undefined) return;
    model.set(v.jobId, merged);
    if (merged.state !== 'running') samples.delete(merged.jobId);
    if (!quiet) outbox.push({ event: 'job', data: merged });
  };

  const onEvent = (e: KilnEvent): void => {
    if (e.type === 'note') return;
    if (e.type === 'run-started') {
      if (e.runId !== runId) restart = true;
    } else if (e.type === 'run-finished') {
      // The summary follows at the next tick.
    } else if (e.runId !== runId && runId !== null) {
      return;
    } else if (e.type === 'job-sample') {
      if (model.get(e.jobId)?.state !== 'running') return;
      const s: SampleView = { jobId: e.jobId, cpuCores: e.cpuCores, memoryBytes: e.memoryBytes, diskBytes: e.diskBytes, at: e.at };
      samples.set(e.jobId, s);
      outbox.push({ event: 'sample', data: s });
    } else {
      upsert(jobViewFromEvent(buildId, model.get(e.jobId), e), false);
    }
    notify();
  };

  /** Listen to the build's bus while it runs in this server (a new bus when it is launched again). */
  const attach = (): void => {
    const active = ctx.queue.getActive(buildId);
    if (active === undefined || active.bus === bus) return;
    off?.();
    bus = active.bus;
    off = bus.on(onEvent);
  };

  /** Merge the records' view of the run's jobs into the model. */
  const resync = (quiet: boolean): void => {
    if (runId === null) return;
    const active = ctx.queue.getActive(buildId);
    const live = active !== undefined && active.runId === runId ? active : undefined;
    // A job's phase is only in events: the queue keeps each running job's latest, so a
    // snapshot taken after the job-phase event still carries it.
    const phaseOf = (jobId: string): string | null => model.get(jobId)?.phase ?? live?.phases.get(jobId) ?? null;
    for (const j of ctx.runs.jobsOfRun(runId)) {
      // The queue knows at once when a job ends; the records may still say running.
      if (j.state === 'running' && live !== undefined && !live.runningJobs.has(j.jobId)) continue;
      upsert(jobViewOf(buildId, j, phaseOf(j.jobId)), quiet);
    }
    if (live !== undefined) {
      for (const r of live.runningJobs.values()) if (!model.has(r.jobId)) upsert(jobViewOfRunning(buildId, r, phaseOf(r.jobId)), quiet);
    }
  };

  const load = (b: BuildRecord): FeedMessage => {
    hide = treeHider(ctx, b);
    runId = b.runId ?? ctx.queue.getActive(buildId)?.runId ?? null;
    model = new Map();
    samples = new Map();
    outbox = [];
    restart = false;
    resync(true);
    if (runId !== null) {
      const run = ctx.runs.getRun(runId);
      slots = run?.maxJobs ?? Math.max(1, Math.floor(ctx.queue.slots / ctx.queue.maxConcurrent));
      expected = ctx.runs.learnedDurations();
      for (const [jobId, s] of ctx.records.latestSamples(runId)) {
        if (model.get(jobId)?.state === 'running') samples.set(jobId, { jobId, cpuCores: s.cpuCores, memoryBytes: s.memoryBytes, diskBytes: s.diskBytes, at: s.at });
      }
    }
    return { event: 'snapshot', data: { build: summary(b), jobs: [...model.values()], samples: [...samples.values()] } };
  };

  const summary = (b: BuildRecord): BuildSummary => {
    const total = runId === null ? null : (ctx.runs.getRun(runId)?.total ?? null);
    return summarize({ build: { ...b, treeName: treeNameOf(b) }, jobs: model.values(), total, slots, expectedMs: expected, now: now() });
  };

  const waitTick = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });

  try {
    attach();
    let b = ctx.records.getBuild(buildId);
    if (b === undefined) return;
    yield load(b);
    let lastSummary = '';
    let lastResync = now();
    let nextTick = now() + tickMs;
    while (!signal?.aborted) {
      if (outbox.length === 0) await waitTick(Math.max(0, nextTick - now()));
      if (signal?.aborted) return;
      const batch = outbox;
      outbox = [];
      yield* batch;
      if (now() < nextTick && !restart) continue;
      nextTick = now() + tickMs;

      attach();
      b = ctx.records.getBuild(buildId);
      if (b === undefined) return;
      const currentRun = b.runId ?? ctx.queue.getActive(buildId)?.runId ?? null;
      if (restart || (currentRun !== null && currentRun !== runId)) {
        yield load(b);
        lastResync = now();
        continue;
      }
      const ended = ENDED.has(b.state) && ctx.queue.getActive(buildId) === undefined;
      if (ended || now() - lastResync >= resyncMs) {
        resync(false);
        lastResync = now();
        const late = outbox;
        outbox = [];
        yield* late;
      }
      const s = summary(b);
      if (ended) {
        yield { event: 'end', data: s };
        return;
      }
      // While it runs, a summary every tick (the ETA and elapsed move); else only on change.
      const key = JSON.stringify({ ...s, at: 0, etaMs: 0 });
      if (s.state === 'running' || key !== lastSummary) yield { event: 'build', data: s };
      lastSummary = key;
    }
  } finally {
    off?.();
  }
}
