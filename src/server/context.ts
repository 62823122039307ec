// What every route module gets from createApp: the records, the queue and the server's
// configuration; and the shared JSON views of builds.

import type { Records } from '../records/records.ts';
import type { ServerRecords } from '../records/server-records.ts';
import type { BuildRecord } from '../records/server-record-types.ts';
import type { StateLayout } from '../run/state-layout.ts';
import type { BundleLimits } from './bundles.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import type { BuildQueue, LowSpace } from './queue.ts';
import type { BuildBody } from './schemas.ts';

import type { WorkerStatus } from '../distributed/worker-status.ts';

export interface ServerContext {
  readonly records: ServerRecords;
  /** The run records (runs and jobs) written by each build's runBuild. */
  readonly runs: Records;
  readonly queue: BuildQueue;
  readonly trees: ReadonlyMap<string, string>;
  readonly state: StateLayout;
  /** Bundle upload bounds (kiln serve --bundle-max-*). */
  readonly bundleLimits: BundleLimits;
  /** The highest priority a tenant's token may ask for (kiln serve --max-priority; admins any). */
  readonly maxPriority: number;
  /** Refuse at submit time what the runner would surely fail (precheck.ts); absent for test runners. */
  readonly precheck?: ((treeDir: string, body: BuildBody) => Promise<void>) | undefined;
  /** kiln serve --nats: asks the `kiln worker`s what they are and build (routes/workers.ts); undefined without --nats. */
  readonly workers?: (() => Promise<WorkerStatus[]>) | undefined;
  /** kiln serve --sandbox host: builds run on the daemon's machine as it is, never in an env. */
  readonly hostSandbox?: boolean;
  /** The daemon's own log (its stderr): one line per cancel. */
  readonly log?: ((line: string) => void) | undefined;
}

/** The uploaded tree's folder name the build request carried (`treeName`), else null (a named tree, or an older client). */
export function treeNameOf(b: Pick<BuildRecord, 'request'>): string | null {
  const name = (b.request as Partial<BuildBody>).treeName;
  return typeof name === 'string' && name !== '' ? name : null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function buildView(ctx: ServerContext, b: BuildRecord) {
  const body = b.request as Partial<BuildBody>;
  const run = b.runId === null ? undefined : ctx.runs.getRun(b.runId);
  return {
    id: b.id,
    tenant: b.tenant,
    tree: b.tree,
    state: b.state,
    targets: body.targets ?? [],
    archs: body.archs ?? null,
    env: body.env ?? null,
    priority: b.priority,
    runId: b.runId,
    error: b.error,
    errorCode: b.errorCode,
    errorHint: b.errorHint,
    retryOf: b.retryOf,
    bundle: body.bundle ?? null,
    treeName: treeNameOf(b),
    priorRuns: [...b.priorRuns],
    cancelledBy: b.cancelledBy === null ? null : { tenant: b.cancelledBy.tenant, admin: b.cancelledBy.admin },
    createdAt: new Date(b.createdAt).toISOString(),
    startedAt: iso(b.startedAt),
    endedAt: iso(b.endedAt),
    total: run?.total ?? null,
    counts: (run?.counts as Record<string, number> | null | undefined) ?? (run === undefined ? null : liveCounts(ctx, run.id)),
    waiting: waitingOf(ctx, run),
    waitingFor: b.state === 'queued' ? waitingFor(ctx, b) : null,
  };
}

/** What the free-space guard says (GET /healthz, a queued build's waitingFor): one byte formatter, as kiln serve's start line. */
export function lowSpaceProblem(low: LowSpace): string {
  return `only ${humanBytes(low.freeBytes)} free on the state directory's disk, under --min-free ${humanBytes(low.minFreeBytes)}`;
}

/** Why a queued build has not started: the first thing that holds it back; null when nothing (it starts at the next turn of the queue). */
function waitingFor(ctx: ServerContext, b: BuildRecord): string | null {
  if (ctx.queue.stopping) return 'the daemon is stopping: it starts no build; queued builds run at its next start';
  const low = ctx.queue.lowSpace();
  if (low !== undefined) return `disk space: ${lowSpaceProblem(low)}; it starts by itself once there is space (the daemon's operator frees some with kiln cache gc)`;
  const active = ctx.queue.active();
  if (active.some((a) => a.tenant === b.tenant)) return `an earlier build of tenant ${b.tenant} is running: one tenant's builds run one after another`;
  if (active.length >= ctx.queue.maxConcurrent) return `the daemon runs ${active.length} build${active.length === 1 ? '' : 's'} at once, its most (--max-concurrent-builds): it starts when one ends`;
  return null;
}

/**
 * The jobs a build's run will build that have not started yet (its run-started's toBuild,
 * less those with a job row: running or settled); 0 once the run ended; null before it
 * started (queued, or planning).
 */
function waitingOf(ctx: ServerContext, run: { id: string; state: string } | undefined): number | null {
  if (run === undefined) return null;
  return run.state === 'running' ? ctx.runs.waitingCount(run.id) : 0;
}

/** A running build's counts so far (a finished run has them in its record). */
function liveCounts(ctx: ServerContext, runId: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of ctx.runs.jobsOfRun(runId)) out[j.state] = (out[j.state] ?? 0) + 1;
  return out;
}

export { iso };
