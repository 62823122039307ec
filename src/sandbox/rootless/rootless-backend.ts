// The `rootless` sandbox backend: the chroot backend's isolation for a user without root.
// Each build gets its own overlay root over the env's read-only layers and new mount,
// PID, IPC, UTS and network namespaces, all owned by a user namespace in which the
// invoking user is mapped to root (see scripts.ts for the run's steps). The build itself
// runs as the invoking user's own uid (64000 when that is root), in a nested user
// namespace, with no capabilities.
//
// Differences from chroot, said plainly by the guarantees: no cgroup, so memory and pids
// are per-process / per-namespace rlimits (none for processes when kiln runs as root), the
// cpu quota is not enforced, and /tmp with /dev/shm is one tmpfs of the build's memory
// (scripts.ts, limits.ts: what `kiln doctor` says); the backend does not claim
// 'resource-limits', and rusage comes from GNU time over the whole tree.
// Files of the env owned by uids that are not mapped (root-owned envs made by root) show
// as nobody/nogroup and cannot be written (as for chroot's build user).
//
// A user without root has one uid: the user namespace maps it alone, so every file of a
// root the user made (and the overlay's upper layer) belongs to the build's own uid. Two
// things follow. apt, run as root, cannot switch to its `_apt` user (no such uid in the
// namespace): the root gets an apt.conf.d file that keeps apt's downloads as root
// (APT_CONFIG_FILE). And the build owns `/`: the upper layer's top directory (which is
// `/` of the overlay) is made r-x, so that the build cannot make directories at the top
// of the root, e.g. the nonexistent HOME of a Debian build (root of the sandbox still can).
// The build user's passwd home is the HOME of the run (see ../chroot/build-user.ts).
//
// Host side of a sandbox, `<workDir>/`:
//   kiln/{src,dest,sysroot,home,tmp}   the workspace, bound at /kiln inside (the layout)
//   root/{upper,work,merged,dev}       overlay upper + work dir, mount point, /dev template
//   run/                               generated scripts, passwd/group, per-run env and status
// Nothing is mounted in kiln's own mount namespace; a journal entry (no cgroup) lets the
// reaper remove a workspace a dead kiln left behind.

import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_BUILD_HOME, passwdHome, withBuildUser } from '../chroot/build-user.ts';
import { BUILD_GID, BUILD_UID, INSIDE_ROOT } from '../chroot/scripts.ts';
import { removeTree } from '../host.ts';
import {
  acceptRequest, checkedBinds, commonPaths, InitSandbox, layoutAt, makeSandboxDirs, sandboxId, unavailableError, writeSetupFiles,
} from '../init-sandbox.ts';
import { ownEntry, removeEntry, writeEntry } from '../journal.ts';
import type { RunResult, RunSpec, Sandbox, SandboxBackend, SandboxOptions } from '../sandbox.ts';
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
    const users = await userFiles(env.layers, dirs.upper, dirs.run, { uid, gid });
    await aptConfig(env.layers, dirs.upper);
    const paths: RootlessPaths = { ...commonPaths(dirs, env.layers, binds, id), fileBinds: users.binds, tmpfs: join(dirs.run, 'tmpfs') };
    await writeSetupFiles(paths, fstabs(paths), setupScript(found.tools, paths, { uid, gid, limits: options.limits }));
    // Last: kiln writes nothing more into the upper layer from here (removeWorkDir opens it again).
    await chmod(dirs.upper, 0o555);
    return new RootlessSandbox(
      users.passwd,
      { backend: 'rootless', id, workDir, runDir: dirs.run, argv: runArgv(found.tools, paths), host: layoutAt(dirs.workspace), inside: layoutAt(INSIDE_ROOT), options, stateDir: backend.stateDir, graceMs: backend.graceMs },
      {
        removeWorkDir,
        // A kept workspace must stay removable with a plain rm -rf by its (non-root) owner.
        keepWorkDir: (dir) => openTops(dir),
      },
    );
  } catch (e) {
    await removeWorkDir(workDir).catch(() => undefined);
    await removeEntry(backend.stateDir, id);
    throw e;
  }
}

/**
 * The rootless sandbox: InitSandbox, plus the build user's passwd home set to the HOME of
 * each run as the build user (the file is kiln's own: bound over the env's /etc/passwd).
 */
class RootlessSandbox extends InitSandbox {
  readonly #passwd: PasswdFile | undefined;
  #home = DEFAULT_BUILD_HOME;

  constructor(passwd: PasswdFile | undefined, ...rest: ConstructorParameters<typeof InitSandbox>) {
    super(...rest);
    this.#passwd = passwd;
  }

