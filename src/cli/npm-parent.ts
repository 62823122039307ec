// kiln started by `npx kiln …` or `npm run kiln -- …` runs under npm, through a shell
// (npm → sh -c → kiln), and npm does not pass a signal on to it: `kill <npx pid>`,
// `timeout`, or a CI runner stopping the step ended npm alone and left kiln building, or
// a daemon serving, under pid 1. So under npm, kiln watches that npm process and, once it
// is gone, stops as on SIGTERM: a build cancels its jobs and records them, a daemon puts
// its builds back in the queue. KILN_NPM_WATCH=0 turns this off (a kiln meant to outlive
// the npm script that started it).

import { processStartTime, sameProcessAlive } from '../envs/leases.ts';
import { readStat } from '../lib/proc-stat.ts';

/** How often npm is checked: kiln stops within this once npm is gone. */
export const PARENT_CHECK_MS = 500;

/** The shells npm starts a command through. */
const SHELLS: ReadonlySet<string> = new Set(['sh', 'dash', 'bash']);

export interface ProcStat {
  readonly comm: string;
  readonly ppid: number;
}

/** Command name and parent of a process, from /proc; undefined when it is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  const st = readStat(pid);
  const ppid = Number(st?.fields[1]);
  return st !== undefined && Number.isInteger(ppid) ? { comm: st.comm, ppid } : undefined;
}

/**
 * The npm process this one runs under: the parent, or the nearest ancestor past the
 * shells between them, whose name is npm's process title (`npm exec …`, `npm run …`).
 * Undefined when there is none (started some other way). Pure but for `stat`.
 */
export function npmAncestor(parent: number, stat: (pid: number) => ProcStat | undefined = readProcStat): number | undefined {
  let pid = parent;
  for (let hop = 0; hop < 4 && pid > 1; hop++) {
    const s = stat(pid);
    if (s === undefined) return undefined;
    if (s.comm === 'npm' || s.comm.startsWith('npm ')) return pid;
    if (!SHELLS.has(s.comm)) return undefined;
    pid = s.ppid;
  }
  return undefined;
}

/** Under npm: SIGTERM to kiln itself once that npm process has ended. */
export function stopWithNpm(env: NodeJS.ProcessEnv = process.env): void {
  if (env['npm_command'] === undefined || env['npm_command'] === '' || env['KILN_NPM_WATCH'] === '0') return;
  const npm = npmAncestor(process.ppid);
  if (npm === undefined) return;
  const start = processStartTime(npm);
  if (start === undefined) return;
  const timer = setInterval(() => {
    if (sameProcessAlive(npm, start)) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS);
  timer.unref();
}
