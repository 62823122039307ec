// A child process started with umask 022, whatever kiln's own umask is: what kiln unpacks
// for a build (sources, staged dependencies) gets the same modes for every user, as what
// the build itself makes does (its commands start with umask 022: lib/launcher-source.ts).
// The umask is set and restored around spawn(), which forks synchronously: no JavaScript
// runs in between (a file a libuv thread creates in that instant gets 022 too; harmless).

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export function spawnWithUmask022(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const old = process.umask(0o022);
  try {
    return spawn(command, args, options);
  } finally {
    process.umask(old);
  }
}
