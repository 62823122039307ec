// The `rootless` sandbox backend: the chroot backend's isolation for a user without root.
// Each build gets its own overlay root over the env's read-only layers and new mount,
// PID, IPC, UTS and network namespaces, all owned by a user namespace in which the
// invoking user is mapped to root (see scripts.ts for the run's steps). The build itself
// runs as the invoking user's own uid (64000 when that is root), in a nested user
// namespace, with no capabilities.
//
// Differences from chroot, said plainly by the guarantees: no cgroup, so memory and pids
// are per-process / per-namespace rlimits and the cpu quota is not enforced; the backend
// does not claim 'resource-limits', and rusage comes from GNU time over the whole tree.
// Files of the env owned by uids that are not mapped (root-owned envs made by root) show
// as nobody/nogroup and cannot be written (as for chroot's build user).
//
// Host side of a sandbox, `<workDir>/`:
//   kiln/{src,dest,sysroot,home,tmp}   the workspace, bound at /kiln inside (the layout)
//   root/{upper,work,merged,dev}       overlay upper + work dir, mount point, /dev template
//   run/                               generated scripts, passwd/group, per-run env and status
// Nothing is mounted in kiln's own mount namespace; a journal entry (no cgroup) lets the
// reaper remove a workspace a dead kiln left behind.

