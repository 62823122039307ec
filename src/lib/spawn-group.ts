// runGroup: run one command as the leader of its own process group, stream its output,
// enforce wall-clock / silence limits and cancellation, and make sure that when it ends
// nothing it started is still running.
//
// - `detached: true` makes the child call setsid(): it leads a new process group, so one
//   kill(-pgid) reaches the shell, make and every compiler below it.
// - A descendant that double-forks and calls setsid() leaves that group. Like Jenkins'
//   ProcessTreeKiller, we tag the child's environment with a unique cookie
//   (KILN_JOB_COOKIE=<random>) that descendants inherit, and once the leader has exited we
//   SIGKILL every process whose /proc/<pid>/environ carries it. A process that exec()s
//   with a scrubbed environment (`env -i`) and leaves the group (setsid) carries neither:
//   the compiled helper, their subreaper, kills every process left under it before it says
//   a command that ended by itself ended (reported as `kN`; after a command killed by a
//   signal, kiln's SIGTERM grace comes first); with the perl helper or without one, only
//   cgroups close that hole.
// - "Exited" is checked in /proc, never through child.killed. Zombies count as gone: PID 1
//   in a container often never reaps them, and a zombie holds no resources but its pid.
// - Output goes to a callback chunk by chunk and is never accumulated; the callback may
//   return a promise to apply backpressure (the pipe is paused until it settles).
// - rusage comes from the pre-forked helper, which reaps the command with wait4(2) (see
//   prefork.ts). Without one (no perl, KILN_NO_PREFORK=1, an architecture it does not
//   know) it comes from GNU time (`time -q -f '%x %U %S %M'`) when that is installed. With
//   -q a signalled child is written as `%x` = 0 while time itself exits 128+N, and a
//   normal exit is written as `%x` = time's own exit status, so the two never collide.
// - The sweep is skipped only when the helper, a child subreaper, proves that no process
//   the command started is alive once it has exited (prefork.ts); otherwise the group and
//   the cookie are swept as above.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants as fsConstants, readFile, rm, stat } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Rusage } from '../plan/job.ts';
import { preforkedLauncher, type Launched, type LaunchOptions, type RawExit } from './prefork.ts';
import type { RunResult } from '../sandbox/sandbox.ts';

/** The longest delay setTimeout keeps (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
export { COOKIE_VAR, groupMembers, killByCookie } from './proc-sweep.ts';
import { COOKIE_VAR, groupMembers, killByCookie } from './proc-sweep.ts';
export const DEFAULT_TIME_PATH = '/usr/bin/time';

export type OutputSink = (stream: 'stdout' | 'stderr', chunk: Buffer) => void | Promise<void>;

export interface RunGroupOptions {
  /** The complete environment; nothing is inherited. KILN_JOB_COOKIE is added. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly onOutput?: OutputSink;
  readonly timeoutMs?: number;
  readonly silentTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when kiln ends the command (default 2000). */
  readonly graceMs?: number;
  /** Marks every descendant for the final sweep; random when omitted. */
  readonly cookie?: string;
  /**
   * GNU time to wrap the command with for rusage when the launcher cannot report it
   * itself; null disables GNU time (default /usr/bin/time).
   */
  readonly timePath?: string | null;
  /** Start the command through a pre-forked helper (default true; falls back to spawn without perl; KILN_NO_PREFORK=1 in kiln's environment turns it off, for comparisons). */
  readonly prefork?: boolean;
  readonly signal?: AbortSignal;
  /** More signals that cancel the command, like `signal` (cheaper than AbortSignal.any per run). */
  readonly signals?: readonly AbortSignal[];
}

export interface GroupResult extends RunResult {
  readonly cookie: string;
  /** Processes left behind by the command that the cookie sweep killed after it exited. */
  readonly reaped: number;
  /** Processes of the group still alive after SIGKILL (stuck in the kernel); normally 0. */
  readonly survivors: number;
}

