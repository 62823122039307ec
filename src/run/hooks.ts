// Local hooks: shell commands a `kiln build` runs when something a CI or a chat bot wants
// to hear of happens (poudriere's hook scripts). Two events: run-finished (once, after the
// report is written) and job-failed (each failed job, as it fails). kiln.toml `[hooks]`
// names them per event; `kiln build --hook CMD` adds run-finished ones.
//
// A hook never slows or changes the run: job-failed hooks are queued and run one at a time
// beside the scheduler, each at most HOOK_TIMEOUT_MS (then killed), and whatever a hook
// does (exits non-zero, hangs, cannot start) is a note on the event stream, never the
// run's exit status. Their output goes to STATE/runs/RUN/hooks.log, made only when one ran.
//
// A daemon runs none of a tree's hooks: a tenant's kiln.toml may not run commands on the
// daemon's machine outside the sandbox (kiln serve --webhook tells of builds instead).

import { appendFile, mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { TreeHooks } from '../config/tree-config.ts';
import type { EventBus, KilnEvent } from '../events/events.ts';
import type { JobState } from '../plan/job.ts';

export type HookEvent = 'run-finished' | 'job-failed';

/** The commands of each event, in the order they run. */
export interface HookSet {
  readonly runFinished: readonly string[];
  readonly jobFailed: readonly string[];
}

/** How long a hook may run before it is killed (KILN_HOOK_TIMEOUT_MS, for tests). */
export const HOOK_TIMEOUT_MS = Number(process.env['KILN_HOOK_TIMEOUT_MS'] ?? '') > 0 ? Number(process.env['KILN_HOOK_TIMEOUT_MS']) : 60_000;

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

/** How a hook ended, in words: undefined when it exited 0. Pure. */
export function hookFailure(r: { exitCode: number | null; signal: string | null; killedFor?: string | undefined }, timeoutMs: number): string | undefined {
  if (r.killedFor === 'timeout') return `ran past ${timeoutMs >= 1000 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`} and was killed`;
  if (r.exitCode === 0) return undefined;
  if (r.exitCode !== null) return `exited ${r.exitCode}`;
  return `was killed by ${r.signal ?? 'a signal'}`;
}

/** The note of a hook that ran. Pure. */
export function hookNote(cmd: string, event: HookEvent, failure: string | undefined, log: string): string {
  return `hook \`${hookLabel(cmd)}\` (${event}) ${failure ?? 'ran (exit 0)'}: ${failure === undefined ? 'its output is in' : 'see'} ${log}`;
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
}

/** Run a tree's and the command line's hooks for the run on `bus`; undefined when there are none. */
export function startHooks(o: HookOptions): HookRunner | undefined {
  const { hooks, bus, stateRoot } = o;
  if (hooks.runFinished.length === 0 && hooks.jobFailed.length === 0) return undefined;
  const timeoutMs = o.timeoutMs ?? HOOK_TIMEOUT_MS;
  const note = (text: string): void => bus.emit({ type: 'note', at: Date.now(), text });
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  let dropped = 0;
  const enqueue = (cmd: string, event: HookEvent, runId: string, vars: Record<string, string>): void => {
    waiting++;
    queue = queue.then(async () => {
      waiting--;
      await runOne(cmd, event, runId, vars);
    });
  };
  const runOne = async (cmd: string, event: HookEvent, runId: string, vars: Record<string, string>): Promise<void> => {
    const log = join(stateRoot, 'runs', runId, 'hooks.log');
    try {
      await mkdir(join(stateRoot, 'runs', runId), { recursive: true });
      await appendFile(log, `== ${new Date().toISOString()} hook (${event}${vars['KILN_JOB_ID'] === undefined ? '' : ` ${vars['KILN_JOB_ID']}`}): ${cmd}\n`);
      const { runGroup } = await import('../lib/spawn-group.ts');
      const r = await runGroup(['/bin/sh', '-c', cmd], {
        env: hookEnv(o.env ?? process.env, vars),
        cwd: o.cwd,
        timeoutMs,
        graceMs: Math.min(2000, timeoutMs),
        prefork: false,
        timePath: null,
        onOutput: (_stream, chunk) => appendFile(log, chunk),
      });
      const failure = hookFailure(r, timeoutMs);
      await appendFile(log, `== ${failure ?? 'exited 0'} after ${(r.durationMs / 1000).toFixed(1)} s\n`);
      note(hookNote(cmd, event, failure, log));
    } catch (e) {
      note(`hook \`${hookLabel(cmd)}\` (${event}) could not run: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const off = bus.on((e) => {
    if (e.type !== 'job-finished' || e.state !== 'failed') return;
    for (const cmd of hooks.jobFailed) {
      if (waiting >= MAX_WAITING_HOOKS) {
        if (dropped++ === 0) note(`hooks: more than ${MAX_WAITING_HOOKS} job-failed hooks waiting: those of the next failures are not run`);
        continue;
      }
      enqueue(cmd, 'job-failed', e.runId, jobFailedVars(e, stateRoot));
    }
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) off();
    closed = true;
    await queue;
  };
  return {
    runFinished: async (r) => {
      // The job-failed hooks of the last failures go first; later events are not this run's.
      off();
      closed = true;
      for (const cmd of hooks.runFinished) enqueue(cmd, 'run-finished', r.runId, runFinishedVars(r, stateRoot));
      await queue;
    },
    close,
  };
}

/**
 * The hooks of one run: kiln.toml's and --hook's on a local run; on a daemon none (a
 * tenant's kiln.toml must not run commands outside the sandbox), with a note when the
 * tree has some (the daemon refuses such a tree at submit: server/precheck.ts).
 */
export function hooksForRun(req: { readonly hooks?: readonly string[] | undefined; readonly onDaemon?: boolean | undefined; readonly bus: EventBus; readonly state: { readonly root: string } }, tree: TreeHooks | undefined, treeDir: string): HookRunner | undefined {
  if (req.onDaemon === true) {
    if (tree !== undefined) req.bus.emit({ type: 'note', at: Date.now(), text: "kiln.toml [hooks]: not run on a daemon (a tree's commands run only in the sandbox); the daemon's operator can have builds announced with kiln serve --webhook" });
    return undefined;
  }
  return startHooks({ hooks: mergeHooks(tree, req.hooks ?? []), cwd: resolve(treeDir), stateRoot: resolve(req.state.root), bus: req.bus });
}
