// Leases: a running build holds a lease on the env version it started with, so that
// `env update` can make a new version current while the old one stays on disk until its
// last build ends. A lease is a file `leases/<versionId>.<pid>.<random>` holding
// `pid host starttime`; one whose process is gone (same host, pid dead or reused, judged by
// the process start time in /proc/<pid>/stat) is stale and counts for nothing.
//
// Which versions may go is a pure decision (versionsToRemove), made under the env's
// leases lock by the store.

import { randomBytes } from 'node:crypto';
import { open, readFile, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../lib/pid-alive.ts';
import { isVersionId } from './names.ts';
import { readStat } from '../lib/proc-stat.ts';

export interface Lease {
  readonly file: string;
  readonly versionId: string;
  readonly pid: number;
  readonly host: string;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22); undefined if unknown. */
  readonly startTime: number | undefined;
}

const LEASE_RE = /^(\d{8}T\d{6}-[0-9a-f]{8})\.(\d+)\.([0-9a-f]+)$/;

export function parseLeaseName(name: string): { versionId: string; pid: number } | undefined {
  const m = LEASE_RE.exec(name);
  if (m?.[1] === undefined || m[2] === undefined || !isVersionId(m[1])) return undefined;
  return { versionId: m[1], pid: Number(m[2]) };
}

/** Field 22 of /proc/<pid>/stat, or undefined when the process does not exist. */
export function processStartTime(pid: number, procDir = '/proc'): number | undefined {
  const rest = readStat(pid, procDir)?.fields;
  // A zombie is gone (where PID 1 never reaps, a killed kiln stays one).
  if (rest === undefined || rest[0] === 'Z' || rest[0] === 'X') return undefined;
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : undefined;
}

/** `pid` runs and, when its recorded `start` is known, is that same process (not a reused pid). */
export function sameProcessAlive(pid: number, start: number | null | undefined): boolean {
  return pidAlive(pid) && (start == null || processStartTime(pid) === start);
}

export interface LivenessProbe {
  readonly host: string;
  /** The start time of `pid` now, or undefined when no such process exists. */
  startTime(pid: number): number | undefined;
}

export const systemProbe: LivenessProbe = { host: hostname(), startTime: (pid) => processStartTime(pid) };

/** A lease counts unless we can tell its process is gone. Leases of other hosts always count. */
export function leaseAlive(lease: Lease, probe: LivenessProbe): boolean {
  if (lease.host !== probe.host) return true;
  const now = probe.startTime(lease.pid);
  if (now === undefined) return false;
  return lease.startTime === undefined || lease.startTime === now;
}

/**
 * The lock an env's leases are taken and judged under (`<envsDir>/.locks/<name>.leases.lock`):
 * the same name as env-store.ts's leasesLock, for holders outside the store (kiln shell).
 */
export function leasesLockName(envName: string): string {
  return `${envName}.leases`;
}

/** Create a lease file for this process on `versionId`; returns its path. */
export async function writeLease(leasesDir: string, versionId: string): Promise<string> {
  const file = join(leasesDir, `${versionId}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fh = await open(file, 'wx');
  try {
    await fh.writeFile(`${process.pid} ${hostname()} ${processStartTime(process.pid) ?? ''}\n`);
  } finally {
    await fh.close();
  }
  return file;
}

/** Every lease file in `leasesDir` (missing dir → none); unparsable files are ignored. */
export async function readLeases(leasesDir: string): Promise<Lease[]> {
  let names: string[];
  try {
    names = await readdir(leasesDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Lease[] = [];
  for (const name of names.sort()) {
    const parsed = parseLeaseName(name);
    if (parsed === undefined) continue;
    const file = join(leasesDir, name);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const [, host, start] = text.trim().split(' ');
    const startTime = start === undefined || start === '' ? undefined : Number(start);
    out.push({
      file,
      versionId: parsed.versionId,
      pid: parsed.pid,
      // A lease being written (empty yet) is ours or a live writer's: treat it as this host's, alive.
      host: host ?? hostname(),
      startTime: startTime !== undefined && Number.isFinite(startTime) ? startTime : undefined,
    });
  }
  return out;
}

/** Live leases, after deleting the files of stale ones. */
export async function liveLeases(leasesDir: string, probe: LivenessProbe = systemProbe): Promise<Lease[]> {
  const live: Lease[] = [];
  for (const l of await readLeases(leasesDir)) {
    if (leaseAlive(l, probe)) live.push(l);
    else await rm(l.file, { force: true });
  }
  return live;
}

/**
 * The versions that may be deleted: every version that is neither current nor held by a
 * live lease. (The newest version is always current: update switches `current` in the same
 * critical section that moves the new version into place.)
 */
export function versionsToRemove(
  versions: readonly string[],
  current: string,
  live: readonly Pick<Lease, 'versionId'>[],
): string[] {
  const held = new Set(live.map((l) => l.versionId));
  return versions.filter((v) => v !== current && !held.has(v)).sort();
}
