// Local hooks: shell commands a `kiln build` runs when something a CI or a chat bot wants
// to hear of happens (poudriere's hook scripts). Two events: run-finished (once, after the
// report is written) and job-failed (each failed job, as it fails). kiln.toml `[hooks]`
// names them per event; `kiln build --hook CMD` adds run-finished ones.
//
// A hook never slows or changes the run: job-failed hooks are queued and run one at a time
// beside the scheduler, each at most HOOK_TIMEOUT_MS (then killed), all of a run's together
// at most 5 times that, and whatever a hook does (exits non-zero, hangs, cannot start) is a
// note on the event stream, never the run's exit status. Their output goes to
// STATE/runs/RUN/hooks.log (made only when one ran), at most HOOK_LOG_CAP of each.
//
// Cancelling the run (Ctrl-C) kills the hook running (its process group) and drops those
// waiting, with a note; a cancelled run's run-finished hooks still run, with
// KILN_RUN_STATE=cancelled, 10 s at most in all, and a second Ctrl-C kills them (hookStop).
// A kiln killed with SIGKILL cannot kill its hook: the hook, in a session of its own, runs on.
//
// A daemon runs none of a tree's hooks: a tenant's kiln.toml may not run commands on the
// daemon's machine outside the sandbox (kiln serve --webhook tells of builds instead).

import { readFileSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { TreeHooks } from '../config/tree-config.ts';
import type { EventBus, KilnEvent } from '../events/events.ts';
import type { JobState } from '../plan/job.ts';
import { positiveFromEnv } from '../lib/env-number.ts';

export type HookEvent = 'run-finished' | 'job-failed';

/** The commands of each event, in the order they run. */
export interface HookSet {
  readonly runFinished: readonly string[];
  readonly jobFailed: readonly string[];
}

/** How long a hook may run before it is killed (KILN_HOOK_TIMEOUT_MS, for tests). */
export const HOOK_TIMEOUT_MS = positiveFromEnv('KILN_HOOK_TIMEOUT_MS', 60_000);

/** job-failed hooks waiting past this many are not run (a run failing hundreds of jobs must not take hours to end). */
export const MAX_WAITING_HOOKS = 100;

/** kiln.toml's hooks, then --hook's (run-finished) after them. Pure. */
export function mergeHooks(tree: TreeHooks | undefined, cli: readonly string[]): HookSet {
  return { runFinished: [...(tree?.runFinished ?? []), ...cli], jobFailed: [...(tree?.jobFailed ?? [])] };
}

/** What a hook gets of kiln's own environment: what a script needs to find its tools, locale and proxy; no KILN_* and no secrets of kiln's. */
const PASSED = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR']);

/** A hook's whole environment: the few variables of `base` it may see (PASSED, LC_*), and `vars`. Pure. */
export function hookEnv(base: NodeJS.ProcessEnv, vars: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && (PASSED.has(k) || k.startsWith('LC_'))) env[k] = v;
  env['PATH'] ??= '/usr/local/bin:/usr/bin:/bin';
  return { ...env, ...vars };
}

const STATES: readonly JobState[] = ['built', 'up-to-date', 'failed', 'skipped', 'broken', 'cancelled'];

/** KILN_COUNTS: `built=3 up-to-date=0 failed=1 …`, every state in a fixed order. Pure. */
export function countsText(counts: Readonly<Record<JobState, number>>): string {
  return STATES.map((s) => `${s}=${counts[s] ?? 0}`).join(' ');
}

/** How a run ended, as run-finished hooks hear it. */
export interface RunEnd {
  readonly runId: string;
  readonly state: 'done' | 'failed' | 'cancelled';
  readonly counts: Readonly<Record<JobState, number>>;
  readonly reportDir: string;
}

/** The KILN_* variables of a run-finished hook. Pure. */
export function runFinishedVars(r: RunEnd, stateRoot: string): Record<string, string> {
  return {
    KILN_EVENT: 'run-finished',
    KILN_RUN_ID: r.runId,
    KILN_STATE_DIR: stateRoot,
    KILN_RUN_STATE: r.state,
    KILN_COUNTS: countsText(r.counts),
    KILN_REPORT_JSON: join(r.reportDir, 'report.json'),
    KILN_REPORT_HTML: join(r.reportDir, 'report.html'),
  };
}

type JobFinished = Extract<KilnEvent, { type: 'job-finished' }>;

