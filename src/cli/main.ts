// The kiln command: one file per verb under src/cli/, wired here. main() returns the
// process exit status: 0 all built or up to date, 1 something failed or is broken,
// 2 usage or configuration error, 130 cancelled.

import { Command, CommanderError } from 'commander';
import { KilnError, exitCodeFor, isKilnError } from '../errors.ts';
import { pathErrorOf } from '../path-error.ts';
import { stopWithNpm } from './npm-parent.ts';
import type { Command as CommandType } from 'commander';
import { outputClosed } from './output-closed.ts';

type Register = (program: CommandType, ctx: CliContext) => void;

/**
 * Every verb, in help order. A verb's module (and what it imports: the daemon's HTTP
 * stack, OpenPGP, the Debian code…) is loaded only when that verb runs, or for help: a
 * no-change `kiln build` of a big tree should not pay for `kiln serve`.
 */
const VERBS: Readonly<Record<string, () => Promise<Register>>> = {
  build: async () => (await import('./build.ts')).registerBuild,
  plan: async () => (await import('./plan.ts')).registerPlan,
  status: async () => (await import('./status.ts')).registerStatus,
  logs: async () => (await import('./logs.ts')).registerLogs,
  shell: async () => (await import('./shell.ts')).registerShell,
  history: async () => (await import('./history.ts')).registerHistory,
  cache: async () => (await import('./cache.ts')).registerCache,
  env: async () => (await import('./env.ts')).registerEnv,
  doctor: async () => (await import('./doctor.ts')).registerDoctor,
  serve: async () => (await import('./serve.ts')).registerServe,
  worker: async () => (await import('./worker.ts')).registerWorker,
  workers: async () => (await import('./workers.ts')).registerWorkers,
  token: async () => (await import('./token.ts')).registerToken,
  cancel: async () => (await import('./cancel.ts')).registerCancel,
  download: async () => (await import('./download.ts')).registerDownload,
  fetch: async () => (await import('./fetch.ts')).registerFetch,
  verify: async () => (await import('./verify.ts')).registerVerify,
  key: async () => (await import('./key.ts')).registerKey,
  repo: async () => (await import('./repo.ts')).registerRepo,
  rootfs: async () => (await import('./rootfs.ts')).registerRootfs,
};

export interface CliContext {
  /** Set by a verb's action: the exit status main() returns. */
  exitCode: number;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

/** The kiln program; with `argv`, only the verb it names is loaded (all of them for help or an unknown verb). */
export async function buildProgram(ctx: CliContext, argv?: readonly string[]): Promise<Command> {
  const program = new Command('kiln')
    .description('kiln: build package trees in parallel, in dependency order, each job isolated, with caches, records, logs and reports')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      // commander's own errors (unknown option, bad choice…) are printed by main() in
      // kiln's format, with a hint naming the verb's --help.
      outputError: () => undefined,
    });
  const verb = argv?.[0];
  // `kiln --version` alone needs no verb at all.
  const versionOnly = argv !== undefined && argv.length === 1 && (verb === '--version' || verb === '-V');
  const names = versionOnly ? [] : verb !== undefined && Object.hasOwn(VERBS, verb) ? [verb] : Object.keys(VERBS);
  const registers = await Promise.all(names.map((n) => VERBS[n]!()));
  for (const register of registers) register(program, ctx);
  program.hook('preAction', (_, action) => refuseEmptyPaths(action));
  return program;
}

/**
 * An empty path option (`--tree "$TREE"` with TREE unset) would mean the current folder:
 * refused, as a usage error naming the option, before any verb acts on it.
 */
export function refuseEmptyPaths(command: CommandType): void {
  for (const o of command.options) {
    if (!/<(dir|file|path)>/.test(o.flags)) continue;
    const v: unknown = command.getOptionValue(o.attributeName());
    if (typeof v === 'string' && v.trim() === '') {
      throw new KilnError('usage', `${o.long ?? o.short}: the path is empty`, { hint: `give a ${o.flags.includes('<dir>') ? 'directory' : 'file'}, or leave ${o.long ?? o.short} out${o.defaultValue === undefined ? '' : ' for its default'}` });
    }
  }
}

