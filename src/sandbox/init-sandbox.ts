// What the isolated backends (chroot, rootless) share: accepting a sandbox request (fresh
// workspace, an env, plain paths and bind targets), the workspace's directories and /dev
// template, the setup files, and the sandbox object whose run() and shell() go through the
// backend's init (init-run.ts, interactive.ts) and whose dispose removes the workspace and
// the journal entry. What differs is passed in as hooks: chroot measures runs with its
// cgroup (rusage, OOM kills) and removes the cgroup; rootless has GNU time's rusage and a
// workspace removal that works without root.

import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import type { GroupResult } from '../lib/spawn-group.ts';
import type { Rusage } from '../plan/job.ts';
import { DEV_DIRS, DEV_LINKS, LAYOUT_DIRS, MOUNT_POINTS, badPathChars } from './chroot/scripts.ts';
import { removeEntry } from './journal.ts';
import { liveMountsUnder, unmountLazily } from './mounts.ts';
import { runInteractive } from './interactive.ts';
import { initRunFiles, startInitRun } from './init-run.ts';
import type { RunResult, RunSpec, Sandbox, SandboxEnv, SandboxLayout, SandboxOptions, ShellOptions } from './sandbox.ts';
import { assertEmptyDir, checkInside } from './workspace-checks.ts';

export type InitBackend = 'chroot' | 'rootless';

export interface Bind {
  readonly host: string;
  readonly inside: string;
}

/** Refuse a cancelled job, a used workspace or a missing env; returns the absolute workspace and the env. */
export async function acceptRequest(options: SandboxOptions, backend: InitBackend): Promise<{ workDir: string; env: SandboxEnv }> {
  if (options.signal?.aborted) throw new KilnError('cancelled', `job ${options.jobId} was cancelled before its sandbox was made`);
  const workDir = resolve(options.workDir);
  await assertEmptyDir(workDir, options.jobId);
  const env = options.env;
  if (env === undefined) {
    throw new KilnError('sandbox-unavailable', `the ${backend} sandbox of job ${options.jobId} needs an env to build in, and none was given`, {
      hint: 'name one in kiln.toml (env = "bookworm-amd64") or with --env; create it with `kiln env create`',
    });
  }
  return { workDir, env };
}

export function unavailableError(backend: InitBackend, jobId: string, why: string | undefined): KilnError {
  return new KilnError('sandbox-unavailable', `cannot make a ${backend} sandbox for job ${jobId}: ${why}`, { hint: 'run `kiln doctor` for details, or use sandbox = "host"' });
}

/** Every host path must be absolute and fit in an overlayfs/fstab option; bind targets must be plain. */
export function checkedBinds(options: SandboxOptions, workDir: string, layers: readonly string[]): { ro: Bind[]; rw: Bind[] } {
  for (const p of [workDir, ...layers, ...(options.readOnlyBinds ?? []).map((b) => b.host), ...(options.readWriteBinds ?? []).map((b) => b.host)]) {
    if (badPathChars(p) || !isAbsolute(p)) {
      throw new KilnError('unsafe-path', `path ${JSON.stringify(p)} of job ${options.jobId}'s sandbox is not absolute or has one of , : \\ or a newline, which overlayfs mount options cannot take`, { hint: 'move the state dir or env to a plain path' });
    }
  }
  return {
    ro: (options.readOnlyBinds ?? []).map((b) => ({ host: b.host, inside: checkInside(b.inside, options.jobId) })),
    rw: (options.readWriteBinds ?? []).map((b) => ({ host: b.host, inside: checkInside(b.inside, options.jobId) })),
  };
}

