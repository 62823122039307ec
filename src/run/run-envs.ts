// Where a run's jobs build: the sandbox backend, and for each target arch the env
// (`env = "bookworm-{arch}"` in kiln.toml or --env names one per arch). The env's id
// (`name@version`) goes into every input key, so `kiln env update` rebuilds what was
// built in it (reason environment-changed). A build leases each env version it uses
// for the whole run, so an `env update` meanwhile cannot delete it. A tree's `[instance]`
// (extra apt sources) becomes a second read-only layer over each env, made on first use;
// its content hash is part of the env id, so a refresh that changes it rebuilds too.

import type { EnvLease } from '../envs/env-types.ts';
import type { InstanceSpec } from '../envs/instance-spec.ts';
import { KilnError } from '../errors.ts';
import { chooseBackend, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { hostBackend } from '../sandbox/host.ts';
import type { SandboxBackend, SandboxEnv } from '../sandbox/sandbox.ts';
import { allArchOf, hostEnvId } from './host-env.ts';
import { daemonEnvNotFound } from '../envs/env-errors.ts';
import { runsNatively } from '../envs/binfmt.ts';

// The chroot and rootless backends and the env store are imported only when the chosen
// backend needs them: a host-sandbox run (no env configured) loads none of them.

export interface RunEnvs {
  readonly backend: SandboxBackend;
  /** Said to the user when the choice is worth knowing (e.g. auto fell back to host). */
  readonly note: string | undefined;
  /** The env a job for this arch builds in (undefined on the host backend). */
  envFor(arch: string): SandboxEnv | undefined;
  /** The environment id that goes into input keys. */
  envIdFor(arch: string): string;
  /** --cross: the arch whose env every job builds in (nothing is emulated). */
  readonly crossFrom?: string;
  release(): Promise<void>;
}

export function envNameFor(template: string, arch: string): string {
  return template.replaceAll('{arch}', arch);
}

/**
 * What a host run should say about what it was asked: an env it does not use (--sandbox
 * host), and target archs other than this machine's. The host backend runs every script
 * on this machine as it is: a recipe may cross-compile for $KILN_ARCH itself (`:native`
 * relations are for that), but nothing emulates the target, so say so.
 */
export function hostNote(o: { readonly sandbox: SandboxChoice; readonly envTemplate: string | undefined; readonly archs: readonly string[]; readonly hostArch: string }): string | undefined {
  const notes: string[] = [];
  // The sandbox may come from --sandbox or kiln.toml's sandbox: both are named.
  if (o.sandbox === 'host' && o.envTemplate !== undefined) {
    notes.push(`sandbox host (--sandbox, or sandbox = "host" in kiln.toml): builds run on this machine, not in the env "${o.envTemplate}"`);
  }
  const foreign = o.archs.filter((a) => a !== 'all' && a !== o.hostArch);
  if (foreign.length > 0) {
    notes.push(
      `building for ${foreign.join(', ')} on the host (${o.hostArch}) without an env: each recipe must cross-compile for $KILN_ARCH itself; ` +
        (o.envTemplate === undefined
          ? `for native builds of another architecture (under QEMU), build in an env of it (kiln env create NAME --suite SUITE --arch ${foreign[0]}, with a SUITE that has ${foreign[0]}; then --env NAME, or "…-{arch}" for every arch: docs/operations.md)`
          : `for native builds of another architecture (under QEMU), let the builds run in "${o.envTemplate}": drop the host sandbox`),
    );
  }
  return notes.length === 0 ? undefined : notes.join('\n');
}

export async function resolveRunEnvs(options: {
  readonly stateDir: string;
  readonly sandbox: SandboxChoice;
  readonly envTemplate: string | undefined;
  readonly archs: readonly string[];
  readonly hostArch: string;
  /** Lease the env versions (a build); a plan only looks. */
  readonly lease: boolean;
  /** kiln.toml's `[instance]`: layered over every env of the run. */
  readonly instance?: InstanceSpec | undefined;
  /** Progress of making an instance layer on demand. */
  readonly onOutput?: ((line: string) => void) | undefined;
  /** kiln's own notes while the envs are leased (a binfmt handler registered for a foreign env). */
  readonly onNote?: ((text: string) => void) | undefined;
  /** A daemon's build: `auto` does not fall back to the host (choose-backend.ts). */
  readonly onDaemon?: boolean | undefined;
  /** --cross (Debian): every job builds in the env of this arch, cross-compiling for its own. */
  readonly crossFrom?: string | undefined;
}): Promise<RunEnvs> {
  const isRoot = process.getuid?.() === 0;
  // The rootless probe mounts an overlay in a user namespace (~10 ms): only when it may be picked.
  const rootlessProblem =
    options.sandbox === 'rootless' || (options.sandbox === 'auto' && !isRoot && options.envTemplate !== undefined)
      ? (await import('../sandbox/rootless/rootless-backend.ts')).rootlessUnavailable()
      : undefined;
  const choice = chooseBackend({
    requested: options.sandbox,
    envConfigured: options.envTemplate !== undefined,
    isRoot,
    rootlessWorks: rootlessProblem === undefined,
    ...(rootlessProblem === undefined ? {} : { rootlessProblem }),
    onDaemon: options.onDaemon === true,
  });
  if (!choice.ok) throw new KilnError('sandbox-unavailable', choice.message, { hint: choice.hint });
  if (choice.backend === 'host') {
    if (options.lease) refuseSpacedWorkspaces(options.stateDir);
    const id = hostEnvId();
    // kiln plan builds nothing: it says what a build would refuse.
    const spaced = !options.lease && /\s/.test(options.stateDir) ? `the state directory ${JSON.stringify(options.stateDir)} holds a space: kiln build refuses it on the host sandbox ($CPPFLAGS and $LDFLAGS would split its paths); use another --state, or an env` : undefined;
    const notes = [choice.note, hostNote(options), spaced].filter((n) => n !== undefined);
    return { backend: hostBackend, note: notes.length === 0 ? undefined : notes.join('\n'), envFor: () => undefined, envIdFor: () => id, release: async () => {} };
  }
  const chroot = choice.backend === 'chroot' ? await import('../sandbox/chroot/chroot-backend.ts') : undefined;
  const chrootProblem = chroot?.chrootUnavailable();
  if (chrootProblem !== undefined) {
    throw new KilnError('sandbox-unavailable', `the chroot sandbox cannot run here: ${chrootProblem}`, {
      hint: 'fix the above, or build without isolation with --sandbox host',
    });
  }
  const { createEnvStore } = await import('../envs/env-store.ts');
  const store = createEnvStore({ stateDir: options.stateDir });
  const template = options.envTemplate!;
  const allArch = options.crossFrom ?? allArchOf(options.archs, options.hostArch);
  // The arch of the env a job for `arch` builds in.
  const envArch = (arch: string): string => options.crossFrom ?? (arch === 'all' ? allArch : arch);
  const archs = [...new Set(options.archs.map(envArch).concat(options.archs.includes('all') ? [allArch] : []))];
  const envs = new Map<string, SandboxEnv>();
  const leases: EnvLease[] = [];
  const release = async (): Promise<void> => {
    for (const l of leases.splice(0)) await l.release();
  };
  try {
    for (const arch of archs) {
      const name = envNameFor(template, arch);
      let env: SandboxEnv;
      if (options.lease) {
        const lease = await store.acquire(name, { instance: options.instance, onOutput: options.onOutput, onNote: options.onNote });
        leases.push(lease);
        env = lease.env;
      } else {
        const { pending: _, ...peeked } = await store.peek(name, options.instance);
        env = peeked;
      }
      if (env.arch !== arch) {
        throw options.crossFrom === undefined
          ? new KilnError('config-invalid', `env "${name}" is for ${env.arch}, but this run builds for ${arch}`, {
            hint: 'name one env per arch with a placeholder, e.g. env = "bookworm-{arch}" in kiln.toml or --env "bookworm-{arch}"',
          })
          : new KilnError('config-invalid', `env "${name}" is for ${env.arch}, but --cross builds every job in an env of this machine's arch, ${arch}`, {
            hint: `name an env of ${arch} (e.g. --env "${name.endsWith(`-${env.arch}`) ? name.slice(0, -env.arch.length - 1) : 'SUITE'}-${arch}"), or leave --env out: a Debian run takes SUITE-${arch}`,
          });
      }
      envs.set(arch, env);
    }
  } catch (e) {
    await release();
    // A daemon's client cannot use `kiln env list` or the daemon's paths: say what it can do.
    if (options.onDaemon === true && e instanceof KilnError && e.code === 'env-not-found') {
      const name = /"([^"]+)"/.exec(e.message)?.[1] ?? template;
      throw daemonEnvNotFound(name);
    }
    throw e;
  }
  const backend =
    chroot === undefined
      ? (await import('../sandbox/rootless/rootless-backend.ts')).createRootlessBackend({ stateDir: options.stateDir })
      : chroot.createChrootBackend({ stateDir: options.stateDir });
  const pick = (arch: string): SandboxEnv => envs.get(envArch(arch))!;
  return { backend, note: choice.note, envFor: pick, envIdFor: (arch) => pick(arch).id, release, ...(options.crossFrom === undefined ? {} : { crossFrom: options.crossFrom }) };
}