import { chmod, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { KilnError } from '../../errors.ts';
import { BUILD_GID, BUILD_UID, DEV_DIRS, DEV_LINKS, INSIDE_ROOT, LAYOUT_DIRS, MOUNT_POINTS, badPathChars } from '../chroot/scripts.ts';
import { removeTree } from '../host.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import { liveMountsUnder, unmountLazily } from '../mounts.ts';
import { runInteractive } from '../interactive.ts';
import { initRunFiles, startInitRun } from '../init-run.ts';
import type { RunResult, RunSpec, Sandbox, SandboxBackend, SandboxLayout, SandboxOptions, ShellOptions } from '../sandbox.ts';
import { findRootlessTools, rootlessUnavailable } from './probe.ts';
import { DEV_NODES, fstabs, runArgv, setupScript, type RootlessPaths } from './scripts.ts';
import { assertEmptyDir, checkInside } from '../workspace-checks.ts';

export { rootlessUnavailable } from './probe.ts';

export interface RootlessBackendOptions {
  /** The state dir: the journal of live sandboxes goes to `<stateDir>/sandboxes/`. */
  readonly stateDir: string;
  /** SIGTERM → SIGKILL grace when kiln ends a run (default 2000 ms). */
  readonly graceMs?: number;
}

export function createRootlessBackend(options: RootlessBackendOptions): SandboxBackend {
  return {
    name: 'rootless',
    guarantees: ['fresh-workspace', 'process-tree-killed', 'clean-environment', 'private-root', 'no-network'],
    create: (sandboxOptions) => createRootlessSandbox(sandboxOptions, options),
  };
}

/** The argv + files of one prepared sandbox, shared by run() and shell(). */
interface Parts {
  readonly id: string;
  readonly workDir: string;
  readonly runDir: string;
  readonly argv: readonly string[];
  readonly host: SandboxLayout;
  readonly inside: SandboxLayout;
  readonly options: SandboxOptions;
  readonly backend: RootlessBackendOptions;
}

async function createRootlessSandbox(options: SandboxOptions, backend: RootlessBackendOptions): Promise<Sandbox> {
  if (options.signal?.aborted) throw new KilnError('cancelled', `job ${options.jobId} was cancelled before its sandbox was made`);
  const workDir = resolve(options.workDir);
  await assertEmptyDir(workDir, options.jobId);
  const env = options.env;
  if (env === undefined) {
    throw new KilnError('sandbox-unavailable', `the rootless sandbox of job ${options.jobId} needs an env to build in, and none was given`, {
      hint: 'name one in kiln.toml (env = "bookworm-amd64") or with --env; create it with `kiln env create`',
    });
  }
  const why = rootlessUnavailable();
  if (why !== undefined) throw new KilnError('sandbox-unavailable', `cannot make a rootless sandbox for job ${options.jobId}: ${why}`, { hint: 'run `kiln doctor` for details, or use sandbox = "host"' });
  const found = findRootlessTools();
  if ('missing' in found) throw new Error('unreachable: tools checked above');
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
  await writeEntry(backend.stateDir, ownEntry({ id, jobId: options.jobId, backend: 'rootless', workDir, cgroup: null }));
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
    for (const n of DEV_NODES) await writeFile(join(dirs.dev, n), '', { mode: 0o666 });
    for (const [name, target] of Object.entries(DEV_LINKS)) await symlink(target, join(dirs.dev, name));
    // Mount points in the upper layer: the env's own directories may be root-owned, which
    // "root" of the user namespace cannot write (their owner is not mapped).
    for (const d of MOUNT_POINTS) await mkdir(join(dirs.upper, d), { recursive: true });
    // The build's uid inside its namespace: the invoking one, except that root is shown as
    // the chroot backend's build user, because uid 0 would keep every capability in the
    // build's own namespace (enough to chroot() out of the overlay root).
    const uid = process.getuid?.() || BUILD_UID;
    const gid = process.getgid?.() || BUILD_GID;
    const fileBinds = await userFiles(env.layers, dirs.upper, dirs.run, { uid, gid });
    const paths: RootlessPaths = {
      merged: dirs.merged,
      upper: dirs.upper,
      work: dirs.work,
      workspace: dirs.workspace,
      lowers: env.layers,
      devTemplate: dirs.dev,
      readOnlyBinds: binds.ro,
      readWriteBinds: binds.rw,
      fileBinds,
      setupFile: join(dirs.run, 'setup.sh'),
      fstabFiles: [join(dirs.run, 'fstab.root'), join(dirs.run, 'fstab.more')],
      overlayName: `kiln-${id}`.slice(0, 100),
    };
    const [root, more] = fstabs(paths);
    await writeFile(paths.fstabFiles[0], root, { mode: 0o600 });
    await writeFile(paths.fstabFiles[1], more, { mode: 0o600 });
    await writeFile(paths.setupFile, setupScript(found.tools, paths, { uid, gid, limits: options.limits }), { mode: 0o700 });
    const layout = (r: string) => Object.fromEntries(LAYOUT_DIRS.map((d) => [d, `${r}/${d}`])) as unknown as SandboxLayout;
    return new RootlessSandbox({ id, workDir, runDir: dirs.run, argv: runArgv(found.tools, paths), host: layout(dirs.workspace), inside: layout(INSIDE_ROOT), options, backend });
  } catch (e) {
    await removeWorkDir(workDir).catch(() => undefined);
    await removeEntry(backend.stateDir, id);
    throw e;
  }
}

/**
 * The build runs as the invoking uid, which needs a name (whoami, id -un, git): passwd and
 * group with a `kiln` entry for it, bound read-only over the env's (so /etc stays the env's,
 * not the user's), or put in the upper layer when the env has none.
 */
async function userFiles(layers: readonly string[], upper: string, runDir: string, ids: { uid: number; gid: number }): Promise<{ host: string; inside: string }[]> {
  const out: { host: string; inside: string }[] = [];
  const files = [
    { rel: 'etc/passwd', field: String(ids.uid), line: `kiln:x:${ids.uid}:${ids.gid}:kiln build user:${INSIDE_ROOT}/home:/bin/sh`, base: 'root:x:0:0:root:/root:/bin/sh' },
    { rel: 'etc/group', field: String(ids.gid), line: `kiln:x:${ids.gid}:`, base: 'root:x:0:' },
  ];
  for (const f of files) {
    let text: string | undefined;
    for (const layer of [...layers].reverse()) {
      text = await readFile(join(layer, f.rel), 'utf8').catch(() => undefined);
      if (text !== undefined) break;
    }
    const lines = (text ?? `${f.base}\n`).split('\n').filter((l) => l !== '');
    if (lines.some((l) => l.split(':')[2] === f.field)) continue;
    const content = `${[...lines, f.line].join('\n')}\n`;
    if (text === undefined) {
      await mkdir(join(upper, 'etc'), { recursive: true, mode: 0o755 });
      await writeFile(join(upper, f.rel), content, { mode: 0o644 });
    } else {
      const host = join(runDir, f.rel.replace('/', '-'));
      await writeFile(host, content, { mode: 0o644 });
      out.push({ host, inside: `/${f.rel}` });
    }
  }
  return out;
}

