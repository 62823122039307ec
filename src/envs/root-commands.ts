// The commands that make and change env roots: mmdebstrap, the apt upgrade of `env
// update`, copying, sizing and removing a root. Everything that mounts runs under
// `unshare --mount --pid --fork` with private propagation, so its mounts live in a mount
// namespace of its own and vanish with its last process, even when kiln is SIGKILLed;
// killing the namespace's first process ends every process started inside.

import { spawn } from 'node:child_process';
import { KilnError } from '../errors.ts';
import { ENV_ERRORS } from './env-errors.ts';

export type LineSink = (line: string) => void;

export interface StreamOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onLine?: LineSink | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL on abort (default 5000 ms). */
  readonly graceMs?: number;
}

/** Run argv in its own process group, streaming output lines; resolves with the exit code and the last lines. */
export function runStreaming(argv: readonly string[], options: StreamOptions = {}): Promise<{ code: number | null; tail: string[] }> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason);
    const [bin, ...rest] = dieWithKiln([cmd ?? 'false', ...args]);
    const child = spawn(bin!, rest, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: options.env ?? process.env });
    const tail: string[] = [];
    const lineReader = (): ((b: Buffer) => void) => {
      let partial = '';
      return (b: Buffer) => {
        const lines = (partial + b.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const raw of lines) {
          // Progress bars redraw with \r: keep only the final state of the line.
          const line = raw.slice(raw.lastIndexOf('\r') + 1);
          tail.push(line);
          if (tail.length > 20) tail.shift();
          options.onLine?.(line);
        }
      };
    };
    child.stdout.on('data', lineReader());
    child.stderr.on('data', lineReader());
    let escalate: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = (): void => {
      signalGroup('SIGTERM');
      escalate = setTimeout(() => signalGroup('SIGKILL'), options.graceMs ?? 5000);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(new KilnError(ENV_ERRORS.unavailable, `cannot run ${cmd}: ${e.message}`, { hint: `install ${cmd === 'unshare' ? 'util-linux' : cmd}`, cause: e }));
    });
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (escalate !== undefined) clearTimeout(escalate);
      // Whatever the leader left in its group goes too.
      signalGroup('SIGKILL');
      if (options.signal?.aborted) return reject(options.signal.reason);
      // Through setpriv, a command that is not there is its exit status 127 and one line.
      const missing = code === 127 && bin !== cmd ? tail.find((l) => /^setpriv: failed to execute /.test(l)) : undefined;
      if (missing !== undefined) return reject(new KilnError(ENV_ERRORS.unavailable, `cannot run ${cmd}: ${missing.replace(/^setpriv: failed to execute \S+: /, '')}`, { hint: `install ${cmd === 'unshare' ? 'util-linux' : cmd}` }));
      resolve({ code, tail });
    });
  });
}

import { dieWithKiln } from '../lib/die-with-kiln.ts';

/** Prefix that gives argv a private mount and pid namespace; `--kill-child` ends it with unshare. */
export const PRIVATE_NS = ['unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child', '--'] as const;

export interface BootstrapSpec {
  readonly suite: string;
  readonly arch: string;
  readonly mirror: string;
  readonly include: readonly string[];
  readonly variant: string;
  /** The keyring the mirror is signed with (env create --keyring, a Debian run's keyring); default: the host's apt keys. */
  readonly keyring?: string;
  /** false: a Release past its Valid-Until is taken (a snapshot mirror), by mmdebstrap and by the root's own apt after. */
  readonly checkValidUntil?: false;
}

/** Where a root made with a keyring keeps it for its own apt (`env update`): apt's trusted.gpg.d. */
export const ARCHIVE_KEY_DIR = '/etc/apt/trusted.gpg.d';

/**
 * The mmdebstrap command line. With a keyring (`key`: a copy of spec.keyring named
 * kiln-archive.gpg or .asc, as apt reads a key by its name), mmdebstrap's apt checks the
 * mirror with it (--keyring), a setup hook copies it into the root's trusted.gpg.d before
 * `apt update` so that the root's own apt trusts the mirror too, and mmdebstrap's guess of
 * a signed-by from the suite's name (Debian's keyring for `unstable`, say) is skipped.
 */
