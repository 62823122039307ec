// What a rootless run goes through, generated once per sandbox with every host path baked
// in. The same shape as the chroot backend's (see ../chroot/scripts.ts), with a user
// namespace in front and no cgroup:
//
//   runArgv()  setpriv --pdeathsig KILL --no-new-privs → unshare into a new user namespace
//              (the invoking uid mapped to 0: "root" that owns nothing of the host) with new
//              mount, pid, ipc, uts and net namespaces; --kill-child passes kiln's death on.
//   setup.sh   PID 1: mounts the sandbox's one tmpfs (see Limits) at `run/tmpfs`, the overlay
//              root over the env layers (kernel overlayfs in a user namespace, Linux ≥ 5.11),
//              /proc, a read-only /sys, /dev from a template with the host's null, zero, full,
//              random, urandom and tty bound in, a new devpts, /tmp and /dev/shm (two
//              directories of that tmpfs), the workspace at /kiln and the binds (two fstabs
//              for `mount -a -T`), names the host `kiln`, then execs init.
//   init (perl) stays PID 1 (as in chroot: exact wait status, reaps orphans, brings up
//              loopback) and forks the build through
//              `prlimit … unshare --user --mount --map-user=UID --map-group=GID --root --wd`:
//              a second, nested user namespace in which the build is the invoking user's own
//              uid with no capabilities, chrooted into the overlay. Being in a child user
//              namespace, the build cannot ptrace or read /proc/1/root of init (which holds
//              capabilities in the outer one), and a chrooted process may not create user
//              namespaces, so the classic chroot escapes are closed.
//
// Why not bubblewrap: Debian 12's bwrap (0.8.0) has no --overlay-src/--tmp-overlay, and
// bwrap reports a child killed by signal N as exit status 128+N, so `exit 143` and a
// SIGTERM could not be told apart; util-linux + perl-base are on every Debian host anyway.
//
// Limits: without a cgroup, memory and pids are rlimits on the build, much weaker than the
// chroot backend's cgroup (what `kiln doctor` and docs/operations.md say: limits.ts):
//   memory     RLIMIT_DATA of each process, not of the build as a whole; a process past it
//              gets ENOMEM and the build fails as it fails (perl's "Out of memory!", status
//              12), not as out-of-memory: nothing tells the two apart reliably.
//   tmpfs      /tmp and /dev/shm are two directories of ONE tmpfs of size= the build's
//              memory: together they hold at most that much (beside what the processes use).
//   processes  RLIMIT_NPROC, counted per user namespace since Linux 5.14, i.e. per run. The
//              kernel exempts processes whose real uid is the host's root: when kiln runs as
//              root the build's uid (64000 inside) is root outside, and there is no limit.
//   cpu        no quota ($JOBS is only a hint).

import { INSIDE_ROOT, initPerl, perlLit, q, rootRunPrefix } from '../chroot/scripts.ts';
import { DEFAULT_PIDS } from '../cgroups/values.ts';
import type { SandboxLimits } from '../sandbox.ts';

export interface RootlessTools {
  readonly sh: string;
  readonly unshare: string;
  readonly setpriv: string;
  readonly mount: string;
  readonly mkdir: string;
  readonly perl: string;
  readonly prlimit: string;
  /** Optional (Debian package hostname): without it the sandbox keeps the host's name. */
  readonly hostname?: string;
}

export interface RootlessPaths {
  readonly merged: string;
  readonly upper: string;
  readonly work: string;
  readonly workspace: string;
  readonly lowers: readonly string[];
  readonly devTemplate: string;
  readonly readOnlyBinds: readonly { readonly host: string; readonly inside: string }[];
  readonly readWriteBinds: readonly { readonly host: string; readonly inside: string }[];
  /** Generated files bound read-only over files of the root (e.g. /etc/passwd). */
  readonly fileBinds: readonly { readonly host: string; readonly inside: string }[];
  /** Host path where setup.sh mounts the sandbox's tmpfs (only in its mount namespace): /tmp and /dev/shm are directories of it. */
  readonly tmpfs: string;
  readonly setupFile: string;
  readonly fstabFiles: readonly [string, string];
  readonly overlayName: string;
}

/** Device nodes bound from the host's /dev (mknod is not allowed in a user namespace). */
export const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

/** The argv that starts a run: setup.sh's arguments (env file, status file, cwd, argv…) follow. */
export function runArgv(tools: RootlessTools, p: RootlessPaths): string[] {
  return [
    tools.setpriv, '--pdeathsig', 'KILL', '--no-new-privs', '--',
    tools.unshare, '--user', '--map-root-user', '--mount', '--pid', '--fork', '--kill-child', '--ipc', '--uts', '--net',
    '--propagation', 'private', '--',
    tools.sh, p.setupFile,
  ];
}

