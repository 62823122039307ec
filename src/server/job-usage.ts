// Reading one running job's resource use, the way its sandbox makes it visible:
// - a job with a cgroup (chroot sandbox; named in the sandbox journal): the group's cpu
//   time and its working-set memory (usage minus inactive page cache, like cAdvisor);
// - the host sandbox (no cgroup): the job's process tree from /proc, i.e. every process
//   whose working directory is inside the job's workspace, plus their descendants;
//   cpu = utime+stime+cutime+cstime summed over it (reaped children stay counted through
//   their parent's cutime), memory = the sum of resident sets;
// - disk: the workspace's blocks on disk, on its own filesystem only (an overlay or bind
//   mounted inside it is not walked), each inode once.
// The parsing and the tree selection are pure functions with table tests.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCgroup, type CgroupRef } from '../sandbox/cgroups/cgroups.ts';
import { counter } from '../sandbox/cgroups/values.ts';
import { parseStat } from '../lib/proc-stat.ts';

export interface UsageReading {
  /** Cumulative cpu time of the job, in microseconds. */
  readonly cpuUs: number;
  readonly memoryBytes: number;
}

export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  /** utime+stime+cutime+cstime, in clock ticks. */
  readonly ticks: number;
  /** Resident pages. */
  readonly rssPages: number;
  readonly cwd: string | undefined;
}

const CLOCK_TICKS = 100; // USER_HZ on every Linux architecture kiln runs on
const PAGE = 4096;

/** Fields of /proc/<pid>/stat → ppid, cpu ticks and rss pages; undefined for a zombie or garbage. */
export function parseProcStat(text: string): { ppid: number; ticks: number; rssPages: number } | undefined {
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
  const f = parseStat(text)?.fields;
  if (f === undefined || f[0] === 'Z' || f[0] === 'X' || f.length < 22) return undefined;
  const n = (i: number): number => Number(f[i]);
  const ticks = n(11) + n(12) + n(13) + n(14);
  if (!Number.isFinite(ticks)) return undefined;
  return { ppid: n(1), ticks, rssPages: n(21) };
}

/** The pids of the job's tree: processes working inside `workDir`, and all their descendants. */
export function jobTree(procs: readonly ProcInfo[], workDir: string): Set<number> {
  const inside = (cwd: string | undefined): boolean => cwd !== undefined && (cwd === workDir || cwd.startsWith(`${workDir}/`));
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out = new Set<number>();
  const stack = procs.filter((p) => inside(p.cwd)).map((p) => p.pid);
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (out.has(pid)) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Sum a tree's cpu and memory. */
export function treeUsage(procs: readonly ProcInfo[], tree: ReadonlySet<number>): UsageReading {
  let ticks = 0;
  let pages = 0;
  for (const p of procs) {
    if (!tree.has(p.pid)) continue;
    ticks += p.ticks;
    pages += p.rssPages;
  }
  return { cpuUs: (ticks * 1_000_000) / CLOCK_TICKS, memoryBytes: pages * PAGE };
}

/** Working set from a cgroup's memory usage and its memory.stat (v1 total_inactive_file, v2 inactive_file). */
export function workingSet(usageBytes: number, memoryStat: string, version: 1 | 2): number {
  const inactive = counter(memoryStat, version === 1 ? 'total_inactive_file' : 'inactive_file');
  return Math.max(0, usageBytes - inactive);
}

/** Cores busy between two readings; 0 when time did not advance or the counter went back. */
export function coresBetween(prevUs: number, nowUs: number, elapsedMs: number): number {
  if (elapsedMs <= 0 || nowUs < prevUs) return 0;
  return Math.round(((nowUs - prevUs) / (elapsedMs * 1000)) * 1000) / 1000;
}

// ---- readers ----------------------------------------------------------------------------

/** Every process of this machine (but this one) with its parent, cpu, rss and cwd. */
export function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    const parsed = parseProcStat(stat);
    if (parsed === undefined) continue;
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined; // another user's, or gone
    }
    out.push({ pid, ...parsed, cwd });
  }
  return out;
}

export function processTreeUsage(workDir: string): UsageReading {
  const procs = readProcs();
  return treeUsage(procs, jobTree(procs, workDir));
}

export async function cgroupUsage(ref: CgroupRef): Promise<UsageReading> {
  const cg = openCgroup(ref);
  const cpu = await cg.usage();
  const memDir = ref.version === 2 ? ref.dirs['unified'] : ref.dirs['memory'];
  let memoryBytes = 0;
  if (memDir !== undefined) {
    const usage = Number((await readFile(join(memDir, ref.version === 2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8').catch(() => '0')).trim());
    const stat = await readFile(join(memDir, 'memory.stat'), 'utf8').catch(() => '');
    memoryBytes = workingSet(Number.isFinite(usage) ? usage : 0, stat, ref.version);
  }
  return { cpuUs: cpu.userUs + cpu.systemUs, memoryBytes };
}

/** Bytes on disk under `dir` (st_blocks × 512), not crossing into other filesystems, each inode once. */
export async function workspaceBytes(dir: string): Promise<number> {
  let root;
  try {
    root = await lstat(dir);
  } catch {
    return 0;
  }
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string, st: Awaited<ReturnType<typeof lstat>>): Promise<void> => {
    if (st.dev !== root.dev) return;
    const key = `${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += Number(st.blocks) * 512;
    if (!st.isDirectory()) return;
    const names = await readdir(p).catch(() => [] as string[]);
    for (const n of names) {
      const child = join(p, n);
      const cst = await lstat(child).catch(() => undefined);
      if (cst !== undefined) await walk(child, cst);
    }
  };
  await walk(dir, root);
  return total;
}