  override async run(spec: RunSpec): Promise<RunResult> {
    const home = passwdHome(spec.env.HOME);
    if (this.#passwd !== undefined && spec.user !== 'root' && home !== this.#home) {
      this.assertLive();
      const text = withBuildUser(this.#passwd.env, this.#passwd.ids, home);
      // Rewritten in place: the bind mount holds the inode.
      if (text !== undefined) await writeFile(this.#passwd.file, text);
      this.#home = home;
    }
    return super.run(spec);
  }
}

/** kiln's /etc/passwd of a sandbox: the host file, the env's own text, and the build user's ids. */
export interface PasswdFile {
  readonly file: string;
  readonly env: string | undefined;
  readonly ids: { uid: number; gid: number };
}

/**
 * The build runs as the invoking uid, which needs a name (whoami, id -un, git): passwd and
 * group with a `kiln` entry for it, bound read-only over the env's (so /etc stays the env's,
 * not the user's), or put in the upper layer when the env has none. The passwd file is
 * returned when it is kiln's (its home then follows the runs' HOME).
 */
export async function userFiles(layers: readonly string[], upper: string, runDir: string, ids: { uid: number; gid: number }): Promise<{ binds: { host: string; inside: string }[]; passwd?: PasswdFile }> {
  const binds: { host: string; inside: string }[] = [];
  let passwd: PasswdFile | undefined;
  const files = [
    { rel: 'etc/passwd', field: String(ids.uid), add: (text: string | undefined) => withBuildUser(text, ids, DEFAULT_BUILD_HOME) },
    { rel: 'etc/group', field: String(ids.gid), add: (text: string | undefined) => `${[...(text ?? 'root:x:0:\n').split('\n').filter((l) => l !== ''), `kiln:x:${ids.gid}:`].join('\n')}\n` },
  ];
  for (const f of files) {
    const text = await topmost(layers, f.rel);
    if (text !== undefined && text.split('\n').some((l) => l.split(':')[2] === f.field)) continue;
    const content = f.add(text)!;
    const host = text === undefined ? join(upper, f.rel) : join(runDir, f.rel.replace('/', '-'));
    if (text === undefined) await mkdir(join(upper, 'etc'), { recursive: true, mode: 0o755 });
    await writeFile(host, content, { mode: 0o644 });
    if (text !== undefined) binds.push({ host, inside: `/${f.rel}` });
    if (f.rel === 'etc/passwd') passwd = { file: host, env: text, ids };
  }
  return passwd === undefined ? { binds } : { binds, passwd };
}

/** The file of the topmost layer that has it, as the overlay shows it. */
async function topmost(layers: readonly string[], rel: string): Promise<string | undefined> {
  for (const layer of [...layers].reverse()) {
    const text = await readFile(join(layer, rel), 'utf8').catch(() => undefined);
    if (text !== undefined) return text;
  }
  return undefined;
}

/** The apt.conf.d file a rootless sandbox adds to a root that has apt. */
export const APT_CONFIG_FILE = 'etc/apt/apt.conf.d/00kiln-rootless';
export const APT_CONFIG = [
  '// kiln\'s rootless sandbox: its user namespace has one uid, so apt cannot switch to _apt',
  '// for downloads (setgroups/seteuid fail); it keeps them as root, which owns nothing outside.',
  'APT::Sandbox::User "root";',
  '',
].join('\n');

async function aptConfig(layers: readonly string[], upper: string): Promise<void> {
  const has = await Promise.all(layers.map((l) => stat(join(l, dirname(APT_CONFIG_FILE))).then((s) => s.isDirectory(), () => false)));
  if (!has.includes(true)) return;
  await mkdir(join(upper, dirname(APT_CONFIG_FILE)), { recursive: true, mode: 0o755 });
  await writeFile(join(upper, APT_CONFIG_FILE), APT_CONFIG, { mode: 0o644 });
}

/** A kept workspace must stay removable with a plain rm -rf by its (non-root) owner. */
export async function openTops(workDir: string): Promise<void> {
  await chmod(join(workDir, 'root', 'work', 'work'), 0o700).catch(() => undefined);
  await chmod(join(workDir, 'root', 'upper'), 0o755).catch(() => undefined);
}

/**
 * removeTree, for a user without root: overlayfs leaves `root/work/work` with mode 000, and
 * a build may leave directories without permissions, which only root can descend into.
 * When the plain removal fails, directories are made u+rwx (ENOENT-tolerant: an aborted
 * rm may still be finishing branches) and it is tried once more.
 */
async function removeWorkDir(workDir: string): Promise<void> {
  await openTops(workDir);
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


