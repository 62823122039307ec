// What the rootless sandbox enforces of a build's limits, in words, for `kiln doctor` (and
// as docs/operations.md's limits table says it). Without a cgroup (scripts.ts, "Limits"):
// memory is an rlimit per process, /tmp and /dev/shm share one tmpfs of the build's memory,
// processes are an rlimit per run that the kernel does not apply to the host's root (the
// build's uid is root outside when kiln runs as root), and there is no cpu quota.

/** The rootless sandbox's limits as enforced for a kiln running as root (`asRoot`) or not. */
export function rootlessLimits(asRoot: boolean): string {
  return [
    'memory per process only (RLIMIT_DATA; a build that runs out fails as its program does, not as out-of-memory)',
    '/tmp and /dev/shm together bounded at the memory limit (one tmpfs)',
    asRoot
      ? 'no process limit when kiln runs as root (the kernel does not apply RLIMIT_NPROC to root)'
      : 'processes limited per build (RLIMIT_NPROC)',
    'no cpu quota',
  ].join(', ');
}
