// Finding a job's processes in /proc: members of its process group, and every process
// that carries its cookie in the environment (a daemon that left the group with setsid
// still carries it), killed until none is left.

import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { parseStat } from './proc-stat.ts';

export const COOKIE_VAR = 'KILN_JOB_COOKIE';

/** Live (non-zombie) processes whose process group is pgid. */
export async function groupMembers(pgid: number): Promise<number[]> {
  try {
    process.kill(-pgid, 0);
  } catch {
    return []; // fast path: not even a zombie left
  }
  const members: number[] = [];
  for (const pid of listPids()) {
    const fields = statFields(pid);
    if (fields[0] !== undefined && fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) {
      members.push(pid);
    }
  }
  return members;
}

// /proc is read synchronously on purpose: its files never wait on a disk, and a scan of a
// few hundred processes takes ~1 ms this way against ~10 ms through the libuv thread pool.
function listPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => p !== process.pid);
}

function readProc(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // the process is gone, or belongs to another user
  }
}

/**
 * SIGKILL every process whose environment carries KILN_JOB_COOKIE=<cookie>, scanning
 * again until a scan finds nothing: a process may fork between scan and kill. A process
 * caught in the middle of execve() reads as an empty environment for a moment (the old
 * memory is gone, the new stack not yet built), so while a live process started since
 * `since` (default: a minute ago) shows an empty environment, scans go on a little longer;
 * older ones (PID 1 of a container often has no environment at all) cannot be the job's
 * and are not waited for. Returns how many distinct processes were signalled.
 */
export async function killByCookie(cookie: string, options: { since?: number; afterPid?: number | undefined } = {}): Promise<number> {
  const entry = Buffer.from(`${COOKIE_VAR}=${cookie}\0`);
  const sinceTicks = uptimeTicks(options.since ?? Date.now() - 60_000);
  const killed = new Set<number>();
  let clean = 0; // consecutive scans that found nothing to kill
  for (let round = 0; round < 80; round++) {
    const { found, unsure } = scanForCookie(entry, sinceTicks, candidatePids(options.afterPid));
    for (const pid of found) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // already gone
      }
    }
    clean = found.length === 0 ? clean + 1 : 0;
    // Nothing found and nothing recent mid-exec: no process carries the cookie, and none
    // can appear (a fork copies a parent that would have been found).
    if (clean >= 1 && (unsure === 0 || clean >= 20)) return killed.size;
    await delay(found.length > 0 ? 2 : 5);
  }
  return killed.size;
}

const CLOCK_TICKS = 100; // USER_HZ: 100 on every Linux architecture kiln runs on

/** A wall-clock time as clock ticks since boot, comparable with /proc/<pid>/stat's starttime. */
function uptimeTicks(at: number): number {
  const up = Number((readProc('/proc/uptime')?.toString('latin1') ?? '0').split(' ')[0]);
  return Math.floor((up - (Date.now() - at) / 1000) * CLOCK_TICKS);
}

/**
 * The pids the kernel handed out since `afterPid` was the last one (pids are allocated in
 * increasing order, wrapping at pid_max): a job's descendants can only be among them, so
 * a sweep reads a handful of /proc entries instead of every process on the machine. Falls
 * back to every pid when the window is unknown or wide.
 */
function candidatePids(afterPid: number | undefined): Iterable<number> {
  const now = lastPid();
  if (afterPid === undefined || now === undefined) return listPids();
  const max = pidMax();
  const span = (now - afterPid + max) % max;
  if (span > 4096) return listPids();
  const out: number[] = [];
  for (let i = 1; i <= span; i++) {
    const pid = ((afterPid + i - 1) % max) + 1;
    if (pid !== process.pid) out.push(pid);
  }
  return out;
}

/** The last pid handed out in this pid namespace, or undefined when the kernel does not say. */
export function lastPid(): number | undefined {
  const n = Number(readProc('/proc/sys/kernel/ns_last_pid')?.toString('latin1'));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

let pidMaxCache: number | undefined;
function pidMax(): number {
  return (pidMaxCache ??= Number(readProc('/proc/sys/kernel/pid_max')?.toString('latin1')) || 32768);
}

function scanForCookie(entry: Buffer, sinceTicks: number, pids: Iterable<number>): { found: number[]; unsure: number } {
  const found: number[] = [];
  let unsure = 0;
  for (const pid of pids) {
    // Unreadable environments (gone, or another user's) never match.
    const environ = readProc(`/proc/${pid}/environ`);
    if (environ === undefined) continue;
    if (environ.length > 0) {
      if (hasEntry(environ, entry)) found.push(pid);
      continue;
    }
    // Empty: a zombie, a kernel thread, a process started without environment, or mid-exec.
    const fields = statFields(pid);
    const kernelThread = (Number(fields[6]) & PF_KTHREAD) !== 0;
    const recent = Number(fields[19]) >= sinceTicks;
    if (fields[0] !== undefined && fields[0] !== 'Z' && fields[0] !== 'X' && !kernelThread && recent) unsure++;
  }
  return { found, unsure };
}

const PF_KTHREAD = 0x00200000;

/** Fields of /proc/<pid>/stat after "pid (comm) ": [state, ppid, pgrp, session, tty, tpgid, flags, ...]. */
function statFields(pid: number): string[] {
  return [...(parseStat(readProc(`/proc/${pid}/stat`)?.toString('latin1') ?? '')?.fields ?? [''])];
}

function hasEntry(environ: Buffer, entry: Buffer): boolean {
  for (let at = environ.indexOf(entry); at !== -1; at = environ.indexOf(entry, at + 1)) {
    if (at === 0 || environ[at - 1] === 0) return true;
  }
  return false;
}
