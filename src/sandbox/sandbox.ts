// The Sandbox seam: where a build's commands run. Backends: `host` (no isolation, no
// root; for development and tests), later `chroot` (overlayfs + namespaces + cgroups)
// and `rootless` (user namespaces). Every backend passes one contract suite.

import type { Rusage } from '../plan/job.ts';

/** Isolation properties a backend may guarantee; the contract suite checks each one it claims. */
export type Guarantee =
  | 'fresh-workspace'
  | 'process-tree-killed'
  | 'clean-environment'
  | 'private-root'
  | 'no-network'
  | 'resource-limits';

export interface SandboxLimits {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly pids?: number;
}

/** Directories of one build, as seen from the host and from inside the sandbox. */
export interface SandboxLayout {
  readonly src: string;
  readonly dest: string;
  readonly sysroot: string;
  readonly home: string;
  readonly tmp: string;
}

export interface RunSpec {
  readonly argv: readonly string[];
  /** Working directory, an inside path. */
  readonly cwd: string;
  /** The complete environment (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>;
  readonly onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Wall-clock limit for this command. */
  readonly timeoutMs?: number;
  /** Kill the command when it prints nothing for this long. */
  readonly silentTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Who runs the command: the unprivileged build user (default), or `root` for installing
   * build dependencies (isolated backends: root of the sandbox with a reduced capability
   * set that cannot leave its root; the host backend runs everything as kiln's own user).
   */
  readonly user?: 'build' | 'root';
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Set when kiln ended the command, or the kernel did for a limit. */
  readonly killedFor?: 'timeout' | 'silent' | 'cancelled' | 'out-of-memory' | 'pids-limit';
  readonly rusage?: Rusage;
  /**
   * How many processes of the run the kernel killed for memory (cgroup backends: the group's
   * OOM-kill count; present only when some were): a build can survive such a kill (a
   * background job, `cmd || true`) and still exit 0, its work half done.
   */
  readonly oomKills?: number;
  readonly durationMs: number;
  /**
   * Set when kiln's own side failed while the command ran (its process helper died): the
   * command did not fail by itself, and running it again may well succeed.
   */
  readonly infraError?: string;
}

export interface Sandbox extends AsyncDisposable {
  /** Host paths of the build's directories (to stage into and collect from). */
  readonly host: SandboxLayout;
  /** The same directories as the build sees them. */
  readonly inside: SandboxLayout;
  run(spec: RunSpec): Promise<RunResult>;
  /**
   * Optional: run a command (default: a shell) with kiln's own stdin, stdout and stderr
   * (a terminal, for `kiln env shell`), in the src dir, without time limits; resolves to
   * its exit status (128+N when killed by signal N).
   */
  shell?(options: ShellOptions): Promise<number>;
  /**
   * Optional (chroot): copy what the runs so far changed in the root (the overlay's upper
   * layer, whiteouts included) to `dest`, a new directory, to be used later as a read-only
   * layer over the same env (Debian builds cache their installed build dependencies so).
   */
  captureRoot?(dest: string): Promise<void>;
  /**
   * Optional (host): true when the runs left the dest directory exactly as it was made,
   * empty, told without listing it. false says nothing: the caller lists it.
   */
  destUntouched?(): boolean;
}

export interface ShellOptions {
  /** Default: bash if the root has it, else sh. */
  readonly argv?: readonly string[];
  /** The complete environment (default: PATH, HOME, TMPDIR, TERM, USER, LANG). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The base environment a sandbox is made from: read-only root layers, lowest first. */
export interface SandboxEnv {
  /** Environment id, e.g. `bookworm-amd64@20261122-0012-ab12cd34`; part of input keys. */
  readonly id: string;
  readonly name: string;
  readonly arch: string;
  /** Absolute host paths of the read-only lower layers (base root first, then instance layer). */
  readonly layers: readonly string[];
}

export interface SandboxOptions {
  /** The env to build in; required by chroot and rootless, ignored by host. */
  readonly env?: SandboxEnv;
  /** Read-only bind mounts into the sandbox (e.g. the downloads cache): host path → inside path. */
  readonly readOnlyBinds?: readonly { readonly host: string; readonly inside: string }[];
  /** Read-write bind mounts (e.g. a ccache directory). */
  readonly readWriteBinds?: readonly { readonly host: string; readonly inside: string }[];
  /** Unique id of the job (used for cookies, cgroup names, journal entries). */
  readonly jobId: string;
  /** A fresh, empty, private directory for this job's workspace. */
  readonly workDir: string;
  readonly limits: SandboxLimits;
  /** Keep the workspace after dispose (for --keep-failed); leave it out when it never will. */
  readonly keep?: () => boolean;
  readonly signal?: AbortSignal;
}

export interface SandboxBackend {
  readonly name: 'host' | 'chroot' | 'rootless';
  readonly guarantees: readonly Guarantee[];
  create(options: SandboxOptions): Promise<Sandbox>;
}
