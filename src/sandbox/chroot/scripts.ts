// The three small programs a chroot run goes through, generated once per sandbox with
// every host path baked in (their environment is the build's, not kiln's):
//
//   enter.sh   host namespaces: joins the build's cgroup (writes its own pid to every
//              cgroup.procs), then execs unshare into new mount/pid/ipc/uts/net namespaces.
//   setup.sh   PID 1 of the new pid namespace, private mount namespace: mounts the overlay
//              root, /proc, a read-only /sys, a minimal /dev, tmpfs /tmp, the workspace at
//              /kiln and the binds, brings up loopback, then execs init.
//   init (perl) stays PID 1: forks the build (setpriv --no-new-privs → unshare --root --wd
//              -S -G: chroot, cwd, unprivileged uid/gid without supplementary groups) with
//              exactly the run's environment, reaps orphans until the build's own process
//              ends, writes its exact wait status ("exit N" / "signal N") to a file and exits.
//              PID 1 exiting makes the kernel kill everything else in the namespace
//              (setsid'd daemons included) and the mounts go with the namespace.
//
// Why perl for PID 1: init ignores signals it has no handler for, so the build itself
// cannot be PID 1 (`kill -TERM $$` would do nothing), and a shell as PID 1 cannot tell
// "exited 143" from "killed by SIGTERM". perl-base is essential on Debian, and a few
// lines of it give the exact status. It runs on the host side of the chroot (the build
// root need not have perl); it is root, but the build user cannot reach it: /proc is
// mounted with hidepid=2.

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

/** POSIX shell single-quoting. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Characters that overlayfs mount options or our scripts cannot take in a path. */
export function badPathChars(p: string): boolean {
  return /[,:\\\n\0]/.test(p);
}

export function enterScript(tools: HostTools, p: ScriptPaths): string {
  return [
    'set -eu',
    ...p.procsFiles.map((f) => `echo $$ > ${q(f)}`),
    `exec ${q(tools.unshare)} --mount --pid --fork --kill-child --ipc --uts --net --propagation private -- ${q(tools.sh)} ${q(p.setupFile)} "$@"`,
    '',
  ].join('\n');
}

export function setupScript(tools: HostTools, p: ScriptPaths): string {
  const m = (inside: string) => `"$M"${q(inside)}`;
  const lowerdir = [...p.lowers].reverse().join(':'); // overlayfs lists the topmost first
  const binds = [
    ...p.readOnlyBinds.map((b) => ({ ...b, opts: 'ro,nosuid,nodev' })),
    ...p.readWriteBinds.map((b) => ({ ...b, opts: 'nosuid,nodev' })),
  ];
  const mount = q(tools.mount);
  return [
    'set -eu',
    `M=${q(p.merged)}`,
    // PID 1 must not be the one the OOM killer picks; the build gets 0 back in init.
    // Best effort: some kernels (VMs, gVisor) refuse negative values.
    '{ echo -1000 > /proc/self/oom_score_adj; } 2>/dev/null || true',
    `${mount} -t overlay ${q(p.overlayName)} -o ${q(`lowerdir=${lowerdir},upperdir=${p.upper},workdir=${p.work}`)} "$M"`,
    `${q(tools.mkdir)} -p "$M/proc" "$M/sys" "$M/dev" "$M/tmp" ${m(INSIDE_ROOT)} ${binds.map((b) => m(b.inside)).join(' ')}`,
    `${mount} -t proc -o nosuid,nodev,noexec,hidepid=2 proc "$M/proc"`,
    `${mount} -t sysfs -o ro,nosuid,nodev,noexec sysfs "$M/sys"`,
    `${mount} -t tmpfs -o nosuid,noexec,mode=755,size=256k kiln-dev "$M/dev"`,
    // Device nodes from the host's /dev, links and mount points from the template (devTemplate()).
    `${q(tools.cp)} -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty ${q(`${p.devTemplate}/.`)} "$M/dev/"`,
    `${mount} -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec kiln-pts "$M/dev/pts"`,
    `${mount} -t tmpfs -o nosuid,nodev,mode=1777 kiln-shm "$M/dev/shm"`,
    `${mount} -t tmpfs -o nosuid,nodev,mode=1777 kiln-tmp "$M/tmp"`,
    `${q(tools.chown)} -R ${BUILD_UID}:${BUILD_GID} ${LAYOUT_DIRS.map((d) => q(`${p.workspace}/${d}`)).join(' ')}`,
    `${mount} --bind -o nosuid,nodev ${q(p.workspace)} ${m(INSIDE_ROOT)}`,
    ...binds.map((b) => `${mount} --bind -o ${b.opts} ${q(b.host)} ${m(b.inside)}`),
    'echo kiln > /proc/sys/kernel/hostname',
    ...(tools.ip === undefined ? [] : [`${q(tools.ip)} link set lo up`]),
    `exec ${q(tools.perl)} -e ${q(initProgram(tools, p.merged))} -- "$@"`,
    '',
  ].join('\n');
}

/** Arguments: env file (NUL-separated K=V), status file, inside cwd, argv…. */
export function initProgram(tools: HostTools, merged: string): string {
  const lit = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `use strict; use warnings; no warnings 'exec'; use POSIX ();
my ($envFile, $statusFile, $cwd, @cmd) = @ARGV;
open(my $fh, '<', $envFile) or die "kiln: cannot read $envFile: $!\\n";
my $text = do { local $/; <$fh> }; close $fh;
my %env = map { my ($k, $v) = split /=/, $_, 2; ($k, defined $v ? $v : '') } grep { length } split /\\0/, $text;
my $pid = fork();
die "kiln: fork: $!\\n" unless defined $pid;
if ($pid == 0) {
  if (open(my $adj, '>', '/proc/self/oom_score_adj')) { print $adj "0"; close $adj; }
  %ENV = %env;
  exec { ${lit(tools.setpriv)} } ${lit(tools.setpriv)}, '--no-new-privs', '--', ${lit(tools.unshare)}, '--root=' . ${lit(merged)}, "--wd=$cwd", '-S', '${BUILD_UID}', '-G', '${BUILD_GID}', '--', @cmd;
  print STDERR "kiln: cannot start the build: $!\\n"; POSIX::_exit(127);
}
my $status;
while ((my $w = waitpid(-1, 0)) > 0) { if ($w == $pid) { $status = $?; last; } }
$status = 255 << 8 unless defined $status;
my $sig = $status & 127;
if (open(my $out, '>', $statusFile)) { print $out ($sig ? "signal $sig" : 'exit ' . ($status >> 8)), "\\n"; close $out; }
POSIX::_exit($sig ? 128 + $sig : $status >> 8);
`;
}

/** The status file init writes: the build's exact wait status. */
export function parseStatus(text: string): { exitCode: number | null; signal: number | null } | undefined {
  const m = /^(exit|signal) (\d+)\s*$/.exec(text);
  if (m === null) return undefined;
  return m[1] === 'exit' ? { exitCode: Number(m[2]), signal: null } : { exitCode: null, signal: Number(m[2]) };
}
