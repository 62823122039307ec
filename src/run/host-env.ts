// The build machine as kiln sees it: its Debian arch name and, for the host sandbox,
// an environment id that changes when the host's OS release changes.

import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { sha256 } from '../lib/hash.ts';

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

export function machineCapacity(maxJobs?: number): { slots: number; cpus: number; memoryBytes: number } {
  const cpus = availableParallelism();
  return { slots: maxJobs ?? cpus, cpus, memoryBytes: totalmem() };
}
