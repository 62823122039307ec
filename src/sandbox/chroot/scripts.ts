// What a chroot run goes through, generated once per sandbox with every host path baked
// in (the environment is the build's own, not kiln's):
//
//   runArgv()  setpriv --pdeathsig KILL --no-new-privs → unshare into new mount, pid, ipc,
//              uts and net namespaces (--kill-child passes kiln's death on to PID 1).
//              no_new_privs does not limit root; it is inherited by the build, whose
//              setuid programs (su, sudo) then cannot raise it back.
//   setup.sh   PID 1 of the new pid namespace: joins the build's cgroup (writes 0, "myself",
//              to every cgroup.procs: nothing of the build can start outside it), mounts the
//              overlay root, /proc, a read-only /sys, a minimal /dev, tmpfs /tmp, the
//              workspace at /kiln and the binds (two `mount -a -T` fstabs), then execs init.
//   init (perl) stays PID 1: brings up loopback (ioctl), forks the build (unshare --root
//              --wd -S -G: chroot, cwd, unprivileged uid/gid without supplementary groups)
//              with exactly the run's environment, reaps orphans until the build's own
//              process ends, writes its exact wait status ("exit N" / "signal N") to a file
//              and exits. PID 1 exiting makes the kernel kill everything else in the
//              namespace (setsid'd daemons included); the mounts go with the namespace.
//
// Every program started costs 2-5 ms here, so the list is kept short: mount points are
// made in the upper layer beforehand, mounts come from fstabs, /dev from one `cp -a`,
// loopback from perl.
//
// Why perl for PID 1: init ignores signals it has no handler for, so the build itself
// cannot be PID 1 (`kill -TERM $$` would do nothing), and a shell as PID 1 cannot tell
// "exited 143" from "killed by SIGTERM". perl-base is essential on Debian, and a few
// lines of it give the exact status. It runs on the host side of the chroot (the build
// root need not have perl); it is root, but the build user cannot reach it: /proc is
// mounted with hidepid=2.

import { existsSync } from 'node:fs';
import { shellQuote } from '../../lib/shell-quote.ts';
import type { HostTools } from './host-tools.ts';


export interface ScriptPaths {
  readonly merged: string;
  readonly upper: string;
  readonly work: string;
  /** Host directory holding src, dest, sysroot, home, tmp; bound at INSIDE_ROOT. */
  readonly workspace: string;
  readonly lowers: readonly string[];
  readonly readOnlyBinds: readonly { readonly host: string; readonly inside: string }[];
  readonly readWriteBinds: readonly { readonly host: string; readonly inside: string }[];
  readonly procsFiles: readonly string[];
  readonly setupFile: string;
  readonly fstabFiles: readonly [string, string];
  readonly overlayName: string;
  /** Host directory with /dev's symlinks and empty mount points, made by devTemplate(). */
  readonly devTemplate: string;
}

/** What devTemplate holds: symlinks (name → target) and directories. */
export const DEV_LINKS: Readonly<Record<string, string>> = {
  fd: '/proc/self/fd',
  stdin: '/proc/self/fd/0',
  stdout: '/proc/self/fd/1',
  stderr: '/proc/self/fd/2',
  ptmx: 'pts/ptmx',
};
export const DEV_DIRS = ['pts', 'shm'] as const;

export const INSIDE_ROOT = '/kiln';
export const BUILD_UID = 64000;
export const BUILD_GID = 64000;
export const LAYOUT_DIRS = ['src', 'dest', 'sysroot', 'home', 'tmp'] as const;

/** POSIX shell single-quoting (lib/shell-quote.ts). */
export const q = shellQuote;

/** Characters that overlayfs mount options or our scripts cannot take in a path. */
export function badPathChars(p: string): boolean {
  return /[,:\\\n\0]/.test(p);
}

/** The argv that starts a run: setup.sh's arguments (env file, status file, cwd, argv…) follow. */
export function runArgv(tools: HostTools, p: ScriptPaths): string[] {
  return [
    tools.setpriv, '--pdeathsig', 'KILL', '--no-new-privs', '--',
    tools.unshare, '--mount', '--pid', '--fork', '--kill-child', '--ipc', '--uts', '--net', '--propagation', 'private', '--',
    tools.sh, p.setupFile,
  ];
}

/** Mount points setup.sh needs in the root; made in the upper layer when the sandbox is made. */
export const MOUNT_POINTS = ['proc', 'sys', 'dev', 'tmp', INSIDE_ROOT.slice(1)] as const;

