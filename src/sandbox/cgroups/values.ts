// Small pure helpers shared by the v1 and v2 file logic.

/** Default pids limit when the recipe gives none: room for a parallel build, not for a fork bomb. */
export const DEFAULT_PIDS = 4096;

export interface CgroupUsage {
  readonly userUs: number;
  readonly systemUs: number;
  /** Peak memory charged to the group (page cache included), when the kernel tells it. */
  readonly peakBytes?: number;
}

/** cpus → quota per period; at least 1 ms (the kernel's minimum). */
export function quotaUs(cpus: number, periodUs: number): number {
  return Math.max(1000, Math.round(cpus * periodUs));
}

/** `name N` from a flat keyed cgroup file (memory.oom_control, memory.events, cpu.stat). */
export function counter(text: string, name: string): number {
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === name && v !== undefined) return Number(v);
  }
  return 0;
}
