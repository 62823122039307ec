// The sandbox journal: one small JSON file per live sandbox, `<state>/sandboxes/<id>.json`,
// written before anything of the sandbox exists (its cgroup, its workspace) and removed
// after all of it is gone. A kiln that dies in between leaves the entry behind, naming
// exactly what to reap (reaper.ts): its cgroup directories and its workspace.
//
// The owner is the kiln process (pid + its start time from /proc/<pid>/stat, so a recycled
// pid does not pass for the dead kiln). No fsync: the journal guards against kiln dying,
// not the machine, and a reboot takes namespaces and cgroups with it anyway.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { CgroupRef } from './cgroups/cgroups.ts';
import { pidAlive as processAlive } from '../lib/pid-alive.ts';
import { readStat } from '../lib/proc-stat.ts';

export interface JournalEntry {
  readonly id: string;
  readonly jobId: string;
  readonly backend: string;
  readonly kilnPid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); null when unreadable. */
  readonly kilnStart: string | null;
  readonly host: string;
  readonly workDir: string;
  readonly cgroup: CgroupRef | null;
  readonly createdAt: number;
}

export function journalDir(stateDir: string): string {
  return join(stateDir, 'sandboxes');
}

/** An entry for this process, to be completed by the caller. */
export function ownEntry(fields: Pick<JournalEntry, 'id' | 'jobId' | 'backend' | 'workDir' | 'cgroup'>): JournalEntry {
  return { ...fields, kilnPid: process.pid, kilnStart: processStartTime(process.pid) ?? null, host: hostname(), createdAt: Date.now() };
}

export async function writeEntry(stateDir: string, entry: JournalEntry): Promise<void> {
  const dir = journalDir(stateDir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${entry.id}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(entry, null, 2)}\n`);
  await rename(tmp, file);
}

export async function removeEntry(stateDir: string, id: string): Promise<void> {
  await rm(join(journalDir(stateDir), `${id}.json`), { force: true });
}

export interface ReadEntry {
  readonly file: string;
  /** Undefined when the file is not a journal entry (garbled, half-written by a crash). */
  readonly entry: JournalEntry | undefined;
}

export async function readEntries(stateDir: string): Promise<ReadEntry[]> {
  const dir = journalDir(stateDir);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  const out: ReadEntry[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    // Temp files of a writer that died before its rename.
    if (name.includes('.tmp-')) {
      const pid = Number(name.slice(name.lastIndexOf('-') + 1));
      if (!pidAlive(pid)) out.push({ file, entry: undefined });
      continue;
    }
    if (!name.endsWith('.json')) continue;
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // removed meanwhile
    out.push({ file, entry: parseEntry(text) });
  }
  return out;
}

export function parseEntry(text: string): JournalEntry | undefined {
  try {
    const e = JSON.parse(text) as Partial<JournalEntry>;
    if (typeof e.id !== 'string' || typeof e.kilnPid !== 'number' || typeof e.workDir !== 'string' || typeof e.host !== 'string') return undefined;
    return e as JournalEntry;
  } catch {
    return undefined;
  }
}

/** Is the kiln that wrote this entry still running? Entries of other hosts count as alive. */
export function ownerAlive(entry: JournalEntry): boolean {
  if (entry.host !== hostname()) return true;
  if (!pidAlive(entry.kilnPid)) return false;
  if (entry.kilnStart === null) return true;
  return processStartTime(entry.kilnPid) === entry.kilnStart;
}

export function pidAlive(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && processAlive(pid);
}

export function processStartTime(pid: number): string | undefined {
  // starttime, field 22 of the stat line.
  return readStat(pid)?.fields[19];
}