/** One fstab line; whitespace in fields is octal-escaped as fstab(5) wants. */
function fstabLine(source: string, target: string, type: string, options: string): string {
  const esc = (f: string) => f.replace(/[ \t]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return `${esc(source)} ${esc(target)} ${type} ${esc(options)} 0 0`;
}

/**
 * The mounts of a run, as two fstab files for `mount -a -T` (one program for many mounts):
 * the first makes the root, the second what needs directories made in between (/dev/pts
 * from the /dev template, bind targets made through the overlay).
 */
export function fstabs(p: ScriptPaths): [string, string] {
  const lowerdir = [...p.lowers].reverse().join(':'); // overlayfs lists the topmost first
  const at = (inside: string) => `${p.merged}${inside}`;
  const first = [
    fstabLine(p.overlayName, p.merged, 'overlay', `lowerdir=${lowerdir},upperdir=${p.upper},workdir=${p.work}`),
    fstabLine('proc', at('/proc'), 'proc', 'nosuid,nodev,noexec,hidepid=2'),
    fstabLine('sysfs', at('/sys'), 'sysfs', 'ro,nosuid,nodev,noexec'),
    // No size limits on the tmpfs mounts: their pages are charged to the build's memory cgroup.
    fstabLine('kiln-dev', at('/dev'), 'tmpfs', 'nosuid,noexec,mode=755'),
    fstabLine('kiln-tmp', at('/tmp'), 'tmpfs', 'nosuid,nodev,mode=1777'),
    fstabLine(p.workspace, at(INSIDE_ROOT), 'none', 'bind,nosuid,nodev'),
  ];
  const second = [
    fstabLine('kiln-pts', at('/dev/pts'), 'devpts', 'newinstance,ptmxmode=0666,mode=0620,nosuid,noexec'),
    // Kernel settings under /proc are checked by file mode only: a root run (installing
    // build dependencies) must not reach core_pattern, modprobe, sysrq and the like.
    ...PROC_READ_ONLY.map((d) => fstabLine(at(d), at(d), 'none', 'bind,ro,nosuid,nodev,noexec')),
    ...p.readOnlyBinds.map((b) => fstabLine(b.host, at(b.inside), 'none', 'bind,ro,nosuid,nodev')),
    ...p.readWriteBinds.map((b) => fstabLine(b.host, at(b.inside), 'none', 'bind,nosuid,nodev')),
  ];
  return [`${first.join('\n')}\n`, `${second.join('\n')}\n`];
}

export function setupScript(tools: HostTools, p: ScriptPaths): string {
  const m = (inside: string) => `"$M"${q(inside)}`;
  const inside = [...p.readOnlyBinds, ...p.readWriteBinds].map((b) => b.inside);
  return [
    'set -eu',
    ...p.procsFiles.map((f) => `echo 0 > ${q(f)}`),
    `M=${q(p.merged)}`,
    // PID 1 must not be the one the OOM killer picks: it is lowered here and the build raised
    // to 1000 in init, its first victim. Lowering is best effort (a kernel may refuse a negative
    // value, as in a user namespace); raising always works, so the build goes first either way.
    '{ echo -1000 > /proc/self/oom_score_adj; } 2>/dev/null || true',
    `${q(tools.mount)} -a -T ${q(p.fstabFiles[0])}`,
    // Device nodes from the host's /dev, links and mount points from the template.
    `${q(tools.cp)} -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty ${q(`${p.devTemplate}/.`)} "$M/dev/"`,
    // Bind targets may lie under symlinks of the root, so they are made through the overlay.
    ...(inside.length === 0 ? [] : [`${q(tools.mkdir)} -p ${inside.map(m).join(' ')}`]),
    `${q(tools.mount)} -a -T ${q(p.fstabFiles[1])}`,
    `${q(tools.chown)} -R ${BUILD_UID}:${BUILD_GID} ${LAYOUT_DIRS.map((d) => q(`${p.workspace}/${d}`)).join(' ')}`,
    'echo kiln > /proc/sys/kernel/hostname',
    `exec ${q(tools.perl)} -e ${q(initProgram(tools, p.merged))} -- "$@"`,
    '',
  ].join('\n');
}

/**
 * Capabilities a `user: 'root'` run keeps (installing build dependencies: dpkg, apt and
 * maintainer scripts). Everything that could leave the overlay root or reach the host is
 * gone from the bounding set: no chroot, mount, ptrace, open_by_handle_at, mknod,
 * modules, raw I/O, network admin.
 */
export const ROOT_RUN_CAPS = ['chown', 'dac_override', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'audit_write'] as const;

/**
 * Parts of /proc made read-only in every run (host kernel settings writable by uid 0);
 * those this kernel has (a run's /proc is a new instance of the host's).
 */
export const PROC_READ_ONLY: readonly string[] = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'].filter((d) => existsSync(d));

/** The program a root run starts in the root before its command (from util-linux, essential on Debian). */
export const ROOT_RUN_SETPRIV = '/usr/bin/setpriv';

/** setpriv arguments (inside the root) that confine a root run to ROOT_RUN_CAPS. */
export function rootRunPrefix(): string[] {
  const caps = ROOT_RUN_CAPS.map((c) => `+${c}`).join(',');
  return [ROOT_RUN_SETPRIV, `--bounding-set=-all,${caps}`, '--inh-caps=-all', '--'];
}

/** A perl string literal of `s` (single-quoted). */
export const perlLit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The sandbox's init program (perl), the same for every backend but for `child`: the perl
 * code the forked child runs to exec the build (it starts with %ENV set). Init brings up
 * the loopback, reads the env file, forks, reaps every process until the build's own
 * exit, and writes its exact wait status to the status file.
 * Arguments: env file (NUL-separated K=V), status file, inside cwd, user (`build` or `root`), argv….
 */
export function initPerl(child: string): string {
  // No `use POSIX` or `use Socket`: loading them costs more than the rest of init.
  // SIOCSIFFLAGS (0x8914) with IFF_UP|IFF_LOOPBACK on a struct ifreq (40 bytes); AF_INET
  // and SOCK_DGRAM are 2 on every Linux architecture kiln runs on.
  return `use strict; use warnings; no warnings 'exec';
# Only 0, 1 and 2 reach the build: a descriptor kiln inherited (a CI runner's pipe, a shell's
# \`300</\`) would be a way out of its root.
if (opendir(my $fdd, '/proc/self/fd')) { my @fds = grep { /^\\d+$/ && $_ > 2 } readdir $fdd; closedir $fdd;
  for my $fd (@fds) { if (open(my $h, '<&=', $fd)) { close $h; } } }
if (socket(my $s, 2, 2, 0)) { my $ifr = pack('a16 s x22', 'lo', 0x9); ioctl($s, 0x8914, $ifr) or print STDERR "kiln: loopback: $!\\n"; close $s; }
my ($envFile, $statusFile, $cwd, $user, @cmd) = @ARGV;
open(my $fh, '<', $envFile) or die "kiln: cannot read $envFile: $!\\n";
my $text = do { local $/; <$fh> }; close $fh;
my %env = map { my ($k, $v) = split /=/, $_, 2; ($k, defined $v ? $v : '') } grep { length } split /\\0/, $text;
my $pid = fork();
die "kiln: fork: $!\\n" unless defined $pid;
if ($pid == 0) {
${child}  print STDERR "kiln: cannot start the build: $!\\n"; exit 127;
}
my $status;
while ((my $w = waitpid(-1, 0)) > 0) { if ($w == $pid) { $status = $?; last; } }
$status = 255 << 8 unless defined $status;
my $sig = $status & 127;
if (open(my $out, '>', $statusFile)) { print $out ($sig ? "signal $sig" : 'exit ' . ($status >> 8)), "\\n"; close $out; }
exit($sig ? 128 + $sig : $status >> 8);
`;
}

/** The chroot backend's init: the child enters the overlay root with unshare, as the build user or root. */
export function initProgram(tools: HostTools, merged: string): string {
  return initPerl(`  if (open(my $adj, '>', '/proc/self/oom_score_adj')) { print $adj "1000"; close $adj; }
  %ENV = %env;
  my @as = $user eq 'root' ? ('--', ${rootRunPrefix().map(perlLit).join(', ')}) : ('-S', '${BUILD_UID}', '-G', '${BUILD_GID}', '--');
  exec { ${perlLit(tools.unshare)} } ${perlLit(tools.unshare)}, '--root=' . ${perlLit(merged)}, "--wd=$cwd", @as, @cmd;
`);
}

/** The status file init writes: the build's exact wait status. */
export function parseStatus(text: string): { exitCode: number | null; signal: number | null } | undefined {
  const m = /^(exit|signal) (\d+)\s*$/.exec(text);
  if (m === null) return undefined;
  return m[1] === 'exit' ? { exitCode: Number(m[2]), signal: null } : { exitCode: null, signal: Number(m[2]) };
}