function fstabLine(source: string, target: string, type: string, options: string): string {
  const esc = (f: string) => f.replace(/[ \t]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return `${esc(source)} ${esc(target)} ${type} ${esc(options)} 0 0`;
}

export function fstabs(p: RootlessPaths): [string, string] {
  const lowerdir = [...p.lowers].reverse().join(':');
  const at = (inside: string) => `${p.merged}${inside}`;
  const first = [
    // userxattr: overlayfs keeps its metadata in user.* xattrs, the only ones a user namespace may set.
    fstabLine(p.overlayName, p.merged, 'overlay', `lowerdir=${lowerdir},upperdir=${p.upper},workdir=${p.work},userxattr`),
    fstabLine('proc', at('/proc'), 'proc', 'nosuid,nodev,noexec'),
    fstabLine('sysfs', at('/sys'), 'sysfs', 'ro,nosuid,nodev,noexec'),
    fstabLine(p.devTemplate, at('/dev'), 'none', 'bind,ro,nosuid,noexec'),
    fstabLine(`${p.tmpfs}/tmp`, at('/tmp'), 'none', 'bind,nosuid,nodev'),
    fstabLine(p.workspace, at(INSIDE_ROOT), 'none', 'bind,nosuid,nodev'),
  ];
  const second = [
    ...DEV_NODES.map((n) => fstabLine(`/dev/${n}`, at(`/dev/${n}`), 'none', 'bind,nosuid,noexec')),
    fstabLine('kiln-pts', at('/dev/pts'), 'devpts', 'newinstance,ptmxmode=0666,mode=0620,nosuid,noexec'),
    fstabLine(`${p.tmpfs}/shm`, at('/dev/shm'), 'none', 'bind,nosuid,nodev,noexec'),
    ...p.fileBinds.map((b) => fstabLine(b.host, at(b.inside), 'none', 'bind,ro,nosuid,nodev')),
    ...p.readOnlyBinds.map((b) => fstabLine(b.host, at(b.inside), 'none', 'bind,ro,nosuid,nodev')),
    ...p.readWriteBinds.map((b) => fstabLine(b.host, at(b.inside), 'none', 'bind,nosuid,nodev')),
  ];
  return [`${first.join('\n')}\n`, `${second.join('\n')}\n`];
}

/** `limits` undefined: none (a `kiln shell` in a kept root has no build limits). */
export function setupScript(tools: RootlessTools, p: RootlessPaths, build: { uid: number; gid: number; limits: SandboxLimits | undefined }): string {
  const m = (inside: string) => `"$M"${q(inside)}`;
  const inside = [...p.readOnlyBinds, ...p.readWriteBinds].map((b) => b.inside);
  return [
    'set -eu',
    `M=${q(p.merged)}`,
    // First, outside the root: /tmp and /dev/shm share this tmpfs and its size.
    `${q(tools.mkdir)} -p ${q(p.tmpfs)}`,
    `${q(tools.mount)} -t tmpfs -o ${q(tmpfsOptions(build.limits))} kiln-tmp ${q(p.tmpfs)}`,
    `${q(tools.mkdir)} -m 1777 ${q(`${p.tmpfs}/tmp`)} ${q(`${p.tmpfs}/shm`)}`,
    `${q(tools.mount)} -a -T ${q(p.fstabFiles[0])}`,
    // Made through the overlay: a target may lie under a symlink of the root.
    ...(inside.length === 0 ? [] : [`${q(tools.mkdir)} -p ${inside.map(m).join(' ')}`]),
    `${q(tools.mount)} -a -T ${q(p.fstabFiles[1])}`,
    ...(tools.hostname === undefined ? [] : [`${q(tools.hostname)} kiln`]),
    `exec ${q(tools.perl)} -e ${q(initProgram(tools, p.merged, build))} -- "$@"`,
    '',
  ].join('\n');
}

/**
 * The mount options of the sandbox's tmpfs (/tmp and /dev/shm): its size is the build's
 * memory, the most both may hold together; without limits (a `kiln shell`), the kernel's
 * default (half the RAM).
 */
export function tmpfsOptions(limits: SandboxLimits | undefined): string {
  return `nosuid,nodev,mode=0700${limits === undefined ? '' : `,size=${limits.memoryBytes}`}`;
}

/**
 * The rlimit options of prlimit(1) for the build; cpus cannot be expressed as an rlimit.
 * Processes: the limits' pids, else the chroot backend's default (DEFAULT_PIDS: a build's
 * limits carry none, and without it the rootless sandbox had no process limit at all).
 * None without limits.
 */
export function rlimitArgs(limits: SandboxLimits | undefined): string[] {
  if (limits === undefined) return [];
  return [`--data=${limits.memoryBytes}`, `--nproc=${limits.pids ?? DEFAULT_PIDS}`];
}

/** The rootless backend's init: the child enters the overlay root in a user namespace (mapped to the build user or root) under prlimit. */
export function initProgram(tools: RootlessTools, merged: string, build: { uid: number; gid: number; limits: SandboxLimits | undefined }): string {
  const prefix = (user: string[]) => [
    tools.prlimit, ...rlimitArgs(build.limits), '--',
    tools.unshare, '--user', '--mount', ...user, `--root=${merged}`,
  ].map(perlLit).join(', ');
  return initPerl(`  %ENV = %env;
  if ($user eq 'root') { exec { ${perlLit(tools.prlimit)} } ${prefix(['--map-root-user'])}, "--wd=$cwd", '--', ${rootRunPrefix().map(perlLit).join(', ')}, @cmd; }
  else { exec { ${perlLit(tools.prlimit)} } ${prefix([`--map-user=${build.uid}`, `--map-group=${build.gid}`])}, "--wd=$cwd", '--', @cmd; }
`);
}
