// kiln serve: run the build daemon (REST API, tenant queues) until SIGTERM or SIGINT.

import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { KilnError } from '../errors.ts';
import { SANDBOX_CHOICES, type SandboxChoice } from '../sandbox/choose-backend.ts';
import { createApp } from '../server/app.ts';
import { listen, parseListen } from '../server/listen.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, parseJobs, type StateOptions } from './options.ts';

interface ServeOpts extends StateOptions {
  listen: string;
  tree: string[];
  maxConcurrentBuilds?: number;
  jobs?: number;
  sandbox?: SandboxChoice;
}

export function parseTreeFlag(text: string, previous: string[] = []): string[] {
  return [...previous, text];
}

export function treesFrom(flags: readonly string[], cwd = process.cwd()): Map<string, string> {
  const trees = new Map<string, string>();
  for (const f of flags) {
    const eq = f.indexOf('=');
    const name = eq <= 0 ? '' : f.slice(0, eq);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new KilnError('usage', `--tree: expected NAME=DIR (e.g. main=./recipes), got "${f}"`);
    const dir = resolve(cwd, f.slice(eq + 1));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new KilnError('tree-not-found', `--tree ${name}: ${dir} is not a directory`);
    if (trees.has(name)) throw new KilnError('usage', `--tree: the name "${name}" is given twice`);
    trees.set(name, dir);
  }
  return trees;
}

function maxConcurrentFromEnv(): number | undefined {
  const v = process.env['KILN_MAX_CONCURRENT_BUILDS'];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new KilnError('config-invalid', `KILN_MAX_CONCURRENT_BUILDS: expected a whole number of at least 1, got "${v}"`);
  return n;
}

export function registerServe(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('serve')
    .description('run the build daemon: a REST API under /api/v1 (bearer tokens from `kiln token create`), builds queued per tenant')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--tree <name=dir>', 'a tree clients may build by NAME (repeatable)', parseTreeFlag, [])
    .option('--max-concurrent-builds <n>', 'builds of different tenants at once (default: $KILN_MAX_CONCURRENT_BUILDS, else 2)', parseJobs)
    .option('-j, --jobs <n>', 'job slots of this machine, shared by the running builds (default: number of cores)', parseJobs)
    .addOption(new Option('--sandbox <kind>', 'where builds run (default: kiln.toml sandbox, else auto)').choices(SANDBOX_CHOICES));
  addStateOptions(cmd);
  cmd.action(async (opts: ServeOpts) => {
    const where = parseListen(opts.listen);
    const state = layoutFrom(opts);
    const trees = treesFrom(opts.tree);
    const maxConcurrentBuilds = opts.maxConcurrentBuilds ?? maxConcurrentFromEnv() ?? 2;
    const kiln = createApp({
      state,
      trees,
      maxConcurrentBuilds,
      ...(opts.jobs === undefined ? {} : { slots: opts.jobs }),
      ...(opts.sandbox === undefined ? {} : { sandbox: opts.sandbox }),
      onError: (m) => ctx.stderr.write(`kiln serve: ${m}\n`),
    });
    let server;
    try {
      server = await listen(kiln, where);
    } catch (e) {
      await kiln.close();
      throw e;
    }
    ctx.stderr.write(
      `kiln serve: listening on ${server.url} (state ${state.root}; trees: ${[...trees.keys()].join(', ') || 'none'}; ` +
        `${maxConcurrentBuilds} concurrent builds)\n` +
        (kiln.requeued.length > 0 ? `kiln serve: re-queued ${kiln.requeued.length} build(s) interrupted by the last server: ${kiln.requeued.join(', ')}\n` : ''),
    );
    await new Promise<void>((done) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        ctx.stderr.write(`kiln serve: ${sig}: no longer accepting; stopping running builds (they will resume at the next start)\n`);
        void server.stop().then(done, (e: unknown) => {
          ctx.stderr.write(`kiln serve: error while stopping: ${String(e)}\n`);
          ctx.exitCode = 1;
          done();
        });
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    ctx.stderr.write('kiln serve: stopped\n');
  });
}