export async function main(argv: readonly string[], io?: Partial<Pick<CliContext, 'stdout' | 'stderr'>>): Promise<number> {
  const ctx: CliContext = { exitCode: 0, stdout: io?.stdout ?? process.stdout, stderr: io?.stderr ?? process.stderr };
  if (io?.stdout === undefined) endOnClosedPipe(process.stdout);
  if (io?.stderr === undefined) endOnClosedPipe(process.stderr);
  if (io === undefined) stopWithNpm();
  const program = await buildProgram(ctx, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0; `kiln` alone prints the help (to
      // stderr) and ends with 2.
      if (e.exitCode === 0 || HELP_CODES.has(e.code)) return e.exitCode === 0 ? 0 : 2;
      e = usageErrorOf(e, program, argv);
    }
    // A file-system error on a path (a missing directory, a file in the way, no permission)
    // that no verb turned into a KilnError is still the user's path, not a bug.
    e = pathErrorOf(e) ?? e;
    // With --json, the error is a JSON line on stdout too: a script reading stdout (the NDJSON
    // of `build --json`, whose last line is otherwise the summary) learns why kiln stopped.
    const json = argv.includes('--json');
    if (isKilnError(e)) {
      ctx.stderr.write(`kiln: error [${e.code}]: ${e.message}\n`);
      // A usage error without its own hint points at the verb's help.
      const hint = e.hint ?? (e.code === 'usage' ? `see \`${commandPath(program, argv)} --help\`` : undefined);
      if (hint !== undefined) ctx.stderr.write(`  hint: ${hint}\n`);
      if (json) ctx.stdout.write(`${JSON.stringify({ type: 'error', code: e.code, message: e.message, ...(hint === undefined ? {} : { hint }), exitCode: exitCodeFor(e) })}\n`);
      return exitCodeFor(e);
    }
    ctx.stderr.write(`kiln: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    ctx.stderr.write('  this is a bug in kiln; please report it with the command you ran\n');
    if (json) ctx.stdout.write(`${JSON.stringify({ type: 'error', code: 'internal', message: e instanceof Error ? e.message : String(e), exitCode: 70 })}\n`);
    return 70;
  }
}

/** commander's codes for help it printed itself (not an error to report). */
const HELP_CODES: ReadonlySet<string> = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

/** A commander parse error as kiln's `usage` error: its message without the `error: ` prefix, a hint naming the verb's help. */
export function usageErrorOf(e: CommanderError, program: CommandType, argv: readonly string[]): KilnError {
  // commander puts its suggestion on a line of its own: `unknown option '--jbos'\n(Did you mean --jobs?)`.
  let message = e.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\)$/, ' (did you mean $1)');
  const path = commandPath(program, argv);
  // A word another build tool uses for what kiln does under another name: say which.
  const word = /^unknown command '([^']+)'/.exec(message)?.[1];
  const instead = word !== undefined && path === program.name() ? OTHER_TOOLS_WORDS[word] : undefined;
  if (instead !== undefined) message = `unknown command '${word}': ${instead}`;
  // An unknown verb (or sub-verb, as in `kiln cache nosuch`): the list is in the parent's --help.
  const hint = e.code === 'commander.unknownCommand' ? `see \`${path} --help\` for the commands` : `see \`${path} --help\``;
  return new KilnError('usage', message, { hint });
}

/** Verbs of poudriere, sbuild, BitBake and make that kiln has under another name, and what to run instead. */
const OTHER_TOOLS_WORDS: Readonly<Record<string, string>> = {
  clean: '`kiln cache gc` removes old runs\' artifacts and logs; `kiln doctor --fix` removes what a killed run left; a package is built again with `kiln build --force NAME`',
  distclean: '`kiln cache gc` removes downloads and artifacts not used lately (see its --help)',
  why: '`kiln plan` says why each package would be built (`kiln plan NAME` for one), and `kiln history NAME` why it was',
  bulk: 'that is `kiln build` (a whole tree, or the packages named)',
  testport: 'that is `kiln build NAME` (`--keep-failed` keeps a failed build\'s workspace, `kiln shell NAME` enters it)',
  jail: 'kiln\'s build roots are envs: `kiln env create|list|update`',
  sbuild: 'that is `kiln build --debian SUITE SOURCE` (or `--dsc FILE`)',
  list: '`kiln plan` lists the packages of a tree and what would be built',
};

/** The (sub)command the arguments name, e.g. `kiln cache gc` for `cache gc --older-than 3x`. */
export function commandPath(program: CommandType, argv: readonly string[]): string {
  const names = [program.name()];
  let cmd = program;
  for (const word of argv) {
    if (word.startsWith('-')) break;
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub === undefined) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

/**
 * When the reader of kiln's output goes away (`kiln status | head -1`), writing fails with
 * EPIPE (EIO on a terminal that is gone); unhandled, that crashed kiln with a stack trace.
 * kiln ends as a writer to a closed pipe does: a running build stops its jobs, cleans up
 * and records them cancelled (exit 130), saying why (output-closed.ts); `logs -f` stops
 * following, `build --server` cancels, `serve` and `worker` stop as on SIGTERM; anything
 * else finishes what it does, printing nothing more.
 */
function endOnClosedPipe(stream: NodeJS.WriteStream): void {
  let ended = false;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // Once closed, what is still written goes nowhere (a write to the destroyed stream errs too).
    if (ended) return;
    if (e.code !== 'EPIPE' && e.code !== 'EIO') throw e;
    ended = true;
    outputClosed(e.code);
  });
}
