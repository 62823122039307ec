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

import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_GID, BUILD_UID, INSIDE_ROOT } from '../chroot/scripts.ts';
import { removeTree } from '../host.ts';
import {
  acceptRequest, checkedBinds, commonPaths, InitSandbox, layoutAt, makeSandboxDirs, sandboxId, unavailableError, writeSetupFiles,
} from '../init-sandbox.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import type { Sandbox, SandboxBackend, SandboxOptions } from '../sandbox.ts';
import { findRootlessTools, rootlessUnavailable } from './probe.ts';
import { DEV_NODES, fstabs, runArgv, setupScript, type RootlessPaths } from './scripts.ts';

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

async function createRootlessSandbox(options: SandboxOptions, backend: RootlessBackendOptions): Promise<Sandbox> {
  const { workDir, env } = await acceptRequest(options, 'rootless');
  const why = rootlessUnavailable();
  if (why !== undefined) throw unavailableError('rootless', options.jobId, why);
  const found = findRootlessTools();
  if ('missing' in found) throw new Error('unreachable: tools checked above');
  const binds = checkedBinds(options, workDir, env.layers);
  const id = sandboxId(options.jobId);
  await writeEntry(backend.stateDir, ownEntry({ id, jobId: options.jobId, backend: 'rootless', workDir, cgroup: null }));
  try {
    // Its mount points are made in the upper layer: the env's own directories may be
    // root-owned, which "root" of the user namespace cannot write (their owner is not mapped).
    const dirs = await makeSandboxDirs(workDir);
    for (const n of DEV_NODES) await writeFile(join(dirs.dev, n), '', { mode: 0o666 });
    // The build's uid inside its namespace: the invoking one, except that root is shown as
    // the chroot backend's build user, because uid 0 would keep every capability in the
    // build's own namespace (enough to chroot() out of the overlay root).
    const uid = process.getuid?.() || BUILD_UID;
    const gid = process.getgid?.() || BUILD_GID;
    const fileBinds = await userFiles(env.layers, dirs.upper, dirs.run, { uid, gid });
    const paths: RootlessPaths = { ...commonPaths(dirs, env.layers, binds, id), fileBinds };
    await writeSetupFiles(paths, fstabs(paths), setupScript(found.tools, paths, { uid, gid, limits: options.limits }));
    return new InitSandbox(
      { backend: 'rootless', id, workDir, runDir: dirs.run, argv: runArgv(found.tools, paths), host: layoutAt(dirs.workspace), inside: layoutAt(INSIDE_ROOT), options, stateDir: backend.stateDir, graceMs: backend.graceMs },
      {
        removeWorkDir,
        // A kept workspace must stay removable with a plain rm -rf by its (non-root) owner.
        keepWorkDir: (dir) => chmod(join(dir, 'root', 'work', 'work'), 0o700).catch(() => undefined),
      },
    );
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