// A cookie is this process's random prefix plus a counter: as unique as a fresh random
// one per job (another kiln process draws its own prefix), without a call into the CSPRNG
// per job. Fixed width, so that no cookie is a prefix of another.
const cookiePrefix = randomBytes(8).toString('hex');
let cookieSeq = 0;

export function newCookie(): string {
  return `${cookiePrefix}${(++cookieSeq).toString(16).padStart(8, '0')}`;
}

export async function runGroup(argv: readonly string[], options: RunGroupOptions): Promise<GroupResult> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('runGroup: argv is empty');
  const started = performance.now();
  const startedAt = Date.now() - 1000; // a second of slack: uptime and the wall clock are read apart
  const cookie = options.cookie ?? newCookie();
  const graceMs = options.graceMs ?? 2000;
  if (options.signal?.aborted || options.signals?.some((s) => s.aborted) === true) {
    return { exitCode: null, signal: null, killedFor: 'cancelled', durationMs: 0, cookie, reaped: 0, survivors: 0 };
  }

  const env = { ...options.env, [COOKIE_VAR]: cookie };
  const launcher = options.prefork === false || process.env['KILN_NO_PREFORK'] === '1' ? undefined : await preforkedLauncher(argv, env);
  // A helper that reports wait4's rusage makes GNU time (one more exec per job) unneeded.
  const timePath = launcher?.rusage === true ? null : await usableTime(options.timePath === undefined ? DEFAULT_TIME_PATH : options.timePath);
  // GNU time writes its figures here (a private name: the cookie is random).
  const timeFile = timePath === null ? undefined : join(tmpdir(), `kiln-time-${process.pid}-${cookie}`);
  const full = timePath === null || timeFile === undefined
    ? [command, ...args]
    : [timePath, '-q', '-f', '%x %U %S %M', '-o', timeFile, '--', command, ...args];

  let helperRead = false;
  try {
    const launchOptions = { cwd: options.cwd, env, ...(timeFile === undefined ? {} : { timeFile }) };
    const child = launcher === undefined ? launchDirect(full, launchOptions) : await launcher.launch(full, launchOptions);
    helperRead = child.timeOutput !== undefined;
    const exited = child.exited;

    let killedFor: RunResult['killedFor'];
    let killing: Promise<number> | undefined;
    let sinkError: unknown;
    const pgid = child.pid;
    let leaderExited = false;
    void exited.then(() => (leaderExited = true));
    const kill = (reason: RunResult['killedFor']): void => {
      // A limit firing after a normal exit must not relabel it (the leftovers are swept anyway).
      if (killing !== undefined || pgid === undefined || leaderExited) return;
      killedFor = reason;
      killing = terminateGroup(pgid, graceMs);
    };

    let lastOutput = performance.now();
    const streamsClosed = Promise.all([
      pump('stdout', child.stdout, options.onOutput, {
        onData: () => (lastOutput = performance.now()),
        onError: (e) => {
          sinkError ??= e;
          kill(undefined);
        },
      }),
      pump('stderr', child.stderr, options.onOutput, {
        onData: () => (lastOutput = performance.now()),
        onError: (e) => {
          sinkError ??= e;
          kill(undefined);
        },
      }),
    ]);

    const timers: NodeJS.Timeout[] = [];
    // Node fires a timer of more than MAX_TIMER_MS after 1 ms: a longer limit (a recipe's
    // timeout = "30d") waits in steps instead.
    if (options.timeoutMs !== undefined) {
      const deadline = performance.now() + options.timeoutMs;
      const check = (): void => {
        const left = deadline - performance.now();
        if (left <= 0) kill('timeout');
        else timers.push(setTimeout(check, Math.min(left, MAX_TIMER_MS)));
      };
      timers.push(setTimeout(check, Math.min(options.timeoutMs, MAX_TIMER_MS)));
    }
    if (options.silentTimeoutMs !== undefined) {
      const silentMs = options.silentTimeoutMs;
      // One timer re-armed for the remaining quiet time, rather than a reset per chunk.
      const check = (): void => {
        const quiet = performance.now() - lastOutput;
        if (quiet >= silentMs) kill('silent');
        else timers.push(setTimeout(check, Math.min(silentMs - quiet, MAX_TIMER_MS)));
      };
      timers.push(setTimeout(check, Math.min(silentMs, MAX_TIMER_MS)));
    }
    const onAbort = (): void => kill('cancelled');
    const signals = options.signals === undefined ? (options.signal === undefined ? [] : [options.signal]) : [...options.signals, ...(options.signal === undefined ? [] : [options.signal])];
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    // Aborted while the command was being launched: its listener would never fire.
    if (signals.some((s) => s.aborted)) onAbort();

    const raw = await exited;
    for (const t of timers) clearTimeout(t);
    for (const s of signals) s.removeEventListener('abort', onAbort);

    let survivors = 0;
    if (killing !== undefined) survivors = await killing;
    // What the compiled helper killed itself, as their subreaper, before it said the command ended.
    let reaped = child.killedLeft?.() ?? 0;
    // No descendant alive (the helper, their subreaper, proved it): nothing to sweep.
    if (pgid !== undefined && child.descendantsLeft?.() !== false) {
      // The job is over: whatever is left in its group or carries its cookie gets no grace.
      const leftovers = await groupMembers(pgid);
      if (leftovers.length > 0) {
        signalGroup(pgid, 'SIGKILL');
        await waitGroupGone(pgid, 5000);
      }
      // Pids are handed out in increasing order: the leader's descendants come after it.
      reaped += leftovers.length + (await killByCookie(cookie, { since: startedAt, afterPid: pgid > 1 ? pgid - 1 : undefined }));
      survivors = Math.max(survivors, (await groupMembers(pgid)).length);
    }
    // A survivor stuck in the kernel may hold the pipes open: wait briefly, then cut them.
    // The timer is cancelled once the pipes close: left pending it would keep kiln alive
    // for 2 s after its last job, and unref'd it would let the event loop run dry (and
    // node exit mid-run) while the pipes are still open.
    // (A plain timer, not an aborted delay(): that would build an AbortError per job.)
    let cutTimer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([
      streamsClosed.then(() => true),
      new Promise<boolean>((resolve) => (cutTimer = setTimeout(resolve, 2000, false))),
    ]);
    clearTimeout(cutTimer);
    if (!closedInTime) child.abandon();
    if (sinkError !== undefined) throw sinkError;

    const durationMs = Math.round(performance.now() - started);
    if ('error' in raw) {
      const why = await spawnFailure(raw.error, command, options.cwd);
      await options.onOutput?.('stderr', Buffer.from(`kiln: ${why}\n`));
      const exitCode = (raw.error as NodeJS.ErrnoException).code === 'EACCES' ? 126 : 127;
      const helperDied = (raw.error as { helperDied?: boolean }).helperDied === true;
      return { exitCode, signal: null, durationMs, cookie, reaped, survivors, ...(helperDied ? { infraError: raw.error.message } : {}) };
    }
    const timeOutput = timeFile === undefined ? undefined : (child.timeOutput?.() ?? (await readTimeFile(timeFile)));
    const native = child.rusage?.();
    const decoded = native !== undefined && timeFile === undefined ? { exitCode: raw.code, signal: raw.signal, rusage: native } : decodeExit(raw, timeOutput);
    return {
      ...decoded,
      ...(killedFor === undefined ? {} : { killedFor }),
      durationMs,
      cookie,
      reaped,
      survivors,
    };
  } finally {
    // The helper removes the file itself once it has read it.
    if (timeFile !== undefined && !helperRead) await rm(timeFile, { force: true });
  }
}

