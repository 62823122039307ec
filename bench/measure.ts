// Time one whole process, from spawn to exit, with its output going straight to files
// (the benchmark process reads nothing while it runs, so it does not compete for the
// CPU), and its peak RSS through GNU time when that is installed.
//
// CPU time (option cpu): the process runs in a cgroup of its own when one can be made (root, cgroup v1
// cpuacct or v2), so the figure counts it and every process it started (kiln's helpers,
// every build's bash) and nothing else on the machine: unlike wall time, it holds up when
// other work shares the cores.

import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
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
  /** CPU time (user + system) of the process and all its descendants, from its own cgroup; undefined when none could be made. */
  readonly cpuMs: number | undefined;
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

/** Runs argv with its output in `<outDir>/<label>.stdout|.stderr|.rss`; `cpu` counts its CPU time in a cgroup of its own. */
export async function measure(argv: readonly string[], options: { label: string; outDir: string; cwd?: string; env?: NodeJS.ProcessEnv; rss?: boolean; cpu?: boolean }): Promise<Measured> {
  const base = join(options.outDir, options.label);
  const stdoutFile = `${base}.stdout`;
  const stderrFile = `${base}.stderr`;
  const rssFile = `${base}.rss`;
  const withRss = options.rss !== false && hasGnuTime();
  const timed = withRss ? [GNU_TIME, '-q', '-f', '%M %U %S', '-o', rssFile, '--', ...argv] : [...argv];
  const cg = options.cpu === true ? cpuCgroup(options.label) : undefined;
  // The shell joins the cgroup, then becomes the command: everything it starts is counted.
  const full = cg === undefined ? timed : ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', cg.procs, ...timed];
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
      // The command's own CPU: its cgroup's when measured (that counts helpers it does not
      // wait for, e.g. kiln's launchers and their builds), else what GNU time saw.
      const ownCpuMs = cg?.usedMs();
      const own = ownCpuMs !== undefined ? ownCpuMs / 1000 : user! + sys!;
      if (busyBefore !== undefined && busyAfter !== undefined && Number.isFinite(own)) {
        const other = busyAfter - busyBefore - own;
        foreignCpu = Math.min(1, Math.max(0, other / ((wallMs / 1000) * availableParallelism())));
      }
    }
    return { wallMs, exitCode: code, signal, peakRssKb, foreignCpu, cpuMs: cg?.usedMs(), stdoutFile, stderrFile };
  } finally {
    cg?.remove();
    closeSync(out);
    closeSync(err);
  }
}

interface CpuCgroup {
  /** The file a process writes its pid to, to join. */
  readonly procs: string;
  usedMs(): number | undefined;
  remove(): void;
}

/** A fresh cgroup to count one command's CPU time in, or undefined when none can be made. */
export function cpuCgroup(label: string): CpuCgroup | undefined {
  const name = `kiln-bench-${process.pid}-${label.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const v1 = ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct'].find((d) => readable(`${d}/cpuacct.usage`));
  const v2 = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find((d) => readable(`${d}/cgroup.controllers`));
  const base = v1 ?? v2;
  if (base === undefined) return undefined;
  const dir = `${base}/${name}`;
  try {
    mkdirSync(dir);
  } catch {
    return undefined; // not root, or a read-only cgroup file system
  }
  return {
    procs: `${dir}/cgroup.procs`,
    usedMs() {
      try {
        if (v1 !== undefined) return Number(readFileSync(`${dir}/cpuacct.usage`, 'utf8').trim()) / 1e6;
        const m = /^usage_usec (\d+)$/m.exec(readFileSync(`${dir}/cpu.stat`, 'utf8'));
        return m === null ? undefined : Number(m[1]) / 1000;
      } catch {
        return undefined;
      }
    },
    remove() {
      // A helper that outlived its kiln by a moment keeps the group busy: retry briefly.
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
    },
  };
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
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
