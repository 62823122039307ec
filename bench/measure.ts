// Time one whole process, from spawn to exit, with its output going straight to files
// (the benchmark process reads nothing while it runs, so it does not compete for the
// CPU), and its peak RSS through GNU time when that is installed.

import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  readonly wallMs: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Peak resident set size of the largest process, in KiB, when GNU time is present. */
  readonly peakRssKb: number | undefined;
  /**
   * Share of the machine's CPU time (0..1) used by other processes while this one ran:
   * all busy time from /proc/stat minus the user+system time GNU time reports for the
   * command and its children. Undefined without GNU time or /proc/stat.
   */
  readonly foreignCpu: number | undefined;
  readonly stdoutFile: string;
  readonly stderrFile: string;
}

export function hasGnuTime(): boolean {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs argv with its output in `<outDir>/<label>.stdout|.stderr|.rss`. */
export async function measure(argv: readonly string[], options: { label: string; outDir: string; cwd?: string; env?: NodeJS.ProcessEnv; rss?: boolean }): Promise<Measured> {
  const base = join(options.outDir, options.label);
  const stdoutFile = `${base}.stdout`;
  const stderrFile = `${base}.stderr`;
  const rssFile = `${base}.rss`;
  const withRss = options.rss !== false && hasGnuTime();
  const full = withRss ? [GNU_TIME, '-q', '-f', '%M %U %S', '-o', rssFile, '--', ...argv] : [...argv];
  const out = openSync(stdoutFile, 'w');
  const err = openSync(stderrFile, 'w');
  try {
    const busyBefore = busySeconds();
    const started = performance.now();
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, err] });
      child.once('error', reject);
      child.once('exit', (c, s) => resolve({ code: c, signal: s }));
    });
    const wallMs = performance.now() - started;
    const busyAfter = busySeconds();
    let peakRssKb: number | undefined;
    let foreignCpu: number | undefined;
    if (withRss) {
      const [rss, user, sys] = (readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number);
      peakRssKb = Number.isFinite(rss) ? rss : undefined;
      if (busyBefore !== undefined && busyAfter !== undefined && Number.isFinite(user) && Number.isFinite(sys)) {
        const other = busyAfter - busyBefore - user! - sys!;
        foreignCpu = Math.min(1, Math.max(0, other / ((wallMs / 1000) * availableParallelism())));
      }
    }
    return { wallMs, exitCode: code, signal, peakRssKb, foreignCpu, stdoutFile, stderrFile };
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** CPU time the whole machine spent busy since boot, in seconds (the first line of /proc/stat). */
function busySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