/** The KILN_* variables of a job-failed hook. Pure. */
export function jobFailedVars(e: JobFinished, stateRoot: string): Record<string, string> {
  return {
    KILN_EVENT: 'job-failed',
    KILN_RUN_ID: e.runId,
    KILN_STATE_DIR: stateRoot,
    KILN_JOB_ID: e.jobId,
    KILN_PACKAGE: e.name,
    KILN_VERSION: e.version,
    KILN_ARCH: e.arch,
    KILN_LOG: e.log === undefined ? '' : isAbsolute(e.log) ? e.log : resolve(stateRoot, e.log),
    KILN_CAUSE: e.failure === undefined ? 'failed' : e.failure.message,
  };
}

/** A hook as a note names it: its command on one line, shortened. Pure. */
export function hookLabel(cmd: string): string {
  const one = cmd.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 57)}...` : one;
}

/** A limit in words: `5 min`, `60 s`, `700 ms`. Pure. */
export function limitText(ms: number): string {
  return ms > 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** How a hook ended, in words: undefined when it exited 0. Pure. */
export function hookFailure(r: { exitCode: number | null; signal: string | null; killedFor?: string | undefined }, timeoutMs: number): string | undefined {
  if (r.killedFor === 'timeout') return `ran past ${limitText(timeoutMs)} and was killed`;
  if (r.killedFor === 'cancelled') return 'was killed: kiln was stopped';
  if (r.exitCode === 0) return undefined;
  if (r.exitCode !== null) return `exited ${r.exitCode}`;
  return `was killed by ${r.signal ?? 'a signal'}`;
}

/** The note of a hook that ran. Pure. */
export function hookNote(cmd: string, event: HookEvent, failure: string | undefined, log: string): string {
  return `hook \`${hookLabel(cmd)}\` (${event}) ${failure ?? 'ran (exit 0)'}: ${failure === undefined ? 'its output is in' : 'see'} ${log}`;
}

/** What a build request carries for its hooks beside the run's signal (run/run-build.ts's BuildRequest extends it). */
export interface HookRequest {
  /** kiln build's second Ctrl-C: kills the hooks, a cancelled run's run-finished ones too. */
  readonly hookStop?: AbortSignal | undefined;
}

export interface HookRunner {
  /** Queue the run-finished hooks (after the job-failed ones waiting) and wait for every hook to end. */
  runFinished(r: RunEnd): Promise<void>;
  /** Stop taking job-failed events and wait for the hooks queued. */
  close(): Promise<void>;
}

export interface HookOptions {
  readonly hooks: HookSet;
  /** The tree folder: where hooks run. */
  readonly cwd: string;
  readonly stateRoot: string;
  readonly bus: EventBus;
  /** Kiln's environment (default process.env): only a few of its variables reach a hook. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** The run's: once it aborts, the hook running is killed and those waiting are dropped (but a cancelled run's run-finished ones). */
  readonly signal?: AbortSignal | undefined;
  /** kiln build's second Ctrl-C: kills every hook, a cancelled run's run-finished ones too. */
  readonly hookStop?: AbortSignal | undefined;
  /** All job-failed hooks of a run together (default JOB_FAILED_BUDGET_FACTOR × timeoutMs: 5 min). */
  readonly budgetMs?: number;
}

/** The job-failed hooks of a run run at most this many times the per-hook limit in all (5 min): past it the rest are dropped. */
export const JOB_FAILED_BUDGET_FACTOR = 5;
/** The run-finished hooks of a cancelled run run this long at most, all together. */
export const CANCELLED_RUN_HOOKS_MS = 10_000;
/** Most of one hook's output hooks.log keeps: its first HOOK_LOG_CAP - HOOK_LOG_TAIL bytes and its last HOOK_LOG_TAIL. */
export const HOOK_LOG_CAP = 1024 * 1024;
export const HOOK_LOG_TAIL = 64 * 1024;

/**
 * One hook's output on its way to hooks.log, capped: the head is written as it comes, the
 * last `tail` bytes are kept in memory past it, and end() writes a line saying how much
 * was left out, then them. Writes are chained: stdout and stderr chunks keep their order.
 */