/** child_process.spawn, for when no helper can be had (see prefork.ts). */
function launchDirect(argv: readonly string[], o: LaunchOptions): Launched {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<RawExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ error }));
  });
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    timeOutput: undefined,
    rusage: undefined,
    descendantsLeft: undefined,
    abandon: () => {
      child.stdout.destroy();
      child.stderr.destroy();
    },
  };
}

/** Forward a pipe's chunks to the sink, pausing the pipe while a returned promise is pending. */
function pump(
  name: 'stdout' | 'stderr',
  readable: Readable,
  sink: OutputSink | undefined,
  hooks: { onData: () => void; onError: (e: unknown) => void },
): Promise<void> {
  let failed = false;
  // The last chunk handed to the sink may still be in flight when the pipe closes.
  let inFlight: Promise<unknown> = Promise.resolve();
  readable.on('data', (chunk: Buffer) => {
    hooks.onData();
    if (sink === undefined || failed) return;
    try {
      const r = sink(name, chunk);
      if (r !== undefined) {
        readable.pause();
        inFlight = r.then(
          () => {
            hooks.onData(); // time spent blocked on the sink is not the command's silence
            readable.resume();
          },
          (e: unknown) => {
            failed = true;
            hooks.onError(e);
            readable.resume();
          },
        );
      }
    } catch (e) {
      failed = true;
      hooks.onError(e);
    }
  });
  return new Promise<void>((resolve) => readable.once('close', () => resolve())).then(() => inFlight).then(() => undefined);
}