export function mmdebstrapArgv(spec: BootstrapSpec, root: string, key?: string): string[] {
  const keyName = key?.split('/').pop();
  return [
    'mmdebstrap', `--variant=${spec.variant}`, `--arch=${spec.arch}`,
    ...(spec.include.length > 0 ? [`--include=${spec.include.join(',')}`] : []),
    // mmdebstrap writes it into the root's apt.conf.d too: env update's apt takes the same Release.
    ...(spec.checkValidUntil === false ? ['--aptopt=Acquire::Check-Valid-Until "false"'] : []),
    ...(key === undefined ? [] : [
      `--keyring=${key}`, '--skip=check/signed-by',
      `--setup-hook=mkdir -p "$1${ARCHIVE_KEY_DIR}"`,
      `--setup-hook=upload ${shellWord(key)} ${ARCHIVE_KEY_DIR}/${keyName}`,
    ]),
    spec.suite, root, spec.mirror,
  ];
}

/** A word for a shell (and mmdebstrap's shellwords): single-quoted. */
function shellWord(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * Shell lines that give the root at $r a /proc and a minimal /dev (the usual nodes
 * bind-mounted from the host, a private devpts), for the scripts that run apt in a root
 * (UPGRADE_SCRIPT here, INSTANCE_SCRIPT in instance-layer.ts).
 */
export const CHROOT_PROC_DEV = `mount -t proc proc "$r/proc"
mount -t tmpfs -o mode=755,nosuid dev "$r/dev"
for n in null zero full random urandom tty; do
  : > "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"
done
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"; ln -s /proc/self/fd "$r/dev/fd"
`;

/**
 * The shell script `env update` runs (as `sh -c SCRIPT upgrade ROOT`) inside its private
 * namespaces: a fresh /proc, a minimal /dev on tmpfs (binding the host's /dev would let
 * maintainer scripts change it), the host's resolv.conf, then apt inside the chroot; the
 * package lists are dropped afterwards, as mmdebstrap does, to keep versions small.
 */
export const UPGRADE_SCRIPT = `set -eu
r=$1
${CHROOT_PROC_DEV}mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
mount --bind /etc/resolv.conf "$r/etc/resolv.conf"
exec chroot "$r" /bin/sh -c 'apt-get update && apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade && apt-get clean && rm -rf /var/lib/apt/lists/auxfiles && find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -delete'
`;

export function upgradeArgv(root: string): string[] {
  return [...PRIVATE_NS, '/bin/sh', '-c', UPGRADE_SCRIPT, 'upgrade', root];
}

/** The environment apt runs with inside the root: clean, but proxies pass through. */
export function upgradeEnv(host: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    DEBIAN_FRONTEND: 'noninteractive',
    LC_ALL: 'C.UTF-8',
    HOME: '/root',
  };
  for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']) {
    if (host[k] !== undefined) env[k] = host[k];
  }
  return env;
}

async function runQuiet(argv: readonly string[], what: string, signal?: AbortSignal): Promise<string[]> {
  const r = await runStreaming(argv, { signal });
  if (r.code !== 0) {
    throw new KilnError(ENV_ERRORS.archive, `${what} failed (exit ${r.code}): ${r.tail.slice(-5).join(' | ')}`, { hint: 'check the disk space and permissions of the state directory' });
  }
  return r.tail;
}

/** `cp -a --reflink=auto SRC DST` (DST must not exist): cheap on btrfs/xfs, a full copy elsewhere. */
export async function copyRoot(src: string, dst: string, signal?: AbortSignal): Promise<void> {
  await runQuiet(['cp', '-a', '--reflink=auto', '--', src, dst], `copying ${src} to ${dst}`, signal);
}

/** Bytes used on disk by `dir` (du, one file system, hardlinks once). */
export async function diskUsage(dir: string, signal?: AbortSignal): Promise<number> {
  const tail = await runQuiet(['du', '-sx', '--block-size=1', '--', dir], `measuring ${dir}`, signal);
  const n = Number((tail.find((l) => l.trim() !== '') ?? '').split(/\s/)[0]);
  return Number.isFinite(n) ? n : 0;
}

/**
 * `rm -rf --one-file-system`: never descends into a file system mounted inside the tree
 * (a leaked bind mount of /dev or / must not be emptied); it then fails, and so do we.
 */
export async function removeTree(dir: string, signal?: AbortSignal): Promise<void> {
  await runQuiet(['rm', '-rf', '--one-file-system', '--', dir], `removing ${dir}`, signal);
}
