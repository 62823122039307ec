// kiln logs PKG: a job's log (default: its latest run); -f follows a running job.

import type { Command } from 'commander';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { followLog } from '../logs/follow.ts';
import { openRecords } from '../records/records.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, type StateOptions } from './options.ts';
import { addRemoteOptions, remoteFrom, type RemoteOptions } from './remote.ts';
import { remoteLogs } from './remote-views.ts';

interface LogsOpts extends StateOptions, RemoteOptions {
  run?: string;
  arch?: string;
  follow?: boolean;
}

export function registerLogs(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('logs')
    .description("print a package's build log (its latest run, or --run); -f follows a running build")
    .argument('<package>', 'package name')
    .option('--run <id>', 'the run (default: the latest run that has this package)')
    .option('--arch <arch>', 'the architecture (default: any)')
    .option('-f, --follow', 'keep printing as the log grows, until the job ends');
  addStateOptions(cmd);
  addRemoteOptions(cmd);
  cmd.action(async (name: string, opts: LogsOpts) => {
    // Against a daemon: --run is a build id (default: the newest build that ran PKG).
    const remote = remoteFrom(opts);
    if (remote !== undefined) return remoteLogs(remote, name, opts, ctx);
    const state = layoutFrom(opts);
    if (!existsSync(join(state.root, 'kiln.db'))) throw new KilnError('log-not-found', `no records in ${state.root}`, { hint: 'run `kiln build` first' });
    const records = openRecords(state.root);
    try {
      const pick = (): { log: string | null; state: string; runId: string } | undefined => {
        if (opts.run !== undefined) {
          return records.jobsOfRun(opts.run).find((j) => j.name === name && (opts.arch === undefined || j.arch === opts.arch));
        }
        return records.history(name, { limit: 20, ...(opts.arch === undefined ? {} : { arch: opts.arch }) }).find((j) => j.log !== null);
      };
      const job = pick();
      if (job === undefined || job.log === null) {
        throw new KilnError('log-not-found', `no log of "${name}"${opts.run === undefined ? '' : ` in run ${opts.run}`} in ${state.root}`, {
          hint: 'only packages that ran have logs (up-to-date, broken and skipped ones do not); see `kiln status`',
        });
      }
      const logPath = job.log;
      if (opts.follow && job.state === 'running') {
        const controller = new AbortController();
        const stop = (): void => controller.abort();
        process.once('SIGINT', stop);
        try {
          const isDone = (): boolean => {
            const now = records.jobsOfRun(job.runId).find((j) => j.log === logPath);
            return now === undefined || now.state !== 'running';
          };
          for await (const line of followLog(logPath, { signal: controller.signal, fromStart: true, isDone })) {
            ctx.stdout.write(`${line}\n`);
          }
        } finally {
          process.off('SIGINT', stop);
        }
        return;
      }
      if (!existsSync(logPath)) throw new KilnError('log-not-found', `the log ${logPath} is gone`, { hint: 'logs are removed by `kiln cache gc` with old runs' });
      for await (const chunk of createReadStream(logPath)) ctx.stdout.write(chunk as Buffer);
    } finally {
      records.close();
    }
  });
}
