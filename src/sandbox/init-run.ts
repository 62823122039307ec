// One command through a sandbox's init (chroot and rootless backends): the run's env file,
// the launch with the last stderr lines kept, and the exact wait status init wrote. A run
// that ends without a status and without kiln or the kernel having killed it never got to
// start: that is the backend's failure, named with its setup script.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { runGroup, type GroupResult } from '../lib/spawn-group.ts';
import { parseStatus } from './chroot/scripts.ts';
import type { RunSpec } from './sandbox.ts';
import { signalName } from './workspace-checks.ts';

/** Writes run `n`'s env file (NUL-separated K=V) and names its status file. */
/** What a run's status file holds until init writes the build's status. */
const NOT_REACHED = 'not reached\n';

export async function initRunFiles(runDir: string, n: number, env: Readonly<Record<string, string>>): Promise<{ envFile: string; statusFile: string }> {
  const envFile = join(runDir, `${n}.env`);
  await writeFile(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''), { mode: 0o600 });
  // Init overwrites this when the build's process ends. Still there: init never got that
  // far (setup failed). Empty: init got there but could not write (a full disk).
  const statusFile = join(runDir, `${n}.status`);
  await writeFile(statusFile, NOT_REACHED);
  return { envFile, statusFile };
}

export interface InitRun {
  readonly running: Promise<GroupResult>;
  /** Turn the finished run into its exit status; `excused`: it may lack one (killed by a limit). */
  status(r: GroupResult, excused: boolean): Promise<{ exitCode: number | null; signal: string | null }>;
}

export function startInitRun(o: {
  /** The backend's run argv; env file, status file, cwd, user and the command follow. */
  readonly argv: readonly string[];
  readonly runDir: string;
  readonly files: { readonly envFile: string; readonly statusFile: string };
  readonly spec: RunSpec;
  readonly graceMs: number | undefined;
  readonly signal: AbortSignal;
  /** null: no GNU time (the backend measures rusage itself). */
  readonly timePath?: null;
  /** `the chroot sandbox of job X`, for the error. */
  readonly what: string;
}): InitRun {
  const { spec } = o;
  const tail: Buffer[] = [];
  const running = runGroup([...o.argv, o.files.envFile, o.files.statusFile, spec.cwd, spec.user ?? 'build', ...spec.argv], {
    // The scripts find their programs by absolute path; init gives the command spec.env.
    env: {},
    cwd: o.runDir,
    onOutput: (stream, chunk) => {
      if (stream === 'stderr') {
        tail.push(chunk);
        if (tail.length > 8) tail.shift();
      }
      return spec.onOutput(stream, chunk);
    },
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    ...(spec.silentTimeoutMs === undefined ? {} : { silentTimeoutMs: spec.silentTimeoutMs }),
    ...(o.graceMs === undefined ? {} : { graceMs: o.graceMs }),
    ...(o.timePath === null ? { timePath: null } : {}),
    signal: o.signal,
  });
  return {
    running,
    async status(r, excused) {
      const text = await readFile(o.files.statusFile, 'utf8').catch(() => undefined);
      const status = parseStatus(text ?? '');
      if (status !== undefined) {
        return { exitCode: status.exitCode, signal: status.signal === null ? null : (signalName(status.signal) ?? `SIG${status.signal}`) };
      }
      // Emptied by init, which then could not write it (the build filled the disk): init's
      // own exit status is the build's (exit N, or 128 + signal), as on the host sandbox.
      if (!excused && text === '') return { exitCode: r.exitCode, signal: r.signal };
      if (!excused) {
        const err = Buffer.concat(tail).toString().trim().split('\n').slice(-3).join(' / ');
        throw new KilnError('sandbox-unavailable', `${o.what} failed to start (status ${r.exitCode ?? r.signal}): ${err || 'no message'}`, {
          hint: `its setup script is ${join(o.runDir, 'setup.sh')}; run \`kiln doctor\``,
        });
      }
      return { exitCode: r.exitCode, signal: r.signal };
    },
  };
}

