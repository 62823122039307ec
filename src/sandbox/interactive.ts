// Interactive runs (`kiln env shell`): the sandbox's run argv started with kiln's own
// stdin, stdout and stderr instead of pipes, and no limits on time. Shared by the chroot
// and rootless backends, whose run argv take the same arguments (env file, status file,
// cwd, argv…) and whose init writes the command's exact wait status to the status file.

import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { KilnError } from '../errors.ts';
import type { ShellOptions } from './sandbox.ts';

const DEFAULT_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];

export function defaultShellEnv(inside: { home: string; tmp: string }): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: inside.home,
    TMPDIR: inside.tmp,
    TERM: process.env.TERM ?? 'dumb',
    USER: 'kiln',
    LOGNAME: 'kiln',
    LANG: 'C.UTF-8',
  };
}

export interface InteractiveRun {
  /** The backend's run argv; env file, status file, cwd and the command are appended. */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly envFile: string;
  readonly statusFile: string;
  readonly insideCwd: string;
  readonly inside: { home: string; tmp: string };
  readonly what: string;
  /** Ends the command (SIGKILL to the run's outermost process; the namespace follows). */
  readonly signal?: AbortSignal;
}

export async function runInteractive(run: InteractiveRun, options: ShellOptions): Promise<number> {
  const env = options.env ?? defaultShellEnv(run.inside);
  await writeFile(run.envFile, Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''), { mode: 0o600 });
  const [command, ...args] = [...run.argv, run.envFile, run.statusFile, run.insideCwd, 'build', ...(options.argv ?? DEFAULT_SHELL)];
  // The terminal sends ^C and ^\ to its whole foreground group, kiln included: they are
  // the shell's to handle, so kiln ignores them while the shell runs.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  try {
    const child = spawn(command!, args, { stdio: 'inherit', env: {}, cwd: run.cwd, ...(run.signal === undefined ? {} : { signal: run.signal, killSignal: 'SIGKILL' }) });
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', (e) => (e.name === 'AbortError' ? undefined : reject(e)));
      child.on('close', (c, s) => resolve([c, s]));
    });
    const status = /^(exit|signal) (\d+)\s*$/.exec(await readFile(run.statusFile, 'utf8').catch(() => ''));
    if (status !== null) return status[1] === 'exit' ? Number(status[2]) : 128 + Number(status[2]);
    if (run.signal?.aborted) return 128 + 9;
    throw new KilnError('sandbox-unavailable', `the sandbox of ${run.what} failed to start its shell (status ${code ?? sig})`, {
      hint: 'its setup error is printed above; run `kiln doctor`',
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  }
}