/**
 * Whether this run builds `arch` under emulation (QEMU user mode; the duration estimates of
 * schedule/arch-estimate.ts): an arch this machine does not run natively, built in an env
 * of it (any sandbox but the host) or as a Debian package. On the host backend a recipe
 * cross-compiles for a foreign arch instead, at native speed.
 */
export function emulatedBy(envs: Pick<RunEnvs, 'backend' | 'crossFrom'>, debianArchs: ReadonlySet<string>, host: string): (arch: string) => boolean {
  // --cross: every job builds in an env of this machine's arch.
  return (arch) => envs.crossFrom === undefined && arch !== 'all' && !runsNatively(arch, host) && (envs.backend.name !== 'host' || debianArchs.has(arch));
}

/**
 * On the host sandbox a build's workspace paths are host paths under the state directory,
 * and $CPPFLAGS, $LDFLAGS and their kind hold them as one string each, which every build
 * system splits at spaces: a state directory whose path holds one breaks such builds in
 * confusing ways (`ld: cannot find 22/work/…`). Said before anything runs. (An isolated
 * sandbox gives the build paths of its own, under /kiln.)
 */
function refuseSpacedWorkspaces(stateDir: string): void {
  if (!/\s/.test(stateDir)) return;
  throw new KilnError('path-unusable', `the state directory ${JSON.stringify(stateDir)} holds a space: builds on the host sandbox get their workspace paths (under it) in $CPPFLAGS and $LDFLAGS, which build systems split at spaces`, {
    hint: 'use a state directory whose path has no spaces (--state, or $KILN_STATE), or build in an env (an isolated sandbox has paths of its own)',
  });
}