export function cappedOutput(write: (b: Buffer | string) => Promise<void>, cap = HOOK_LOG_CAP, tail = HOOK_LOG_TAIL): { add(chunk: Buffer): Promise<void>; end(): Promise<void> } {
  let headLeft = cap - tail;
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let omitted = 0;
  let chain: Promise<void> = Promise.resolve();
  return {
    add(chunk) {
      if (headLeft > 0) {
        const head = chunk.subarray(0, headLeft);
        headLeft -= head.length;
        chunk = chunk.subarray(head.length);
        chain = chain.then(() => write(head));
      }
      if (chunk.length > 0) {
        kept.push(chunk);
        keptBytes += chunk.length;
        while (keptBytes > tail) {
          const over = keptBytes - tail;
          const first = kept[0]!;
          if (first.length <= over) kept.shift();
          else kept[0] = first.subarray(over);
          const cut = Math.min(first.length, over);
          keptBytes -= cut;
          omitted += cut;
        }
      }
      return chain;
    },
    end() {
      if (omitted > 0) chain = chain.then(() => write(`\n== ${omitted} bytes of output left out (hooks.log keeps ${cap / 1024} KiB of a hook's output: its first ${(cap - tail) / 1024} KiB and its last ${tail / 1024} KiB) ==\n`));
      if (kept.length > 0) chain = chain.then(() => write(Buffer.concat(kept)));
      return chain;
    },
  };
}

interface Queued {
  readonly cmd: string;
  readonly event: HookEvent;
  readonly runId: string;
  readonly vars: Record<string, string>;
  /** What kills it, or drops it when aborted before it starts. */
  readonly signals: readonly AbortSignal[];
  /** When its time is up (the job-failed budget, a cancelled run's 10 s): its limit is the sooner of this and timeoutMs. */
  readonly deadline?: (() => number) | undefined;
  readonly deadlineWhy?: string | undefined;
}

/** Run a tree's and the command line's hooks for the run on `bus`; undefined when there are none. */
export function startHooks(o: HookOptions): HookRunner | undefined {
  const { hooks, bus, stateRoot } = o;
  if (hooks.runFinished.length === 0 && hooks.jobFailed.length === 0) return undefined;
  const timeoutMs = o.timeoutMs ?? HOOK_TIMEOUT_MS;
  const budgetMs = o.budgetMs ?? JOB_FAILED_BUDGET_FACTOR * timeoutMs;
  const note = (text: string): void => bus.emit({ type: 'note', at: Date.now(), text });
  const runSignals = [o.signal, o.hookStop].filter((s) => s !== undefined);
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  let dropped = 0;
  // The job-failed hooks' time so far; the hooks a cancel or the budget dropped, per reason.
  let jobFailedMs = 0;
  const notRun = new Map<string, number>();
  const enqueue = (h: Queued): void => {
    waiting++;
    queue = queue.then(async () => {
      waiting--;
      const left = h.deadline === undefined ? timeoutMs : h.deadline();
      const why = h.signals.some((s) => s.aborted) ? 'kiln was stopped' : left <= 0 ? h.deadlineWhy : undefined;
      if (why !== undefined) {
        notRun.set(`${h.event} hook(s) not run: ${why}`, (notRun.get(`${h.event} hook(s) not run: ${why}`) ?? 0) + 1);
        return;
      }
      const started = performance.now();
      await runOne(h, Math.min(timeoutMs, left));
      if (h.event === 'job-failed') jobFailedMs += performance.now() - started;
    });
  };
  const sayNotRun = (): void => {
    for (const [what, n] of notRun) note(`hooks: ${n} ${what}`);
    notRun.clear();
  };
  const runOne = async (h: Queued, limitMs: number): Promise<void> => {
    const { cmd, event, runId, vars } = h;
    const log = join(stateRoot, 'runs', runId, 'hooks.log');
    try {
      await mkdir(join(stateRoot, 'runs', runId), { recursive: true });
      await appendFile(log, `== ${new Date().toISOString()} hook (${event}${vars['KILN_JOB_ID'] === undefined ? '' : ` ${vars['KILN_JOB_ID']}`}): ${cmd}\n`);
      const { runGroup } = await import('../lib/spawn-group.ts');
      const output = cappedOutput((b) => appendFile(log, b));
      // kiln's launcher starts builds with umask 022: a hook gets kiln's own umask back (hookArgv).
      const r = await runGroup(hookArgv(cmd, ownUmask()), {
        env: hookEnv(o.env ?? process.env, vars),
        cwd: o.cwd,
        timeoutMs: limitMs,
        graceMs: Math.min(2000, limitMs),
        timePath: null,
        signals: h.signals,
        onOutput: (_stream, chunk) => output.add(chunk),
      });
      await output.end();
      const failure = r.killedFor === 'timeout' && limitMs < timeoutMs && h.deadlineWhy !== undefined ? `was killed: ${h.deadlineWhy}` : hookFailure(r, timeoutMs);
      await appendFile(log, `== ${failure ?? 'exited 0'} after ${(r.durationMs / 1000).toFixed(1)} s\n`);
      note(hookNote(cmd, event, failure, log));
    } catch (e) {
      note(`hook \`${hookLabel(cmd)}\` (${event}) could not run: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const jobFailedWhy = `the job-failed hooks of this run had used their ${limitText(budgetMs)}`;
  const off = bus.on((e) => {
    if (e.type !== 'job-finished' || e.state !== 'failed') return;
    for (const cmd of hooks.jobFailed) {
      if (waiting >= MAX_WAITING_HOOKS) {
        if (dropped++ === 0) note(`hooks: more than ${MAX_WAITING_HOOKS} job-failed hooks waiting: those of the next failures are not run`);
        continue;
      }
      enqueue({ cmd, event: 'job-failed', runId: e.runId, vars: jobFailedVars(e, stateRoot), signals: runSignals, deadline: () => budgetMs - jobFailedMs, deadlineWhy: jobFailedWhy });
    }
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) off();
    closed = true;
    await queue;
    sayNotRun();
  };
  return {
    runFinished: async (r) => {
      // The job-failed hooks of the last failures go first; later events are not this run's.
      off();
      closed = true;
      // A cancelled run's still tell of its end, but briefly, and only a second Ctrl-C kills them.
      const cancelled = o.signal?.aborted === true;
      const until = performance.now() + Math.min(timeoutMs, CANCELLED_RUN_HOOKS_MS);
      for (const cmd of hooks.runFinished) {
        enqueue({
          cmd, event: 'run-finished', runId: r.runId, vars: runFinishedVars(r, stateRoot),
          ...(cancelled
            ? { signals: o.hookStop === undefined ? [] : [o.hookStop], deadline: () => until - performance.now(), deadlineWhy: `a cancelled run's run-finished hooks get ${limitText(Math.min(timeoutMs, CANCELLED_RUN_HOOKS_MS))} in all` }
            : { signals: runSignals }),
        });
      }
      await queue;
      sayNotRun();
    },
    close,
  };
}

