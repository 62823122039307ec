// The fleet view (`kiln workers`): every `kiln worker` answers on kiln.workers.status
// (core NATS, nothing persisted) with what it is: its name and host, the archs and envs
// it serves, its sandbox, the jobs it builds now and its disk. Whoever asks gathers the
// answers for a while (scatter-gather). The coordinator uses them to say why nobody took
// a job (unclaimedHint).
//
// The answer's schema is strict (an unknown field makes it unreadable), so a field added
// later would make older readers drop newer workers. Such fields go in only when the
// question asks for them (its body: {"want": [...]}, STATUS_EXTRAS); an older asker sends
// an empty question and gets the fields it knows, and an older worker answers a newer
// asker without them (optional here).

import { KILN_VERSION as KILN_PACKAGE_VERSION } from '../lib/kiln-version.ts';
import { hostname } from 'node:os';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { humanBytes } from '../lib/human-bytes.ts';
import { noResponders } from './liveness.ts';
import { WORKER_NAME_RE } from './nats-url.ts';
import { parseMessage } from './wire.ts';
import type { Reserved } from './worker-capacity.ts';

export const WORKERS_STATUS_SUBJECT = 'kiln.workers.status';
/** How long `kiln workers` gathers answers by default. */
export const DEFAULT_WAIT_MS = 1000;

const archText = z.string().regex(/^[a-z0-9][a-z0-9-]*$/).max(64);
const jobIdText = z.string().regex(/^[a-z0-9][a-z0-9+.-]*@[a-z0-9][a-z0-9-]*$/).max(300);
const time = z.number().int().nonnegative();
const bytes = z.number().nonnegative().max(Number.MAX_SAFE_INTEGER);
const whole = z.number().int().nonnegative().max(1_000_000);

/** The fields an asker reads beyond the first ones, named in its question ({"want": [...]}). */
export const STATUS_EXTRAS = ['capacity'] as const;
type StatusExtra = (typeof STATUS_EXTRAS)[number];
/** What askWorkers asks: every extra this kiln reads. */
export const STATUS_QUESTION = JSON.stringify({ want: STATUS_EXTRAS });

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
  /**
   * What its running jobs reserve of its cpus (cores plus --overcommit-cpus) and memory,
   * and the jobs it took that wait for room (it takes no other meanwhile: worker-hold.ts).
   * Only when asked (STATUS_EXTRAS); absent from a worker before it.
   */
  capacity: z.object({
    cpus: z.object({ reserved: whole, total: whole }).strict(),
    memory: z.object({ reserved: bytes, total: bytes }).strict(),
    held: z.array(z.object({
      runId: z.string().regex(/^[0-9A-Za-z-]+$/).max(200),
      jobId: jobIdText,
      /** What it reserves (clamped to the worker's machine, as it is compared). */
      cpus: whole,
      memoryBytes: bytes,
      since: time,
    }).strict()).max(1000),
  }).strict().optional(),
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
  /** What its running jobs reserve and what it can reserve, and the jobs held for room (worker.ts). */
  readonly capacity?: {
    readonly reserved: Reserved;
    readonly held: Iterable<HeldJob>;
  } | undefined;
}

/** A job a worker took that waits for room, and what it reserves (clamped to the machine). */
export interface HeldJob {
  readonly runId: string;
  readonly jobId: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly since: number;
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
    ...(f.capacity === undefined ? {} : {
      capacity: {
        cpus: { reserved: f.capacity.reserved.cpus.reserved, total: f.capacity.reserved.cpus.total },
        memory: { reserved: f.capacity.reserved.memory.reserved, total: f.capacity.reserved.memory.total },
        held: [...f.capacity.held].map((h) => ({ runId: h.runId, jobId: h.jobId, cpus: h.cpus, memoryBytes: h.memoryBytes, since: h.since })),
      },
    }),
  };
}

/** The extras a question asks for (its body: {"want": [...]}); none for an empty or unreadable one, as an older asker sends (pure). */
export function extrasWanted(question: string): Set<StatusExtra> {
  let want: unknown;
  if (question.length > 10_000) return new Set();
  try {
    want = (JSON.parse(question) as { want?: unknown } | null)?.want;
  } catch {
    return new Set();
  }
  return new Set(Array.isArray(want) ? STATUS_EXTRAS.filter((e) => want.includes(e)) : []);
}

/** A worker's answer to a question: without the extras it did not ask for (pure). */
export function answerFor(status: WorkerStatus, question: string): WorkerStatus {
  const want = extrasWanted(question);
  const answer: WorkerStatus = { ...status };
  for (const e of STATUS_EXTRAS) if (!want.has(e)) delete answer[e];
  return answer;
}

/** A worker's side: answers every question on WORKERS_STATUS_SUBJECT with `status()` until unsubscribed. */
export function answerStatus(nc: NatsConnection, status: () => WorkerStatus): Subscription {
  return nc.subscribe(WORKERS_STATUS_SUBJECT, {
    callback: (err, m) => {
      // (A refused subscription: no message to answer.)
      if (err !== null) return;
      let text: string;
      try {
        text = JSON.stringify(answerFor(status(), m.string()));
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
    const answers = await nc.requestMany(WORKERS_STATUS_SUBJECT, STATUS_QUESTION, { strategy: 'timer', maxWait: waitMs });
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
    const held = s.capacity?.held[0];
    if (held !== undefined) return `is holding ${held.jobId} until its running jobs leave room for it (${reservation(held.cpus, held.memoryBytes)}): it takes no other job meanwhile`;
    if (s.running.length >= s.jobs) return `is busy with ${s.running.length} of ${s.jobs} jobs`;
    const cpus = s.capacity?.cpus;
    if (cpus !== undefined && cpus.reserved >= cpus.total) return `is busy: its ${count(s.running.length, 'running job reserves', 'running jobs reserve')} all ${cpus.total} cpus`;
    return `has room (${s.running.length} of ${s.jobs} jobs running): it should take it soon`;
  };
  if (servers.length === 1) {
    const s = servers[0]!;
    const st = state(s);
    return `worker ${s.name} serves ${arch} in ${envId} ${st.startsWith('is low') ? 'but' : 'and'} ${st}`;
  }
  return `${servers.length} workers serve ${arch} in ${envId}: ${cap(servers.map((s) => `${s.name} ${state(s)}`), '; ')}`;
}

/** "2 cpus and 4.0 GiB of memory" (the memory only when some is reserved). */
export function reservation(cpus: number, memoryBytes: number): string {
  return `${count(cpus, 'cpu', 'cpus')}${memoryBytes > 0 ? ` and ${humanBytes(memoryBytes)} of memory` : ''}`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
