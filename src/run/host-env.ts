// The build machine as kiln sees it: its Debian arch name and, for the host sandbox,
// an environment id that changes when the host's OS release changes.

import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { sha256 } from '../lib/hash.ts';
import type { SandboxChoice } from '../sandbox/choose-backend.ts';

const NODE_TO_DEBIAN: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  ia32: 'i386',
  riscv64: 'riscv64',
  ppc64: 'ppc64el',
  s390x: 's390x',
  loong64: 'loong64',
  mips64el: 'mips64el',
};

export function hostArch(): string {
  return NODE_TO_DEBIAN[process.arch] ?? process.arch;
}

/** `host:<hash>` of /etc/os-release and the arch: builds on the bare host depend on it. */
export function hostEnvId(): string {
  let release = '';
  try {
    release = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // no os-release: the arch alone identifies the host env
  }
  return `host:${sha256(`${release}\n${hostArch()}`).slice(0, 16)}`;
}

/**
 * What the scheduler may hand out: --jobs slots, the machine's cores and memory. With
 * overcommitCpus N, builds may reserve N cpus more than there are cores: a build that
 * idles in serial or I/O phases then leaves its core to another (opt-in; memory is
 * never overcommitted).
 */
export function machineCapacity(maxJobs?: number, overcommitCpus = 0, cores = availableParallelism()): { slots: number; cpus: number; memoryBytes: number } {
  return { slots: maxJobs ?? cores, cpus: cores + Math.max(0, overcommitCpus), memoryBytes: totalmem() };
}

/**
 * Where a run builds its arch-independent (`all`) packages: in the env of its first arch
 * (the primary one, as a Debian run's -b), else (no arch named) the host's (pure).
 */
export function allArchOf(archs: readonly string[], hostArch: string): string {
  return archs.find((a) => a !== 'all') ?? hostArch;
}

/**
 * The arch an `all` job builds with (pure): the arch of the machine or env it runs on, whose
 * builds of the tree's packages it stages (a `yamlcheck` it build-depends on must run
 * there). On the host sandbox (`--sandbox host`, or `auto` with no env: choose-backend.ts)
 * the job runs on this machine: its arch. In an env, the env `all` jobs build in
 * (run-envs.ts): --cross's build arch, else the run's first arch (allArchOf). The planner
 * resolves `all` nodes for it (plan/graph.ts GraphInput.allArch); `:native` relations
 * stay with this machine's arch.
 */
export function allBuildArchOf(o: {
  readonly sandbox: SandboxChoice;
  readonly envTemplate: string | undefined;
  readonly archs: readonly string[];
  readonly hostArch: string;
  readonly crossFrom?: string | undefined;
}): string {
  if (o.sandbox === 'host' || o.envTemplate === undefined) return o.hostArch;
  return o.crossFrom ?? allArchOf(o.archs, o.hostArch);
}