/** SIGTERM the group, SIGKILL it after the grace, and wait until it is really gone. Returns survivors. */
async function terminateGroup(pgid: number, graceMs: number): Promise<number> {
  if (!signalGroup(pgid, 'SIGTERM')) return 0;
  if (await waitGroupGone(pgid, graceMs)) return 0;
  signalGroup(pgid, 'SIGKILL');
  if (await waitGroupGone(pgid, 5000)) return 0;
  return (await groupMembers(pgid)).length;
}

/** Returns false when the group has no member left at all. */
function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: nobody left
  }
}

async function waitGroupGone(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    if ((await groupMembers(pgid)).length === 0) return true;
    if (performance.now() >= deadline) return false;
    await delay(pause);
  }
}

const timeChecks = new Map<string, Promise<boolean>>();

async function usableTime(path: string | null): Promise<string | null> {
  if (path === null) return null;
  let check = timeChecks.get(path);
  if (check === undefined) {
    check = access(path, fsConstants.X_OK).then(() => true, () => false);
    timeChecks.set(path, check);
  }
  return (await check) ? path : null;
}

async function readTimeFile(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}

export interface DecodedExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly rusage?: Rusage;
}

/**
 * Turn what Node saw (the command's, or GNU time's, exit) plus GNU time's `%x %U %S %M`
 * line into the command's own exit status and rusage.
 */
export function decodeExit(
  raw: { readonly code: number | null; readonly signal: string | null },
  timeOutput: string | undefined,
): DecodedExit {
  const line = timeOutput?.trim().split('\n').at(-1)?.trim() ?? '';
  const m = /^(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)$/.exec(line);
  if (m === null) return { exitCode: raw.code, signal: raw.signal };
  const x = Number(m[1]);
  const rusage: Rusage = {
    userMs: Math.round(Number(m[2]) * 1000),
    systemMs: Math.round(Number(m[3]) * 1000),
    maxRssKb: Number(m[4]),
  };
  if (raw.signal !== null) return { exitCode: null, signal: raw.signal, rusage };
  if (raw.code === x) return { exitCode: x, signal: null, rusage };
  if (x === 0 && raw.code !== null && raw.code > 128) {
    const name = signalName(raw.code - 128);
    if (name !== undefined) return { exitCode: null, signal: name, rusage };
  }
  return { exitCode: raw.code, signal: null, rusage };
}

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

async function spawnFailure(error: Error, command: string, cwd: string): Promise<string> {
  const cwdOk = await stat(cwd).then((s) => s.isDirectory(), () => false);
  if (!cwdOk) return `cannot run ${command}: working directory ${cwd} does not exist`;
  return `cannot run ${command} in ${cwd}: ${error.message}`;
}
