// The `chroot` sandbox backend (root): each build in its own overlay root over the env's
// read-only layers, in new mount, PID, IPC, UTS and network namespaces, limited by a
// cgroup (memory, cpu quota, pids), as an unprivileged build user with exactly the
// environment it is given.
//
// Host side of a sandbox, `<workDir>/`:
//   kiln/{src,dest,sysroot,home,tmp}   the workspace, bound at /kiln inside (the layout)
//   root/{upper,work,merged,dev}       overlay upper + work dir, mount point, /dev template
//   run/                               generated scripts, per-run env and status files
//
// Nothing is mounted in kiln's own mount namespace: each run() makes a new namespace
// whose PID 1 (init, see scripts.ts) mounts everything; when the build's main process
// ends, init exits, the kernel kills what is left of the build and drops the namespace
// with its mounts. The run's outermost process has SIGKILL as its parent-death signal,
// and unshare --kill-child passes it on to init, so a SIGKILLed kiln takes its builds
// down with it. What survives kiln's death is its cgroup and workspace directories, and
// the journal entry naming them (journal.ts), which the reaper removes at the next start.

import { readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { KilnError } from '../../errors.ts';
import { runGroup } from '../../lib/spawn-group.ts';
import { cgroupPaths, cgroupProblem, createCgroup, detectCgroups, type Cgroup, type CgroupSystem } from '../cgroups/cgroups.ts';
import { removeTree } from '../host.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import { liveMountsUnder, unmountLazily } from '../mounts.ts';
import { runInteractive } from '../interactive.ts';
import { initRunFiles, startInitRun } from '../init-run.ts';
import type { RunResult, RunSpec, Sandbox, SandboxBackend, SandboxLayout, SandboxOptions, ShellOptions } from '../sandbox.ts';
import { ensureBuildUser } from './build-user.ts';
import { findHostTools } from './host-tools.ts';
import {
  badPathChars, DEV_DIRS, DEV_LINKS, fstabs, INSIDE_ROOT, LAYOUT_DIRS, MOUNT_POINTS, runArgv, setupScript, type ScriptPaths,
} from './scripts.ts';
import { assertEmptyDir, checkInside } from '../workspace-checks.ts';

export interface ChrootBackendOptions {
  /** The state dir: the journal of live sandboxes goes to `<stateDir>/sandboxes/`. */
  readonly stateDir: string;
  /** Name of the cgroup directory that holds the builds' groups (default `kiln`). */
  readonly cgroupParent?: string;
  /** SIGTERM → SIGKILL grace when kiln ends a run (default 2000 ms). */
  readonly graceMs?: number;
  /** For tests: the cgroup system to use (default: detected). */
  readonly cgroups?: CgroupSystem;
}

export function createChrootBackend(options: ChrootBackendOptions): SandboxBackend {
  return {
    name: 'chroot',
    guarantees: ['fresh-workspace', 'process-tree-killed', 'clean-environment', 'private-root', 'no-network', 'resource-limits'],
    create: (sandboxOptions) => createChrootSandbox(sandboxOptions, options),
  };
}

/** Why the chroot backend cannot run here, or undefined when it can. */
export function chrootUnavailable(system: CgroupSystem | undefined = detectCgroups()): string | undefined {
  if (process.getuid?.() !== 0) return 'the chroot sandbox needs root (run kiln as root, or use the rootless sandbox)';
  const tools = findHostTools();
  if ('missing' in tools) return `host programs missing: ${tools.missing.join(', ')}`;
  if (!readProcFilesystems().includes('overlay')) return 'the kernel has no overlayfs (modprobe overlay)';
  return cgroupProblem(system);
}

function readProcFilesystems(): string {
  try {
    return readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return '';
  }
}

async function createChrootSandbox(options: SandboxOptions, backend: ChrootBackendOptions): Promise<Sandbox> {
  if (options.signal?.aborted) throw new KilnError('cancelled', `job ${options.jobId} was cancelled before its sandbox was made`);
  const workDir = resolve(options.workDir);
  await assertEmptyDir(workDir, options.jobId);
  const env = options.env;
  if (env === undefined) {
    throw new KilnError('sandbox-unavailable', `the chroot sandbox of job ${options.jobId} needs an env to build in, and none was given`, {
      hint: 'name one in kiln.toml (env = "bookworm-amd64") or with --env; create it with `kiln env create`',
    });
  }
  const system = backend.cgroups ?? detectCgroups();
  const why = chrootUnavailable(system);
  if (why !== undefined || system === undefined) throw new KilnError('sandbox-unavailable', `cannot make a chroot sandbox for job ${options.jobId}: ${why}`, { hint: 'run `kiln doctor` for details, or use sandbox = "host"' });
  const found = findHostTools();
  if ('missing' in found) throw new Error('unreachable: tools checked above');
  const tools = found.tools;
  for (const p of [workDir, ...env.layers, ...(options.readOnlyBinds ?? []).map((b) => b.host), ...(options.readWriteBinds ?? []).map((b) => b.host)]) {
    if (badPathChars(p) || !isAbsolute(p)) {
      throw new KilnError('unsafe-path', `path ${JSON.stringify(p)} of job ${options.jobId}'s sandbox is not absolute or has one of , : \\ or a newline, which overlayfs mount options cannot take`, { hint: 'move the state dir or env to a plain path' });
    }
  }
  const binds = {
    ro: (options.readOnlyBinds ?? []).map((b) => ({ host: b.host, inside: checkInside(b.inside, options.jobId) })),
    rw: (options.readWriteBinds ?? []).map((b) => ({ host: b.host, inside: checkInside(b.inside, options.jobId) })),
  };

  const id = `${options.jobId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const parent = backend.cgroupParent ?? 'kiln';
  const cgroupName = id;
  // The journal entry comes first: whatever exists later, a dead kiln's entry names it.
  const cgroupRef = { version: system.version, dirs: cgroupPaths(system, { parent, name: cgroupName }) };
  await writeEntry(backend.stateDir, ownEntry({ id, jobId: options.jobId, backend: 'chroot', workDir, cgroup: cgroupRef }));
  let cgroup: Cgroup | undefined;
  try {
    const dirs = {
      workspace: join(workDir, 'kiln'),
      upper: join(workDir, 'root', 'upper'),
      work: join(workDir, 'root', 'work'),
      merged: join(workDir, 'root', 'merged'),
      dev: join(workDir, 'root', 'dev'),
      run: join(workDir, 'run'),
    };
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o755 });
    for (const d of LAYOUT_DIRS) await mkdir(join(dirs.workspace, d));
    for (const d of DEV_DIRS) await mkdir(join(dirs.dev, d));
    await chmod(join(dirs.dev, 'shm'), 0o1777);
    for (const d of MOUNT_POINTS) await mkdir(join(dirs.upper, d), { recursive: true });
    for (const [name, target] of Object.entries(DEV_LINKS)) await symlink(target, join(dirs.dev, name));
    await ensureBuildUser(env.layers, dirs.upper);
    cgroup = await createCgroup(system, { parent, name: cgroupName, limits: options.limits });
    const paths: ScriptPaths = {
      merged: dirs.merged,
      upper: dirs.upper,
      work: dirs.work,
      workspace: dirs.workspace,
      lowers: env.layers,
      readOnlyBinds: binds.ro,
      readWriteBinds: binds.rw,
      procsFiles: cgroup.procsFiles,
      setupFile: join(dirs.run, 'setup.sh'),
      fstabFiles: [join(dirs.run, 'fstab.root'), join(dirs.run, 'fstab.more')],
      overlayName: `kiln-${id}`.slice(0, 100),
      devTemplate: dirs.dev,
    };
    const [root, more] = fstabs(paths);
    await writeFile(paths.fstabFiles[0], root, { mode: 0o600 });
    await writeFile(paths.fstabFiles[1], more, { mode: 0o600 });
    await writeFile(paths.setupFile, setupScript(tools, paths), { mode: 0o700 });
    const layout = (root: string) => Object.fromEntries(LAYOUT_DIRS.map((d) => [d, `${root}/${d}`])) as unknown as SandboxLayout;
    return new ChrootSandbox({ id, workDir, runDir: dirs.run, argv: runArgv(tools, paths), host: layout(dirs.workspace), inside: layout(INSIDE_ROOT), cgroup, options, backend });
  } catch (e) {
    await cgroup?.remove().catch(() => undefined);
    await removeTree(workDir).catch(() => undefined);
    await removeEntry(backend.stateDir, id);
    throw e;
  }
}

interface Parts {
  readonly id: string;
  readonly workDir: string;
  readonly runDir: string;
  readonly argv: readonly string[];
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  readonly cgroup: Cgroup;
  readonly options: SandboxOptions;
  readonly backend: ChrootBackendOptions;
}

class ChrootSandbox implements Sandbox {
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  readonly #p: Parts;
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  #runs = 0;
  #disposed = false;

  constructor(parts: Parts) {
    this.#p = parts;
    this.host = parts.host;
    this.inside = parts.inside;
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const p = this.#p;
    if (this.#disposed) throw new Error(`sandbox ${p.workDir} of job ${p.options.jobId} is already disposed`);
    if (!spec.cwd.startsWith('/')) throw new Error(`run: cwd must be an inside absolute path, got ${spec.cwd}`);
    const files = await initRunFiles(p.runDir, ++this.#runs, spec.env);
    const oomBefore = await p.cgroup.oomKills();
    const usageBefore = await p.cgroup.usage();
    const signals = [this.#closing.signal, spec.signal, p.options.signal].filter((s) => s !== undefined);
    const run = startInitRun({
      argv: p.argv, runDir: p.runDir, files, spec, graceMs: p.backend.graceMs, signal: AbortSignal.any(signals),
      // rusage comes from the cgroup (the whole build, not one process).
      timePath: null,
      what: `the chroot sandbox of job ${p.options.jobId}`,
    });
    const running = run.running;
    this.#running.add(running);
    try {
      const r = await running;
      // Normally empty by now (the namespace died with init); a stuck exit is swept here.
      await p.cgroup.kill();
      const oom = (await p.cgroup.oomKills()) > oomBefore;
      const usage = await p.cgroup.usage();
      const rusage = {
        userMs: Math.round((usage.userUs - usageBefore.userUs) / 1000),
        systemMs: Math.round((usage.systemUs - usageBefore.systemUs) / 1000),
        maxRssKb: Math.round((usage.peakBytes ?? 0) / 1024),
      };
      let killedFor = r.killedFor;
      const { exitCode, signal } = await run.status(r, killedFor !== undefined || oom);
      // An OOM kill that the build survived (a configure probe) is not the build's failure.
      if (oom && killedFor === undefined && (exitCode !== 0 || signal !== null)) killedFor = 'out-of-memory';
      return { exitCode, signal, ...(killedFor === undefined ? {} : { killedFor }), rusage, durationMs: r.durationMs };
    } finally {
      this.#running.delete(running);
    }
  }

  async captureRoot(dest: string): Promise<void> {
    const p = this.#p;
    if (this.#disposed) throw new Error(`sandbox ${p.workDir} of job ${p.options.jobId} is already disposed`);
    if (this.#running.size > 0) throw new Error(`captureRoot: job ${p.options.jobId} still has a run going`);
    // Nothing is mounted between runs (the mounts live in each run's namespace), so the
    // upper directory is plain files, overlay whiteouts (0/0 character devices) included.
    const r = await runGroup(['cp', '-a', '--reflink=auto', join(p.workDir, 'root', 'upper'), dest], { env: { PATH: '/usr/bin:/bin' }, cwd: '/', onOutput: () => undefined, timePath: null });
    if (r.exitCode !== 0) throw new KilnError('sandbox-failed', `copying the root changes of job ${p.options.jobId} to ${dest} failed (exit ${r.exitCode ?? r.signal})`, { hint: 'check free disk space in the cache dir' });
  }

  /** Interactive (kiln env shell): as the build user, in the build's cgroup, through the same init. */
  async shell(options: ShellOptions = {}): Promise<number> {
    const p = this.#p;
    if (this.#disposed) throw new Error(`sandbox ${p.workDir} of job ${p.options.jobId} is already disposed`);
    const n = ++this.#runs;
    const signals = [this.#closing.signal, p.options.signal].filter((s) => s !== undefined);
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
      await p.cgroup.kill();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const p = this.#p;
    this.#closing.abort();
    await Promise.allSettled(this.#running);
    await p.cgroup.remove();
    if (!p.options.keep?.()) {
      // Mounts live in the runs' namespaces and die with them; one seen here is a bug
      // elsewhere, and deleting through a live mount would delete what it shows.
      for (const m of await liveMountsUnder(p.workDir)) await unmountLazily(m);
      await removeTree(p.workDir);
    }
    await removeEntry(p.backend.stateDir, p.id);
  }
}

