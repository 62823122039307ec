// How a job builds for its arch, as `kiln plan` and a run's report say it: natively, under
// QEMU user emulation (its env is of an arch this machine does not run: qemu-user-static
// through binfmt_misc, envs/binfmt.ts), cross-built by kiln (a Debian job of a --cross run
// for another arch than the build arch: dpkg-buildpackage -a ARCH with the cross and nocheck
// profiles, debian/cross.ts), or by a recipe's script for another arch than the one it runs
// on (the host sandbox, or the build arch's env under --cross): the script must cross-compile
// for $KILN_ARCH itself, and kiln does not know how it does, hence its own name.
//
// Pure over what the run already knows: the job's arch, the arch of what it runs on (its
// env's, or this machine's on the host sandbox) and its Debian spec's `cross`.
// run-envs.ts's emulatedBy answers another question (is an arch's duration QEMU's, for the
// forecast: it never counts an `all` job): an `all` job built in a foreign env runs under
// QEMU, and says so here.

import { isCrossJob } from '../debian/cross.ts';
import { runsNatively } from '../envs/binfmt.ts';
import type { RunEnvs } from './run-envs.ts';

export type BuildMode = 'native' | 'emulated' | 'cross' | 'recipe-cross';

export interface BuildModeJob {
  /** The job's arch (`all` for arch-independent packages). */
  readonly arch: string;
  /** The arch the job's build runs on: its env's, or this machine's on the host sandbox. */
  readonly runsOn: string;
  /** A Debian job of a --cross run: the build arch (DebianBuildSpec.cross). */
  readonly debianCross?: string | undefined;
}

export function buildModeOf(job: BuildModeJob, hostArch: string): BuildMode {
  // kiln's own cross build (dpkg-buildpackage -a ARCH), whatever it runs on.
  if (isCrossJob(job.debianCross, job.arch)) return 'cross';
  // i386 on amd64 runs natively: no QEMU.
  if (!runsNatively(job.runsOn, hostArch)) return 'emulated';
  if (job.arch !== 'all' && job.arch !== job.runsOn) return 'recipe-cross';
  return 'native';
}

/** What the plan and the report mark a job's arch with (`arm64 (cross)`); undefined for a native one. */
export function buildModeMark(mode: BuildMode | undefined): string | undefined {
  switch (mode) {
    case undefined:
    case 'native':
      return undefined;
    case 'emulated':
      return 'QEMU';
    case 'cross':
      return 'cross';
    case 'recipe-cross':
      return 'cross by recipe';
    default: {
      const never: never = mode;
      throw new Error(`unknown build mode ${String(never)}`);
    }
  }
}

/**
 * The build mode of each job of a plan that does not build natively, by job id (a native
 * one is absent: the plan and the report say nothing of it). `envs.envFor` gives the env a
 * job builds in (none on the host sandbox: this machine).
 */
export function buildModesOf(
  nodes: readonly { readonly id: string; readonly arch: string; readonly spec?: { readonly debian?: { readonly cross?: string | undefined } | undefined } | undefined }[],
  o: { readonly envs: Pick<RunEnvs, 'envFor'>; readonly hostArch: string },
): Map<string, Exclude<BuildMode, 'native'>> {
  const out = new Map<string, Exclude<BuildMode, 'native'>>();
  for (const n of nodes) {
    const mode = buildModeOf({ arch: n.arch, runsOn: o.envs.envFor(n.arch)?.arch ?? o.hostArch, debianCross: n.spec?.debian?.cross }, o.hostArch);
    if (mode !== 'native') out.set(n.id, mode);
  }
  return out;
}
