// The figures of the Debian set benchmark that come from kiln's own run: the lower bound on
// its makespan (the critical path through the build-dependency waits, and the CPU time its
// builds used spread over every core) and how busy the machine's cores were while there was
// work to fill them. The arithmetic is pure (table-testable); CpuSampler is the one bit of
// I/O: /proc/stat every 0.5 s while kiln runs.

import { readFileSync } from 'node:fs';

export interface JobTiming {
  readonly id: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** CPU time of the job's build step (cgroup rusage user + system), ms; 0 when unknown. */
  readonly cpuMs: number;
  /** Job ids this one waits for (kiln plan's waitsFor). */
  readonly waitsFor: readonly string[];
}

export interface LowerBound {
  readonly criticalPathMs: number;
  readonly criticalPath: readonly string[];
  readonly totalCpuMs: number;
  readonly cpuPerCoreMs: number;
  readonly boundMs: number;
}

/** max(longest duration-weighted chain of waits, total CPU / cores). */
export function lowerBound(jobs: readonly JobTiming[], cores: number): LowerBound {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const memo = new Map<string, { ms: number; path: string[] }>();
  const longest = (id: string): { ms: number; path: string[] } => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const j = byId.get(id)!;
    let best = { ms: 0, path: [] as string[] };
    for (const w of j.waitsFor) {
      if (!byId.has(w)) continue;
      const l = longest(w);
      if (l.ms > best.ms) best = l;
    }
    const r = { ms: best.ms + (j.endedAt - j.startedAt), path: [...best.path, id] };
    memo.set(id, r);
    return r;
  };
  let critical = { ms: 0, path: [] as string[] };
  for (const j of jobs) {
    const l = longest(j.id);
    if (l.ms > critical.ms) critical = l;
  }
  const totalCpuMs = jobs.reduce((s, j) => s + j.cpuMs, 0);
  const cpuPerCoreMs = totalCpuMs / cores;
  return { criticalPathMs: critical.ms, criticalPath: critical.path, totalCpuMs, cpuPerCoreMs, boundMs: Math.max(critical.ms, cpuPerCoreMs) };
}

/** One /proc/stat interval: the machine's busy share (0..1, all cores) from `at - ms` to `at`. */
export interface CpuSample {
  readonly at: number;
  readonly ms: number;
  readonly busy: number;
}

/** How many jobs could run at time t: ready (all waits finished) or running, not finished. */
export function demandAt(jobs: readonly JobTiming[], t: number, runStart: number): number {
  const end = new Map(jobs.map((j) => [j.id, j.endedAt]));
  let n = 0;
  for (const j of jobs) {
    if (t >= j.endedAt) continue;
    const readyAt = Math.max(runStart, ...j.waitsFor.map((w) => end.get(w) ?? runStart));
    if (t >= readyAt) n++;
  }
  return n;
}

export interface Busy {
  /** Time (ms) during which at least `cores` jobs were ready or running. */
  readonly fullDemandMs: number;
  /** Share of that time whose 0.5 s sample had the cores >= `threshold` busy. */
  readonly busyShare: number;
  /** Mean busy share of the cores over that time. */
  readonly meanBusy: number;
}

/** Over the samples where work existed for every core, how often were the cores >= threshold busy? */
export function busyWhileReady(samples: readonly CpuSample[], jobs: readonly JobTiming[], o: { cores: number; runStart: number; threshold?: number }): Busy {
  const threshold = o.threshold ?? 0.9;
  let fullDemandMs = 0;
  let busyMs = 0;
  let weighted = 0;
  for (const s of samples) {
    const mid = s.at - s.ms / 2;
    if (demandAt(jobs, mid, o.runStart) < o.cores) continue;
    fullDemandMs += s.ms;
    weighted += s.busy * s.ms;
    if (s.busy >= threshold) busyMs += s.ms;
  }
  return { fullDemandMs, busyShare: fullDemandMs === 0 ? 0 : busyMs / fullDemandMs, meanBusy: fullDemandMs === 0 ? 0 : weighted / fullDemandMs };
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
function readStat(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Samples /proc/stat every `everyMs` until stopped. */
export class CpuSampler {
  readonly samples: CpuSample[] = [];
  #timer: NodeJS.Timeout;
  #last = readStat();
  #lastAt = Date.now();

  constructor(everyMs = 500) {
    this.#timer = setInterval(() => this.#tick(), everyMs);
  }

  #tick(): void {
    const now = readStat();
    const at = Date.now();
    if (now !== undefined && this.#last !== undefined && now.total > this.#last.total) {
      this.samples.push({ at, ms: at - this.#lastAt, busy: (now.busy - this.#last.busy) / (now.total - this.#last.total) });
    }
    this.#last = now;
    this.#lastAt = at;
  }

  stop(): CpuSample[] {
    clearInterval(this.#timer);
    this.#tick();
    return this.samples;
  }
}
