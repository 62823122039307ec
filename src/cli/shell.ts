// kiln shell PKG [-- CMD…]: a shell in the root of PKG's failed build as the build left it
// (poudriere's `bulk -i`, mock --shell, BitBake's devshell). Needs a workspace kept by
// `kiln build --keep-failed` in the chroot or rootless sandbox: the overlay's upper layer is
// mounted again over the env's layers as that sandbox does (sandbox/chroot/kept-root.ts;
// rootless: in a user namespace, as the user who ran the build), in new namespaces with no
// network, the workspace at /kiln, as the build user, with the build script's environment,
// in its src dir. What the shell changes stays in the kept workspace; everything mounted
// goes with the shell's namespace when it ends.
//
// Which job: as `kiln logs` picks it (the newest run with a log of PKG, or --run; --arch,
// else the only one or the host's). A host-sandbox build has no root: rebuild.sh it is.

import { recordsGoneNote } from '../records/db.ts';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkArchOption } from '../debian/arch-names.ts';
import { KilnError } from '../errors.ts';
import { openRecords } from '../records/records.ts';
import { hostArch } from '../run/host-env.ts';
import type { StateLayout } from '../run/state-layout.ts';
import { enterKeptRoot, readKeptRoot, type KeptRoot } from '../sandbox/chroot/kept-root.ts';
import { chooseArch } from './logs.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, type StateOptions } from './options.ts';

interface ShellOpts extends StateOptions {
  run?: string;
  arch?: string;
}

export function registerShell(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('shell')
    .description("a shell in the root of a package's failed build as it failed (kept by `kiln build --keep-failed`, chroot or rootless sandbox), offline, with the build's environment")
    .argument('<package>', 'package name')
    .argument('[command...]', 'after --: run this command instead of an interactive shell')
    .option('--run <id>', 'the run (default: the latest run that has this package)')
    .option('--arch <arch>', "the architecture (default: the only one, else the host's)");
  addStateOptions(cmd);
  cmd.action(async (name: string, command: string[], opts: ShellOpts) => {
    if (opts.arch !== undefined && opts.arch !== 'all') checkArchOption('--arch', opts.arch);
    const state = layoutFrom(opts);
    if (!existsSync(join(state.root, 'kiln.db'))) {
      throw new KilnError(opts.run === undefined ? 'package-not-found' : 'run-not-found', `no records in ${state.root}${recordsGoneNote(state.root)}`, { hint: 'run `kiln build --keep-failed` first, or point --state at the state directory' });
    }
    const { jobId, runId, workDir, root, again } = pickKept(state, name, opts);
    ctx.stderr.write(`kiln: shell in the root of ${jobId} as run ${runId} left it (env ${root.env.id}, offline, in ${root.cwd}); changes stay in ${workDir}\n`);
    ctx.exitCode = await enterKeptRoot(workDir, root, {
      stateDir: state.root,
      again,
      ...(command.length === 0 ? {} : { argv: command }),
      note: (t) => ctx.stderr.write(`${t}\n`),
    });
  });
}

/** The failed job's kept work dir and shell.json; the records are closed again before the shell. */
function pickKept(state: StateLayout, name: string, opts: ShellOpts): { jobId: string; runId: string; workDir: string; root: KeptRoot; again: string } {
  using records = openRecords(state.root);
  if (opts.run !== undefined && records.getRun(opts.run) === undefined) {
    throw new KilnError('run-not-found', `no run "${opts.run}" in ${state.root}`, { hint: 'list runs with `kiln status --runs`' });
  }
  const runId = opts.run ?? records.history(name, { limit: 20, ...(opts.arch === undefined ? {} : { arch: opts.arch }) }).find((j) => j.log !== null)?.runId;
  const jobs = runId === undefined ? [] : records.jobsOfRun(runId).filter((j) => j.name === name && j.log !== null && (opts.arch === undefined || j.arch === opts.arch));
  const arch = runId === undefined ? undefined : chooseArch(name, runId, [...new Set(jobs.map((j) => j.arch))].sort(), opts.arch, hostArch());
  const job = jobs.find((j) => j.arch === arch);
  if (runId === undefined || job === undefined) {
    throw new KilnError('package-not-found', `no build of "${name}"${runId === undefined ? '' : ` in run ${runId}`}${opts.arch === undefined ? '' : ` on ${opts.arch}`} in ${state.root}`, {
      hint: 'give a package that was built (and failed) in a run of this state directory, or --run/--arch/--state',
    });
  }
  const again = `build it again with \`kiln build ${name} --keep-failed\` (chroot or rootless sandbox), then run kiln shell`;
  if (job.state !== 'failed') {
    throw new KilnError('usage', `${job.jobId} did not fail in run ${runId} (it is ${job.state}): there is no failed build root to enter`, { hint: `a failed build's root is kept by --keep-failed: ${again}` });
  }
  const workDir = join(state.work, runId, job.jobId.replace('@', '_'));
  if (existsSync(join(workDir, 'rebuild.sh'))) {
    throw new KilnError('usage', `${job.jobId} of run ${runId} failed in the host sandbox: its workspace ${workDir} has no build root of its own to enter`, {
      hint: `\`bash ${join(workDir, 'rebuild.sh')} --shell\` opens a shell with the build's environment in its src dir (without --shell: runs the build again)`,
    });
  }
  const root = readKeptRoot(join(workDir, 'kiln'));
  if (root === undefined) {
    throw new KilnError('not-found', `the workspace of failed job ${job.jobId} in run ${runId} was not kept (no ${join(workDir, 'kiln', 'shell.json')})`, { hint: again });
  }
  return { jobId: job.jobId, runId, workDir, root, again };
}