class RootlessSandbox implements Sandbox {
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
    const files = await this.#files(spec.env);
    const signals = [this.#closing.signal, spec.signal, p.options.signal].filter((s) => s !== undefined);
    // GNU time (when installed) wraps the whole tree: init reaps every orphan of the build.
    const run = startInitRun({
      argv: p.argv, runDir: p.runDir, files, spec, graceMs: p.backend.graceMs, signal: AbortSignal.any(signals),
      what: `the rootless sandbox of job ${p.options.jobId}`,
    });
    const running = run.running;
    this.#running.add(running);
    try {
      const r = await running;
      const { exitCode, signal } = await run.status(r, r.killedFor !== undefined);
      return {
        exitCode,
        signal,
        ...(r.killedFor === undefined ? {} : { killedFor: r.killedFor }),
        ...(r.rusage === undefined ? {} : { rusage: r.rusage }),
        durationMs: r.durationMs,
      };
    } finally {
      this.#running.delete(running);
    }
  }

  /** Interactive, as the same unprivileged user a build runs as. */
  async shell(options: ShellOptions = {}): Promise<number> {
    const p = this.#p;
    if (this.#disposed) throw new Error(`sandbox ${p.workDir} of job ${p.options.jobId} is already disposed`);
    const { envFile, statusFile } = await this.#files({});
    const signals = [this.#closing.signal, p.options.signal].filter((s) => s !== undefined);
    const running = runInteractive(
      { argv: p.argv, cwd: p.runDir, envFile, statusFile, insideCwd: this.inside.src, inside: this.inside, what: `job ${p.options.jobId}`, signal: AbortSignal.any(signals) },
      options,
    );
    this.#running.add(running);
    try {
      return await running;
    } finally {
      this.#running.delete(running);
    }
  }

  /** Writes the run's env file and names its status file. */
  #files(env: Readonly<Record<string, string>>): Promise<{ envFile: string; statusFile: string }> {
    return initRunFiles(this.#p.runDir, ++this.#runs, env);
  }


  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const p = this.#p;
    this.#closing.abort();
    await Promise.allSettled(this.#running);
    if (!p.options.keep?.()) {
      for (const m of await liveMountsUnder(p.workDir)) await unmountLazily(m);
      await removeWorkDir(p.workDir);
    } else {
      // A kept workspace must stay removable with a plain rm -rf by its (non-root) owner.
      await chmod(join(p.workDir, 'root', 'work', 'work'), 0o700).catch(() => undefined);
    }
    await removeEntry(p.backend.stateDir, p.id);
  }
}

/**
 * removeTree, for a user without root: overlayfs leaves `root/work/work` with mode 000, and
 * a build may leave directories without permissions, which only root can descend into.
 * When the plain removal fails, directories are made u+rwx (ENOENT-tolerant: an aborted
 * rm may still be finishing branches) and it is tried once more.
 */
async function removeWorkDir(workDir: string): Promise<void> {
  await chmod(join(workDir, 'root', 'work', 'work'), 0o700).catch(() => undefined);
  try {
    await removeTree(workDir);
  } catch {
    await openUp(workDir);
    await removeTree(workDir);
  }
}

async function openUp(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) return;
  if ((st.mode & 0o700) !== 0o700) await chmod(dir, st.mode | 0o700).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await openUp(join(dir, entry.name));
}


