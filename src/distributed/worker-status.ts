// The fleet view (`kiln workers`): every `kiln worker` answers on kiln.workers.status
// (core NATS, nothing persisted) with what it is: its name and host, the archs and envs
// it serves, its sandbox, the jobs it builds now and its disk. Whoever asks gathers the
// answers for a while (scatter-gather). The coordinator uses them to say why nobody took
// a job (unclaimedHint).

import { KILN_VERSION as KILN_PACKAGE_VERSION } from '../lib/kiln-version.ts';
import { hostname } from 'node:os';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { humanBytes } from '../lib/human-bytes.ts';
import { noResponders } from './liveness.ts';
import { WORKER_NAME_RE } from './nats-url.ts';
import { parseMessage } from './wire.ts';

export const WORKERS_STATUS_SUBJECT = 'kiln.workers.status';
/** How long `kiln workers` gathers answers by default. */
export const DEFAULT_WAIT_MS = 1000;

const archText = z.string().regex(/^[a-z0-9][a-z0-9-]*$/).max(64);
const jobIdText = z.string().regex(/^[a-z0-9][a-z0-9+.-]*@[a-z0-9][a-z0-9-]*$/).max(300);
const time = z.number().int().nonnegative();
const bytes = z.number().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const WorkerStatus = z.object({
  name: z.string().regex(WORKER_NAME_RE),
  host: z.string().max(253),
  pid: z.number().int().positive(),
  /** kiln's version (package.json) on the worker. */
  version: z.string().max(64),
  startedAt: time,
  /** The queues it takes jobs from: an arch and the env id its jobs are planned in. */
  archs: z.array(z.object({ arch: archText, envId: z.string().max(1000) }).strict()).max(64),
  /** Its sandbox backend (host, chroot, rootless…). */
  sandbox: z.string().max(64),
  /** Jobs at once (--jobs). */
  jobs: z.number().int().positive().max(100_000),
  running: z.array(z.object({
    runId: z.string().regex(/^[0-9A-Za-z-]+$/).max(200),
    jobId: jobIdText,
    attempt: z.number().int().positive().max(10_000),
    since: time,
  }).strict()).max(100_000),
  /** The free space of its state's disk and its --min-free; null when unknown or not guarded. */
  disk: z.object({ free: bytes, where: z.string().max(4096), minFree: bytes, low: z.boolean() }).strict().nullable(),
}).strict();
export type WorkerStatus = z.infer<typeof WorkerStatus>;

/** kiln's version as a worker says it ("unknown" when package.json cannot tell). */
export const KILN_VERSION: string = KILN_PACKAGE_VERSION !== undefined && KILN_PACKAGE_VERSION.length <= 64 ? KILN_PACKAGE_VERSION : 'unknown';

/** What a worker knows of itself; workerStatusOf adds the host, pid and version. */
export interface WorkerFacts {
  readonly name: string;
  readonly startedAt: number;
  readonly archs: readonly { readonly arch: string; readonly envId: string }[];
  readonly sandbox: string;
  readonly jobs: number;
  readonly running: Iterable<{ readonly runId: string; readonly jobId: string; readonly attempt: number; readonly since: number }>;
  /** The --min-free guard as the worker has it (none: --min-free 0). */
  readonly minFree?: { readonly bytes: number; readonly free: () => { bytes: number; where: string } | undefined } | undefined;
}

/** A worker's answer, from what it knows of itself (reads the free space now). */
export function workerStatusOf(f: WorkerFacts): WorkerStatus {
  const free = f.minFree?.free();
  return {
    name: f.name,
    host: hostname().slice(0, 253),
    pid: process.pid,
    version: KILN_VERSION,
    startedAt: f.startedAt,
    archs: f.archs.map((a) => ({ arch: a.arch, envId: a.envId })),
    sandbox: f.sandbox,
    jobs: f.jobs,
    running: [...f.running].map((r) => ({ runId: r.runId, jobId: r.jobId, attempt: r.attempt, since: r.since })),
    disk: f.minFree === undefined || free === undefined ? null : { free: free.bytes, where: free.where, minFree: f.minFree.bytes, low: f.minFree.bytes > 0 && free.bytes < f.minFree.bytes },
  };
}