/**
 * The hooks of one run: kiln.toml's and --hook's on a local run; on a daemon none (a
 * tenant's kiln.toml must not run commands outside the sandbox), with a note when the
 * tree has some (the daemon refuses such a tree at submit: server/precheck.ts).
 */
export function hooksForRun(req: HookRequest & { readonly hooks?: readonly string[] | undefined; readonly onDaemon?: boolean | undefined; readonly bus: EventBus; readonly state: { readonly root: string }; readonly signal?: AbortSignal | undefined }, tree: TreeHooks | undefined, treeDir: string): HookRunner | undefined {
  if (req.onDaemon === true) {
    if (tree !== undefined) req.bus.emit({ type: 'note', at: Date.now(), text: "kiln.toml [hooks]: not run on a daemon (a tree's commands run only in the sandbox); the daemon's operator can have builds announced with kiln serve --webhook" });
    return undefined;
  }
  return startHooks({ hooks: mergeHooks(tree, req.hooks ?? []), cwd: resolve(treeDir), stateRoot: resolve(req.state.root), bus: req.bus, signal: req.signal, hookStop: req.hookStop });
}

/**
 * The argv of a hook: `/bin/sh -c CMD`, with the umask kiln itself runs with set first
 * (the launcher that starts hooks, as it starts builds, sets 022), so that what a hook
 * writes is as private, or as shared, as the user asked.
 */
export function hookArgv(cmd: string, umask: number): string[] {
  return ['/bin/sh', '-c', 'umask "$1" && exec /bin/sh -c "$2"', 'kiln-hook', umask.toString(8).padStart(4, '0'), cmd];
}

/** This process's umask, read without changing it (process.umask() with no argument is deprecated). */
export function ownUmask(): number {
  const m = /^Umask:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? 0o022 : parseInt(m[1]!, 8);
}
