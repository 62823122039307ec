// The `host` sandbox backend: no root, no isolation beyond what a plain process gets. A
// fresh workspace directory per job, a complete environment that inherits nothing, and
// every process a run started killed when it ends (process group + environment cookie,
// see lib/spawn-group.ts). Builds see the real root file system and network, so it is for
// development, tests and trusted recipes; the inside and host layouts are the same paths.
//
// Recycled workspaces: making six directories and removing them again per job is, for a
// small build, the biggest cost kiln adds (on ext4 each rmdir frees a block, which with
// `discard` waits on the journal: ~2.5 ms per job in a 1k-package run). So a workspace
// whose six directories a build left empty, with the owner and mode they were made with
// and no process of the job left, is renamed into a small per-process pool
// (`<workDir>/../../.kiln-free-<pid>/N/`, with an owner file so that a later kiln reaps it
// if this one dies), under a new N each time, and a later job builds in it where it is:
// one rename per job. Each job still gets empty directories (all six are checked again when
// one is handed out, so a write while it sat in the pool is seen) at a path no earlier job
// had, so a process that escaped an earlier job's cleanup (`setsid` with a cleared
// environment: see lib/spawn-group.ts) cannot write into a later job by the path it knew.
// One whose current directory is inside the workspace follows it, as it would any reused
// directory: that is the limit of recycling on the host. A job's own workDir is thus used
// only by the first jobs, and by every job of a run that may keep its workspace
// (--keep-failed): those get the pooled directory renamed to workDir, so that a kept
// workspace holds the paths it was built at. Anything else is removed as before. The pool
// is emptied at exit.
//
// Telling "left empty" without listing six directories per job: each directory of a new
// workspace gets an mtime far in the past that is its own (a mark: a whole second around
// the year 2003, drawn from a per-process sequence with a random start), remembered by its
// inode together with the ctime that setting it gave. Creating, removing or renaming an
// entry in a directory sets its mtime and ctime to now, so a directory whose mtime is still
// its mark and whose ctime is unchanged holds exactly what it held when marked: nothing
// (the six, for workDir). Only a directory the build touched is listed, and if it is empty
// again it gets a new mark. Setting the times back (`touch -r`, `cp -a`, `rsync -a`, tar
// restoring a directory's mtime) sets the ctime to now, which no call can set back, so
// that is seen too. kiln's own renames of workDir change its ctime: the new one is taken
// right after. A host build can write anywhere its user can anyway.

import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { processStartTime } from '../envs/leases.ts';
import { KilnError } from '../errors.ts';
import { newCookie, runGroup } from '../lib/spawn-group.ts';
import type { RunResult, RunSpec, Sandbox, SandboxBackend, SandboxLayout, SandboxOptions } from './sandbox.ts';

export interface HostBackendOptions {
  /** GNU time for rusage when the pre-forked helper cannot report it; null disables it (default /usr/bin/time when present). */
  readonly timePath?: string | null;
  /** SIGTERM → SIGKILL grace when a run is ended by kiln (default 2000 ms). */
  readonly graceMs?: number;
}

export function makeHostBackend(backendOptions: HostBackendOptions = {}): SandboxBackend {
  return {
    name: 'host',
    guarantees: ['fresh-workspace', 'process-tree-killed', 'clean-environment'],
    create: (options) => createHostSandbox(options, backendOptions),
  };
}

export const hostBackend: SandboxBackend = makeHostBackend();

const DIRS = ['src', 'dest', 'sysroot', 'home', 'tmp'] as const;

