// kiln env shell NAME: an interactive shell in a throwaway sandbox of an env (like
// `mock --shell`). The env version is leased for as long as the shell runs (an `env
// update` meanwhile cannot delete it); the sandbox and its workspace are removed after.
// The shell runs as the unprivileged build user (chroot: uid 64000 `kiln`; rootless: the
// invoking uid, named `kiln`), exactly as a build would, with no network.

import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createEnvStore } from '../envs/env-store.ts';
import { KilnError } from '../errors.ts';
import { chrootUnavailable, createChrootBackend } from '../sandbox/chroot/chroot-backend.ts';
import { createRootlessBackend, rootlessUnavailable } from '../sandbox/rootless/rootless-backend.ts';
import type { SandboxBackend } from '../sandbox/sandbox.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, type StateOptions } from './options.ts';

type ShellSandbox = 'auto' | 'chroot' | 'rootless';

/** The isolating backend for a shell: chroot for root, rootless otherwise (or as asked). */
export function shellBackend(requested: ShellSandbox, stateDir: string): SandboxBackend {
  const isRoot = process.getuid?.() === 0;
  const want = requested === 'auto' ? (isRoot && chrootUnavailable() === undefined ? 'chroot' : 'rootless') : requested;
  const why = want === 'chroot' ? chrootUnavailable() : rootlessUnavailable();
  if (why !== undefined) {
    throw new KilnError('sandbox-unavailable', `cannot open a shell in a ${want} sandbox: ${why}`, {
      hint: want === 'chroot' ? 'run as root, or try --sandbox rootless' : 'enable unprivileged user namespaces, or run as root (chroot sandbox)',
    });
  }
  return want === 'chroot' ? createChrootBackend({ stateDir }) : createRootlessBackend({ stateDir });
}

export function registerEnvShell(env: Command, ctx: CliContext): void {
  const shell = env
    .command('shell <name>')
    .description('an interactive shell in a throwaway sandbox of the env, as the build user, offline (like mock --shell)')
    .option('--sandbox <kind>', 'auto (chroot for root, else rootless), chroot or rootless', 'auto')
    .option('-c, --command <script>', 'run this sh script instead of an interactive shell');
  addStateOptions(shell);
  shell.action(async (name: string, opts: StateOptions & { sandbox: string; command?: string }) => {
    if (!['auto', 'chroot', 'rootless'].includes(opts.sandbox)) {
      throw new KilnError('usage', `--sandbox: "${opts.sandbox}" is not one of auto, chroot, rootless`);
    }
    const layout = layoutFrom(opts);
    const backend = shellBackend(opts.sandbox as ShellSandbox, layout.root);
    await using lease = await createEnvStore({ stateDir: layout.root }).acquire(name);
    const workDir = join(layout.work, `shell-${process.pid}`);
    await using sb = await backend.create({
      jobId: `shell@${name}`,
      workDir,
      env: lease.env,
      // A shell is for looking around and trying things: the machine's size, not a recipe's.
      limits: { cpus: availableParallelism(), memoryBytes: Math.floor(totalmem() / 2), pids: 4096 },
    });
    if (sb.shell === undefined) {
      const other = backend.name === 'chroot' ? 'rootless' : 'chroot';
      throw new KilnError('sandbox-unavailable', `the ${backend.name} sandbox cannot run an interactive shell`, { hint: `try \`kiln env shell ${name} --sandbox ${other}\`` });
    }
    ctx.stderr.write(`kiln: shell in ${lease.env.id} (${backend.name} sandbox, ${sb.inside.src}); it is thrown away on exit\n`);
    ctx.exitCode = await sb.shell(opts.command === undefined ? {} : { argv: ['/bin/sh', '-c', opts.command] });
  });
}
