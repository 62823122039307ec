// Is a process still there? A zombie is not: where PID 1 does not reap orphans (some
// containers), a killed kiln stays a zombie for good, and its runs, locks and sandboxes
// must still count as abandoned.
import { readStat } from './proc-stat.ts';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else; only ESRCH means gone.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = readStat(pid)?.fields[0];
  if (state === undefined) return true; // no /proc: trust kill(0)
  return state !== 'Z' && state !== 'X';
}
