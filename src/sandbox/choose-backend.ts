// Which sandbox backend a run uses. Pure, with table tests. `auto` picks chroot for root
// and rootless otherwise when there is an env to isolate into; `host` is used only when
// asked for, or when no env is configured at all (then there is no base root to isolate
// into, and kiln says so; a daemon refuses instead). It is never chosen silently when
// isolation was asked for.

export type SandboxChoice = 'auto' | 'host' | 'chroot' | 'rootless';
export type BackendName = 'host' | 'chroot' | 'rootless';

export interface ChooseInput {
  readonly requested: SandboxChoice;
  readonly envConfigured: boolean;
  readonly isRoot: boolean;
  /** Can this user create user namespaces (and mount overlayfs in one)? */
  readonly rootlessWorks: boolean;
  /** Why rootless does not work, for the message. */
  readonly rootlessProblem?: string;
  /**
   * A daemon's build: `auto` without an env is refused instead of running on the host. A
   * daemon builds what its clients upload, as its own user (often root): only an explicit
   * `kiln serve --sandbox host` lets that run without isolation.
   */
  readonly onDaemon?: boolean;
}

export type ChooseResult =
  | { readonly ok: true; readonly backend: BackendName; readonly note?: string }
  | { readonly ok: false; readonly message: string; readonly hint: string };

export const SANDBOX_CHOICES: readonly SandboxChoice[] = ['auto', 'host', 'chroot', 'rootless'];

/** A daemon's build (auto) that names no env: refused at submit time (server/precheck.ts) and, should one get through, here. */
export const DAEMON_NEEDS_ENV = {
  message: 'this kiln daemon builds only in isolation, and the build names no env',
  hint: 'name one of the daemon\'s envs: "env": "NAME" in the request (kiln build --server --env NAME), or env = "NAME" in the tree\'s kiln.toml (GET /api/v1/envs lists them)',
} as const;

export function chooseBackend(input: ChooseInput): ChooseResult {
  const noEnv = {
    ok: false as const,
    message: `the ${input.requested} sandbox builds inside a base environment, and none is configured`,
    hint: 'create one with `kiln env create NAME --suite bookworm --arch amd64` and name it with `env = "NAME"` in kiln.toml or --env NAME',
  };
  switch (input.requested) {
    case 'host':
      return { ok: true, backend: 'host' };
    case 'chroot':
      if (!input.isRoot) {
        return {
          ok: false,
          message: 'the chroot sandbox needs root (it mounts overlayfs and creates namespaces and cgroups)',
          hint: 'run kiln as root, or use --sandbox rootless (user namespaces), or --sandbox host (no isolation)',
        };
      }
      return input.envConfigured ? { ok: true, backend: 'chroot' } : noEnv;
    case 'rootless':
      if (!input.rootlessWorks) {
        return {
          ok: false,
          message: `the rootless sandbox is not available here: ${input.rootlessProblem ?? 'user namespaces do not work'}`,
          hint: 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or run as root for the chroot sandbox',
        };
      }
      return input.envConfigured ? { ok: true, backend: 'rootless' } : noEnv;
    case 'auto':
      if (!input.envConfigured && input.onDaemon === true) {
        return { ok: false, ...DAEMON_NEEDS_ENV };
      }
      if (!input.envConfigured) {
        return { ok: true, backend: 'host', note: `no env configured: builds run on the host without isolation${input.isRoot ? ', as root' : ''} (set env in kiln.toml or --env for isolated builds)` };
      }
      if (input.isRoot) return { ok: true, backend: 'chroot' };
      if (input.rootlessWorks) return { ok: true, backend: 'rootless' };
      return {
        ok: false,
        message: `isolation was asked for (env configured) but neither sandbox works here: not root (chroot needs root), and rootless: ${input.rootlessProblem ?? 'user namespaces do not work'}`,
        hint: 'run as root, or enable unprivileged user namespaces; --sandbox host builds without isolation',
      };
  }
}
