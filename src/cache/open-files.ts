// Which files of a folder some process holds open (/proc/<pid>/fd): cache gc leaves those
// (a download being written by another kiln, an index being read).

import { readdir, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Names of the files directly in `dir` that some process has open (what /proc/<pid>/fd
 * shows this user: every process for root). Processes that end or deny us are skipped.
 */
export async function openFilesUnder(dir: string, procDir = '/proc'): Promise<Set<string>> {
  const out = new Set<string>();
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    return out;
  }
  const prefix = `${real}/`;
  let pids: string[];
  try {
    pids = (await readdir(procDir)).filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(join(procDir, pid, 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(join(procDir, pid, 'fd', fd)).catch(() => undefined);
      if (target?.startsWith(prefix) === true && !target.slice(prefix.length).includes('/')) out.add(target.slice(prefix.length));
    }
  }
  return out;
}
