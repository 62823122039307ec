// kiln cancel BUILD: cancel a build on a kiln daemon (--server / KILN_SERVER): a queued
// build ends at once; a running one is aborted (its jobs are killed) and, unless
// --no-wait, this waits until it has ended.

import type { Command } from 'commander';
import type { CliContext } from './main.ts';
import { followBuild } from './remote-build.ts';
import { KilnError } from '../errors.ts';
import { addRemoteOptions, callJson, forTheCli, requireRemote, type RemoteOptions } from './remote.ts';

interface CancelOpts extends RemoteOptions {
  wait: boolean;
}

export function registerCancel(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('cancel')
    .description('cancel a build on a kiln daemon (needs --server and a token)')
    .argument('<build>', 'the build id (from `kiln build --server` or `kiln status --server`)')
    .option('--no-wait', 'return at once instead of waiting for a running build to stop');
  addRemoteOptions(cmd);
  cmd.action(async (id: string, opts: CancelOpts) => {
    const remote = requireRemote(opts, 'cancel');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)) throw new KilnError('usage', `"${id}" is not a build id`, { hint: 'see `kiln status --runs --server URL`' });
    const b = await callJson<{ id: string; state: string }>(remote, 'POST', `/api/v1/builds/${encodeURIComponent(id)}/cancel`).catch((e: unknown) => {
      throw forTheCli(e, id);
    });
    if (b.state === 'running' && opts.wait) {
      ctx.stderr.write(`kiln: build ${id} is stopping...\n`);
      // Only how it ended, once: not its jobs, nor that it was still running.
      const final = await followBuild(remote, id, { ...ctx, stdout: { write: () => true } as unknown as CliContext['stdout'] }, { pollMs: 250, states: false });
      ctx.stdout.write(`kiln: build ${id} ${final.state}\n`);
      return;
    }
    ctx.stdout.write(`kiln: build ${id} ${b.state === 'running' ? 'cancelling' : b.state}\n`);
  });
}
