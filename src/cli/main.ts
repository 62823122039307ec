// The kiln command: one file per verb under src/cli/, wired here. main() returns the
// process exit status: 0 all built or up to date, 1 something failed or is broken,
// 2 usage or configuration error, 130 cancelled.

import { Command, CommanderError } from 'commander';
import { exitCodeFor, isKilnError } from '../errors.ts';
import { registerBuild } from './build.ts';
import { registerCancel } from './cancel.ts';
import { registerCache } from './cache.ts';
import { registerEnv } from './env.ts';
import { registerDoctor } from './doctor.ts';
import { registerServe } from './serve.ts';
import { registerToken } from './token.ts';
import { registerHistory } from './history.ts';
import { registerLogs } from './logs.ts';
import { registerPlan } from './plan.ts';
import { registerStatus } from './status.ts';
import { registerVerify } from './verify.ts';
import { registerKey } from './key.ts';
import { registerRepo } from './repo.ts';

export interface CliContext {
  /** Set by a verb's action: the exit status main() returns. */
  exitCode: number;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('kiln')
    .description('kiln: build package trees in parallel, in dependency order, each job isolated, with caches, records, logs and reports')
    .version('0.1.0')
    .showHelpAfterError('(run kiln --help, or kiln <command> --help, for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });
  registerBuild(program, ctx);
  registerPlan(program, ctx);
  registerStatus(program, ctx);
  registerLogs(program, ctx);
  registerHistory(program, ctx);
  registerCache(program, ctx);
  registerEnv(program, ctx);
  registerDoctor(program, ctx);
  registerServe(program, ctx);
  registerToken(program, ctx);
  registerCancel(program, ctx);
  registerVerify(program, ctx);
  registerKey(program, ctx);
  registerRepo(program, ctx);
  return program;
}

export async function main(argv: readonly string[], io?: Partial<Pick<CliContext, 'stdout' | 'stderr'>>): Promise<number> {
  const ctx: CliContext = { exitCode: 0, stdout: io?.stdout ?? process.stdout, stderr: io?.stderr ?? process.stderr };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isKilnError(e)) {
      ctx.stderr.write(`kiln: error [${e.code}]: ${e.message}\n`);
      if (e.hint !== undefined) ctx.stderr.write(`  hint: ${e.hint}\n`);
      return exitCodeFor(e);
    }
    ctx.stderr.write(`kiln: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    ctx.stderr.write('  this is a bug in kiln; please report it with the command you ran\n');
    return 70;
  }
}