/** The sandbox's id: journal entry, cgroup and overlay names. */
export function sandboxId(jobId: string): string {
  return `${jobId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

export interface SandboxDirs {
  readonly workspace: string;
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
  readonly dev: string;
  readonly run: string;
}

/** Where a sandbox of `workDir` keeps its workspace, overlay dirs and run dir (`run`: another run dir, e.g. a shell's). */
export function sandboxDirsOf(workDir: string, run = join(workDir, 'run')): SandboxDirs {
  return {
    workspace: join(workDir, 'kiln'),
    upper: join(workDir, 'root', 'upper'),
    work: join(workDir, 'root', 'work'),
    merged: join(workDir, 'root', 'merged'),
    dev: join(workDir, 'root', 'dev'),
    run,
  };
}

/**
 * Makes `<workDir>/kiln/{src,dest,…}`, `root/{upper,work,merged,dev}` and `run/`, the /dev
 * template's directories and symlinks, and the mount points in the upper layer (the env's
 * own directories may not be writable by who mounts them).
 */
export async function makeSandboxDirs(workDir: string): Promise<SandboxDirs> {
  const dirs = sandboxDirsOf(workDir);
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o755 });
  for (const d of LAYOUT_DIRS) await mkdir(join(dirs.workspace, d));
  for (const d of DEV_DIRS) await mkdir(join(dirs.dev, d));
  for (const [name, target] of Object.entries(DEV_LINKS)) await symlink(target, join(dirs.dev, name));
  for (const d of MOUNT_POINTS) await mkdir(join(dirs.upper, d), { recursive: true });
  return dirs;
}

/** The paths both backends' scripts take (each adds its own). */
export function commonPaths(dirs: SandboxDirs, layers: readonly string[], binds: { ro: readonly Bind[]; rw: readonly Bind[] }, id: string) {
  return {
    merged: dirs.merged,
    upper: dirs.upper,
    work: dirs.work,
    workspace: dirs.workspace,
    lowers: layers,
    devTemplate: dirs.dev,
    readOnlyBinds: binds.ro,
    readWriteBinds: binds.rw,
    setupFile: join(dirs.run, 'setup.sh'),
    fstabFiles: [join(dirs.run, 'fstab.root'), join(dirs.run, 'fstab.more')] as const,
    overlayName: `kiln-${id}`.slice(0, 100),
  };
}

/** Writes the two fstabs and the setup script the run argv uses. */
export async function writeSetupFiles(paths: { readonly setupFile: string; readonly fstabFiles: readonly [string, string] }, fstabs: readonly [string, string], script: string): Promise<void> {
  await writeFile(paths.fstabFiles[0], fstabs[0], { mode: 0o600 });
  await writeFile(paths.fstabFiles[1], fstabs[1], { mode: 0o600 });
  await writeFile(paths.setupFile, script, { mode: 0o700 });
}

/** The build directories under `root` (the host workspace, or INSIDE_ROOT). */
export function layoutAt(root: string): SandboxLayout {
  return Object.fromEntries(LAYOUT_DIRS.map((d) => [d, `${root}/${d}`])) as unknown as SandboxLayout;
}

/** The argv + files of one prepared sandbox, shared by run() and shell(). */
export interface InitSandboxParts {
  readonly backend: InitBackend;
  readonly id: string;
  readonly workDir: string;
  readonly runDir: string;
  readonly argv: readonly string[];
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  readonly options: SandboxOptions;
  /** The state dir whose journal names this sandbox. */
  readonly stateDir: string;
  readonly graceMs: number | undefined;
}

/** What a backend measured of one run. */
export interface RunMeasure {
  readonly rusage: Rusage;
  /** The kernel killed something of the run for memory. */
  readonly oom: boolean;
  /** How many processes it killed so (when the backend can count them). */
  readonly oomKills?: number;
  /** A fork of the run failed at its pids limit (cgroup backends). */
  readonly pidsLimited?: boolean;
}

export interface InitSandboxHooks {
  /**
   * Called before each run; what it returns is called once the run's process is gone,
   * before its status is read. Given: the backend measures runs itself (GNU time is not
   * used); absent: the rusage is GNU time's over the whole tree, and no OOM is known.
   */
  readonly measure?: () => Promise<(r: GroupResult) => Promise<RunMeasure>>;
  /**
   * Called as each run starts (cgroup backends): watch it for runaway forking and call
   * `onRunaway` to have it ended and reported `pids-limit` (fork-watch.ts). Returns the stop.
   */
  readonly watchRunaway?: (onRunaway: () => void) => () => void;
  /** After an interactive shell ends: sweep what is left of it. */
  readonly afterShell?: () => Promise<unknown>;
  /** On dispose, once the runs are over, whether or not the workspace is kept. */
  readonly release?: () => Promise<unknown>;
  /** Removes the workspace (no mount is live under it any more). */
  readonly removeWorkDir: (workDir: string) => Promise<void>;
  /** On dispose, when the workspace is kept. */
  readonly keepWorkDir?: (workDir: string) => Promise<unknown>;
}

export class InitSandbox implements Sandbox {
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  protected readonly parts: InitSandboxParts;
  readonly #hooks: InitSandboxHooks;
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  #runs = 0;
  #disposed = false;

  constructor(parts: InitSandboxParts, hooks: InitSandboxHooks) {
    this.parts = parts;
    this.#hooks = hooks;
    this.host = parts.host;
    this.inside = parts.inside;
  }

  protected assertLive(): void {
    if (this.#disposed) throw new Error(`sandbox ${this.parts.workDir} of job ${this.parts.options.jobId} is already disposed`);
  }

  /** A run or shell is going. */
  protected get busy(): boolean {
    return this.#running.size > 0;
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const p = this.parts;
    this.assertLive();
    if (!spec.cwd.startsWith('/')) throw new Error(`run: cwd must be an inside absolute path, got ${spec.cwd}`);
    const files = await initRunFiles(p.runDir, ++this.#runs, spec.env);
    const measured = await this.#hooks.measure?.();
    const cancels = [this.#closing.signal, spec.signal, p.options.signal].filter((s) => s !== undefined);
    // A fork bomb ends only at a timeout: the backend's watch ends it sooner, as pids-limit.
    const runaway = new AbortController();
    const stopWatch = this.#hooks.watchRunaway?.(() => runaway.abort());
    const signals = stopWatch === undefined ? cancels : [...cancels, runaway.signal];
    // Without a backend measure, GNU time (when installed) wraps the whole tree: init reaps every orphan of the build.
    const run = startInitRun({
      argv: p.argv, runDir: p.runDir, files, spec, graceMs: p.graceMs, signal: AbortSignal.any(signals),
      ...(measured === undefined ? {} : { timePath: null }),
      what: `the ${p.backend} sandbox of job ${p.options.jobId}`,
    });
    const running = run.running;
    this.#running.add(running);
    try {
      const r = await running;
      stopWatch?.();
      const { rusage, oom, oomKills, pidsLimited } = measured === undefined ? { rusage: r.rusage, oom: false, oomKills: undefined, pidsLimited: false } : await measured(r);
      let killedFor = r.killedFor;
      if (killedFor === 'cancelled' && runaway.signal.aborted && !cancels.some((s) => s.aborted)) killedFor = 'pids-limit';
      // kiln's helper died under the sandbox: nothing the sandbox left says anything.
      if (r.infraError !== undefined) return { exitCode: r.exitCode, signal: r.signal, durationMs: r.durationMs, infraError: r.infraError };
      const { exitCode, signal } = await run.status(r, killedFor !== undefined || oom);
      // An OOM kill that the build survived (a configure probe) is not the build's failure.
      if (oom && killedFor === undefined && (exitCode !== 0 || signal !== null)) killedFor = 'out-of-memory';
      // Likewise a fork refused at the pids limit: the failure it led to is the limit's.
      if (pidsLimited === true && killedFor === undefined && (exitCode !== 0 || signal !== null)) killedFor = 'pids-limit';
      return {
        exitCode,
        signal,
        ...(killedFor === undefined ? {} : { killedFor }),
        ...(rusage === undefined ? {} : { rusage }),
        // Said whether or not the build failed: one that went on after a kill is warned of (execute/pack-output.ts).
        ...(oom ? { oomKills: Math.max(1, oomKills ?? 1) } : {}),
        durationMs: r.durationMs,
      };
    } finally {
      stopWatch?.();
      this.#running.delete(running);
    }
  }

  /** Interactive (kiln env shell): as the build user, through the same init. */
  async shell(options: ShellOptions = {}): Promise<number> {
    const p = this.parts;
    this.assertLive();
    const n = ++this.#runs;
    const signals = [this.#closing.signal, p.options.signal].filter((s) => s !== undefined);
    // runInteractive writes the env file itself.
    const running = runInteractive(
      {
        argv: p.argv, cwd: p.runDir, envFile: join(p.runDir, `${n}.env`), statusFile: join(p.runDir, `${n}.status`),
        insideCwd: this.inside.src, inside: this.inside, what: `job ${p.options.jobId}`, signal: AbortSignal.any(signals),
      },
      options,
    );
    this.#running.add(running);
    try {
      return await running;
    } finally {
      this.#running.delete(running);
      await this.#hooks.afterShell?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const p = this.parts;
    this.#closing.abort();
    await Promise.allSettled(this.#running);
    await this.#hooks.release?.();
    if (!p.options.keep?.()) {
      // Mounts live in the runs' namespaces and die with them; one seen here is a bug
      // elsewhere, and deleting through a live mount would delete what it shows.
      for (const m of await liveMountsUnder(p.workDir)) await unmountLazily(m);
      await this.#hooks.removeWorkDir(p.workDir);
    } else {
      await this.#hooks.keepWorkDir?.(p.workDir);
    }
    await removeEntry(p.stateDir, p.id);
  }
}