async function createHostSandbox(options: SandboxOptions, backendOptions: HostBackendOptions): Promise<Sandbox> {
  if (options.signal?.aborted) throw new KilnError('cancelled', `job ${options.jobId} was cancelled before its sandbox was made`);
  const workDir = resolve(options.workDir);
  const pooled = takeRecycled(workDir, { moveTo: options.keep === undefined ? undefined : workDir });
  if (pooled !== undefined) return new HostSandbox(pooled, options, backendOptions);
  const layout = layoutIn(workDir);
  // The usual case is a workDir that does not exist yet: creating it proves it fresh
  // without listing it. Synchronous on purpose: six tiny metadata calls cost less inline
  // than six thread-pool round trips (measured: ~0.13 ms against ~0.45 ms per job).
  try {
    mkdirSync(workDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') mkdirSync(workDir, { recursive: true });
    else if (code === 'EEXIST') assertEmptyDir(workDir, options.jobId);
    else throw e;
  }
  for (const d of DIRS) mkdirSync(layout[d]);
  freshStat ??= lstatSync(layout.src);
  markUntouched([...DIRS.map((d) => layout[d]), workDir]);
  return new HostSandbox(workDir, options, backendOptions);
}

const layoutIn = (dir: string): SandboxLayout => Object.fromEntries(DIRS.map((d) => [d, join(dir, d)])) as unknown as SandboxLayout;

function assertEmptyDir(workDir: string, jobId: string): void {
  let entries: string[];
  try {
    entries = readdirSync(workDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
    entries = ['(a file)'];
  }
  if (entries.length > 0) {
    throw new KilnError('unsafe-path', `sandbox workspace ${workDir} for job ${jobId} is not an empty directory`, {
      hint: 'each job needs a fresh directory; remove it (a kept workspace from an earlier run?) or use another work dir',
    });
  }
}

class HostSandbox implements Sandbox {
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  /** Where the workspace is: the job's workDir, or a pooled one built in where it is. */
  readonly #workDir: string;
  readonly #options: SandboxOptions;
  readonly #backend: HostBackendOptions;
  readonly #cookies = new Set<string>();
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  #disposed = false;
  /** No run left a process behind or failed oddly: the workspace may be recycled. */
  #clean = true;

  constructor(workDir: string, options: SandboxOptions, backend: HostBackendOptions) {
    this.host = layoutIn(workDir);
    this.inside = this.host;
    this.#workDir = workDir;
    this.#options = options;
    this.#backend = backend;
  }

  async run(spec: RunSpec): Promise<RunResult> {
    if (this.#disposed) throw new Error(`sandbox ${this.#workDir} of job ${this.#options.jobId} is already disposed`);
    const cookie = newCookie();
    this.#cookies.add(cookie);
    const signals = [this.#closing.signal];
    if (spec.signal !== undefined) signals.push(spec.signal);
    if (this.#options.signal !== undefined && this.#options.signal !== spec.signal) signals.push(this.#options.signal);
    const running = runGroup(spec.argv, {
      env: spec.env,
      cwd: spec.cwd,
      onOutput: spec.onOutput,
      ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
      ...(spec.silentTimeoutMs === undefined ? {} : { silentTimeoutMs: spec.silentTimeoutMs }),
      ...(this.#backend.timePath === undefined ? {} : { timePath: this.#backend.timePath }),
      ...(this.#backend.graceMs === undefined ? {} : { graceMs: this.#backend.graceMs }),
      signals,
      cookie,
    });
    this.#running.add(running);
    try {
      const r = await running.catch((e: unknown) => {
        this.#clean = false;
        throw e;
      });
      if (r.survivors > 0) this.#clean = false;
      return {
        exitCode: r.exitCode,
        signal: r.signal,
        ...(r.killedFor === undefined ? {} : { killedFor: r.killedFor }),
        ...(r.rusage === undefined ? {} : { rusage: r.rusage }),
        durationMs: r.durationMs,
        ...(r.infraError === undefined ? {} : { infraError: r.infraError }),
      };
    } finally {
      this.#running.delete(running);
    }
  }

  destUntouched(): boolean {
    try {
      return untouched(lstatSync(this.host.dest));
    } catch {
      return false;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    // Runs still going are cancelled (their callers see killedFor: 'cancelled'). Only then:
    // abort() builds an AbortError, which costs more than the rest of a no-op job's teardown.
    if (this.#running.size > 0) this.#closing.abort();
    // Every run has returned, and runGroup sweeps its run's cookie before returning: no
    // process carrying one of this sandbox's cookies can be left to sweep here.
    await Promise.allSettled(this.#running);
    if (this.#options.keep?.()) return;
    if (this.#clean && recycle(this.#workDir)) return;
    // Fast path: a build that left its directories empty needs six rmdirs (inline, like
    // the mkdirs above); anything else goes through the full removal.
    if (removeEmptyLayout(this.#workDir)) return;
    await removeTree(this.#workDir);
  }
}

/** How a freshly made layout directory looks (owner, group, mode); set by the first one made. */
let freshStat: Stats | undefined;
/** Each marked layout directory's mark and the ctime it had then (see the header), by `dev:ino`. */
const marks = new Map<string, { mark: number; ctimeMs: number }>();
const idOf = (st: Stats): string => `${st.dev}:${st.ino}`;
/** The directory is as it was marked: nothing was created, removed or renamed in it since. */
const untouched = (st: Stats): boolean => {
  const m = marks.get(idOf(st));
  return m !== undefined && st.isDirectory() && st.mtimeMs === m.mark * 1000 && st.ctimeMs === m.ctimeMs;
};
let nextMark = 1_000_000_000 + Math.floor(Math.random() * 100_000_000);

/** Give each directory a mark of its own (see the header). */
function markUntouched(paths: readonly string[]): void {
  // Workspaces removed rather than recycled leave their entries: a bound keeps it small
  // (a forgotten mark only means one more listing).
  if (marks.size > 10_000) marks.clear();
  for (const path of paths) {
    const mark = nextMark++;
    utimesSync(path, mark, mark);
    const st = lstatSync(path);
    marks.set(idOf(st), { mark, ctimeMs: st.ctimeMs });
  }
}

/** A layout directory with the owner and mode it was made with (the first one made says which). */
function asMade(st: Stats): boolean {
  const fresh = freshStat;
  return fresh !== undefined && st.isDirectory() && st.mode === fresh.mode && st.uid === fresh.uid && st.gid === fresh.gid;
}

/** After kiln renamed a workspace it had just found untouched: its new ctime is its own doing. */
function renamed(path: string): void {
  const st = lstatSync(path);
  const m = marks.get(idOf(st));
  if (m !== undefined && st.mtimeMs === m.mark * 1000 && asMade(st)) m.ctimeMs = st.ctimeMs;
}

/** All six directories of a pooled workspace are as they were pooled (lstat only, no listing). */
function stillEmpty(dir: string): boolean {
  try {
    if (!untouched(lstatSync(dir))) return false;
    for (const d of DIRS) if (!untouched(lstatSync(join(dir, d)))) return false;
    return true;
  } catch {
    return false; // gone (kiln doctor --fix, a hand)
  }
}
const FREE_MAX = 8;

interface Pool {
  readonly dir: string;
  readonly free: string[];
  made: boolean;
  seq: number;
}

const pools = new Map<string, Pool>();

const poolDirOf = (workDir: string): string => join(dirname(dirname(workDir)), `.kiln-free-${process.pid}`);

function poolFor(workDir: string): Pool {
  const dir = poolDirOf(workDir);
  let pool = pools.get(dir);
  if (pool === undefined) pools.set(dir, (pool = { dir, free: [], made: false, seq: 0 }));
  return pool;
}

/**
 * A pooled empty workspace, to build in where it is or, with `moveTo`, renamed there;
 * undefined when there is none (or it is gone or changed since it was pooled).
 */
function takeRecycled(workDir: string, o: { moveTo: string | undefined }): string | undefined {
  const pool = pools.get(poolDirOf(workDir));
  for (let dir = pool?.free.pop(); dir !== undefined; dir = pool?.free.pop()) {
    if (!stillEmpty(dir)) continue; // changed or gone while pooled: left for emptyPools
    if (o.moveTo === undefined) return dir;
    try {
      // Replaces an existing empty workDir (accepted anyway); fails on a non-empty one or
      // a file, which the caller's fresh path then reports.
      renameSync(dir, o.moveTo);
    } catch {
      pool!.free.push(dir);
      return undefined;
    }
    renamed(o.moveTo);
    return o.moveTo;
  }
  return undefined;
}

/** Move workDir into the pool when it is exactly an empty layout as made; false otherwise. */
function recycle(workDir: string): boolean {
  if (freshStat === undefined) return false;
  const pool = poolFor(workDir);
  if (pool.free.length >= FREE_MAX) return false;
  // A touched directory gets its new mark before it is listed: whatever is created in it
  // after the listing shows as touched again.
  const check = (path: string, entries: number): boolean => {
    const st = lstatSync(path);
    if (!asMade(st)) return false;
    if (untouched(st)) return true;
    markUntouched([path]);
    return readdirSync(path).length === entries;
  };
  try {
    if (!check(workDir, DIRS.length)) return false;
    for (const d of DIRS) if (!check(join(workDir, d), 0)) return false;
    if (!pool.made) {
      mkdirSync(pool.dir, { recursive: true });
      // The format of run workspaces' owner files (run/run-workspaces.ts): a kiln that
      // finds this folder after this process died removes it.
      writeFileSync(join(pool.dir, '.owner'), JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null }));
      if (![...pools.values()].some((p) => p.made)) process.once('exit', emptyPools);
      pool.made = true;
    }
    // Under a new name each time (see the header).
    const target = join(pool.dir, String(++pool.seq));
    renameSync(workDir, target);
    renamed(target);
    pool.free.push(target);
    return true;
  } catch {
    return false; // removed the ordinary way
  }
}

function emptyPools(): void {
  for (const pool of pools.values()) {
    if (!pool.made) continue;
    pool.free.length = 0;
    try {
      rmSync(pool.dir, { recursive: true, force: true });
    } catch {
      // a later kiln reaps it by its owner file
    }
  }
}

function removeEmptyLayout(workDir: string): boolean {
  try {
    for (const d of DIRS) rmdirSync(join(workDir, d));
    rmdirSync(workDir);
    return true;
  } catch {
    return false; // not empty, or already partly gone: removeTree sorts it out
  }
}

/** rm -rf that also copes with directories a build left without write permission. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw e;
    await makeWritable(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** chmod -R u+rwx on directories (what deleting their entries needs); symlinks are not followed. */
async function makeWritable(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) return;
  if ((st.mode & 0o700) !== 0o700) await chmod(dir, st.mode | 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(join(dir, entry.name));
  }
}