/** A worker's side: answers every question on WORKERS_STATUS_SUBJECT with `status()` until unsubscribed. */
export function answerStatus(nc: NatsConnection, status: () => WorkerStatus): Subscription {
  return nc.subscribe(WORKERS_STATUS_SUBJECT, {
    callback: (err, m) => {
      // (A refused subscription: no message to answer.)
      if (err !== null) return;
      let text: string;
      try {
        text = JSON.stringify(status());
      } catch {
        return;
      }
      m.respond(text);
    },
  });
}

/**
 * Asks every worker and gathers the answers for `waitMs`: the readable ones sorted by name
 * (then pid), the others counted. Nobody listening is an empty list, not an error.
 */
export async function askWorkers(nc: NatsConnection, waitMs = DEFAULT_WAIT_MS): Promise<{ statuses: WorkerStatus[]; unreadable: number }> {
  const statuses: WorkerStatus[] = [];
  let unreadable = 0;
  try {
    const answers = await nc.requestMany(WORKERS_STATUS_SUBJECT, '', { strategy: 'timer', maxWait: waitMs });
    for await (const m of answers) {
      const parsed = parseMessage(WorkerStatus, m.string());
      if (parsed.ok) statuses.push(parsed.value);
      else unreadable++;
    }
  } catch (e) {
    // requestMany throws the server's 503 bare (nats-core 3.x names it NoResponders), not wrapped as request() does.
    if (!noResponders(e) && (e as Error | null)?.name !== 'NoResponders') throw e;
  }
  statuses.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.pid - b.pid));
  return { statuses, unreadable };
}

/** How many workers a hint names before "and N more". */
const HINT_NAMES = 6;

/**
 * Why no worker took a job of `arch` planned in `envId` (the queue's env id), from what the
 * workers answered (pure): none answers, none serves that queue (and what each serves), or
 * those that serve it are low on disk, busy, or have room.
 */
export function unclaimedHint(statuses: readonly WorkerStatus[], arch: string, envId: string): string {
  if (statuses.length === 0) return 'no worker answers at all';
  const serves = (s: WorkerStatus): boolean => s.archs.some((a) => a.arch === arch && a.envId === envId);
  const servers = statuses.filter(serves);
  const cap = (parts: string[], sep: string): string => (parts.length <= HINT_NAMES ? parts.join(sep) : `${parts.slice(0, HINT_NAMES).join(sep)}${sep}and ${parts.length - HINT_NAMES} more`);
  if (servers.length === 0) {
    const others = statuses.map((s) => {
      const what = s.archs.length === 0 ? 'no queue' : s.archs.map((a) => `${a.arch} in ${a.envId}`).join(', ');
      const otherEnv = s.archs.some((a) => a.arch === arch && a.envId !== envId);
      return `${s.name} (${what}${otherEnv ? ' — another env: its host release or --env differs' : ''})`;
    });
    return `${count(statuses.length, 'worker answers', 'workers answer')}, none for ${arch} in ${envId}: ${cap(others, ', ')}`;
  }
  const state = (s: WorkerStatus): string => {
    if (s.disk?.low === true) return `is low on disk (${humanBytes(s.disk.free)} free, --min-free ${humanBytes(s.disk.minFree)})`;
    if (s.running.length >= s.jobs) return `is busy with ${s.running.length} of ${s.jobs} jobs`;
    return `has room (${s.running.length} of ${s.jobs} jobs running): it should take it soon`;
  };
  if (servers.length === 1) {
    const s = servers[0]!;
    const st = state(s);
    return `worker ${s.name} serves ${arch} in ${envId} ${st.startsWith('is low') ? 'but' : 'and'} ${st}`;
  }
  return `${servers.length} workers serve ${arch} in ${envId}: ${cap(servers.map((s) => `${s.name} ${state(s)}`), '; ')}`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
