// Per-job resource sampling for the daemon: subscribed to one build's event bus, it starts
// a timer when a job starts and stops it when the job ends; every `intervalMs` it reads the
// job's cpu, memory and workspace size (job-usage.ts) and emits a `job-sample` event on
// the same bus, which the queue keeps in the records and shows in the API.
//
// Where the job's numbers come from is found once per job and then kept: the sandbox
// journal (<state>/sandboxes/*.json) names a chroot job's cgroup and workspace; a job with
// no cgroup there (host sandbox) is sampled through its process tree in /proc, its
// workspace being <work>/<run>/<name>_<arch> as the executor makes it.

import { join } from 'node:path';
import type { EventBus } from '../events/events.ts';
import { readEntries } from '../sandbox/journal.ts';
import type { CgroupRef } from '../sandbox/cgroups/cgroups.ts';
import { cgroupUsage, coresBetween, processTreeUsage, workspaceBytes, type UsageReading } from './job-usage.ts';

export const DEFAULT_SAMPLE_INTERVAL_MS = 5000;

export interface JobSamplerOptions {
  readonly bus: EventBus;
  /** The state dir (its sandbox journal). */
  readonly stateRoot: string;
  /** Where job workspaces go (<state>/work). */
  readonly workRoot: string;
  readonly intervalMs?: number;
  /** Told about a sample that failed (it is skipped; sampling goes on). */
  readonly onError?: (e: unknown) => void;
}

interface Source {
  readonly workDir: string;
  readonly cgroup: CgroupRef | null;
}

interface Tracked {
  readonly runId: string;
  readonly jobId: string;
  readonly timer: NodeJS.Timeout;
  source: Source | undefined;
  prev: { at: number; cpuUs: number };
  busy: boolean;
  /** Disk walks can be slow on a big workspace: not more often than 10× their own duration. */
  diskDueAt: number;
  lastDisk: number;
}

export interface JobSampler {
  /** Stop every timer and unsubscribe (idempotent). */
  stop(): void;
}

export function startJobSampler(o: JobSamplerOptions): JobSampler {
  const interval = Math.max(100, o.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS);
  const jobs = new Map<string, Tracked>();
  const key = (runId: string, jobId: string): string => `${runId}\0${jobId}`;

  const end = (k: string): void => {
    const t = jobs.get(k);
    if (t === undefined) return;
    clearInterval(t.timer);
    jobs.delete(k);
  };

  const locate = async (t: Tracked): Promise<Source> => {
    const sandboxJobId = `${t.runId}-${t.jobId}`;
    for (const { entry } of await readEntries(o.stateRoot)) {
      if (entry?.jobId === sandboxJobId) return { workDir: entry.workDir, cgroup: entry.cgroup };
    }
    return { workDir: join(o.workRoot, t.runId, t.jobId.replace('@', '_')), cgroup: null };
  };

  const sample = async (t: Tracked): Promise<void> => {
    if (t.busy) return;
    t.busy = true;
    try {
      // A chroot job's journal entry appears once its sandbox is made; until then (and for
      // the host sandbox) look again each time.
      if (t.source?.cgroup == null) t.source = await locate(t);
      const source = t.source;
      const usage: UsageReading = source.cgroup !== null ? await cgroupUsage(source.cgroup) : processTreeUsage(source.workDir);
      const at = Date.now();
      if (at >= t.diskDueAt) {
        const started = performance.now();
        t.lastDisk = await workspaceBytes(source.workDir);
        t.diskDueAt = at + Math.max(0, 10 * (performance.now() - started));
      }
      if (!jobs.has(key(t.runId, t.jobId))) return; // ended meanwhile
      const cpuCores = coresBetween(t.prev.cpuUs, usage.cpuUs, at - t.prev.at);
      t.prev = { at, cpuUs: Math.max(t.prev.cpuUs, usage.cpuUs) };
      o.bus.emit({ type: 'job-sample', runId: t.runId, jobId: t.jobId, cpuCores, memoryBytes: usage.memoryBytes, diskBytes: t.lastDisk, at });
    } catch (e) {
      o.onError?.(e);
    } finally {
      t.busy = false;
    }
  };

  const off = o.bus.on((e) => {
    switch (e.type) {
      case 'job-started': {
        const k = key(e.runId, e.jobId);
        end(k);
        const t: Tracked = {
          runId: e.runId,
          jobId: e.jobId,
          timer: setInterval(() => void sample(t), interval),
          source: undefined,
          prev: { at: e.at, cpuUs: 0 },
          busy: false,
          diskDueAt: 0,
          lastDisk: 0,
        };
        t.timer.unref();
        jobs.set(k, t);
        return;
      }
      case 'job-finished':
      case 'job-settled':
        end(key(e.runId, e.jobId));
        return;
      case 'run-finished':
        for (const [k, t] of jobs) if (t.runId === e.runId) end(k);
        return;
      default:
        return;
    }
  });

  return {
    stop() {
      off();
      for (const k of [...jobs.keys()]) end(k);
    },
  };
}
