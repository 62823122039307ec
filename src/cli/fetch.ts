// kiln fetch [TARGET...] [--makesum]: every source a build of the targets (and their build
// dependencies) would download, into the downloads cache, verified; nothing built
// (run/fetch-tree.ts). One line per source; --json: one JSON line per event, the summary last.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_FILE } from '../debian/debian-file.ts';
import { humanBytes } from '../lib/human-bytes.ts';
import { assertTreeHasPackages } from '../run/prepare-plan.ts';
import type { FetchEvent } from '../run/fetch-tree.ts';
import type { CliContext } from './main.ts';
import { withInterrupt } from './interrupt.ts';
import type { OptionSetting } from '../plan/options.ts';
import { addStateOptions, collectOption, formatMs, layoutFrom, collectArchList, parsePositive, type StateOptions } from './options.ts';

interface FetchOpts extends StateOptions {
  tree: string;
  arch?: string[];
  makesum?: boolean;
  jobs: number;
  json?: boolean;
  option?: OptionSetting[];
}

export function registerFetch(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('fetch')
    .description('download every source the targets (and their build dependencies) need into the downloads cache, checking each sha256; nothing is built')
    .argument('[targets...]', 'package names or globs; default: every package of the tree')
    .option('--tree <dir>', 'the recipe tree', '.')
    .option('--arch <list>', 'target architectures, comma-separated (default: kiln.toml archs, else this machine\'s); repeated, they add up', collectArchList)
    .option('--makesum', 'first fetch each source of the targets\' own recipes that has no sha256 yet, and write its sha256 into the recipe (check it against the checksum upstream publishes)')
    .option('--option <setting>', 'as kiln build --option: the sources of what a recipe option that is on needs are fetched too (repeatable)', collectOption)
    .option('-j, --jobs <n>', 'downloads at once', parsePositive('--jobs'), 4)
    .option('--json', 'one JSON line per source, the summary last');
  addStateOptions(cmd);
  cmd.action(async (targets: string[], opts: FetchOpts) => {
    assertTreeHasPackages(opts.tree, undefined);
    if (existsSync(join(opts.tree, DEBIAN_FILE))) {
      ctx.stderr.write(`kiln fetch: ${join(opts.tree, DEBIAN_FILE)}'s source packages are not fetched (a build fetches them, with their suite's indexes); the tree's recipes are\n`);
    }
    const state = layoutFrom(opts);
    const { fetchTree } = await import('../run/fetch-tree.ts');
    // Ctrl-C: exit 130, the error saying what is kept (cli/interrupt.ts).
    const summary = await withInterrupt(ctx, (signal) => fetchTree({
      treeDir: opts.tree,
      cacheDir: state.cache,
      targets,
      archs: opts.arch,
      makesum: opts.makesum === true,
      ...(opts.option === undefined ? {} : { options: opts.option }),
      note: (t) => ctx.stderr.write(`kiln fetch: ${t}\n`),
      jobs: opts.jobs,
      signal,
      say: (e) => ctx.stdout.write(opts.json === true ? `${JSON.stringify(e)}\n` : eventLine(e)),
    }), { what: 'what was fetched whole is kept, nothing half-written' });
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify({ type: 'summary', ...summary })}\n`);
    else {
      const parts = [`${summary.fetched} fetched`, `${summary.cached} already in the cache`, `${summary.failed} failed`];
      if (summary.broken > 0) parts.push(`${summary.broken} package(s) broken, their sources unknown (kiln plan says why)`);
      if (summary.written > 0) parts.push(`${summary.written} sha256 written by --makesum`);
      ctx.stdout.write(`kiln fetch: ${summary.sources} source(s): ${parts.join(', ')}; cache ${state.cache}\n`);
    }
    ctx.exitCode = summary.failed > 0 || summary.broken > 0 ? 1 : 0;
  });
}

function eventLine(e: FetchEvent): string {
  const forWhom = (p: readonly string[]): string => (p.length <= 3 ? p.join(', ') : `${p.slice(0, 3).join(', ')} and ${p.length - 3} more`);
  // A git source by its url and commit.
  const source = (s: { url: string; rev?: string }): string => (s.rev === undefined ? s.url : `${s.url}@${s.rev}`);
  switch (e.type) {
    case 'source':
      if (e.via !== undefined) return `in the cache: ${source(e)} (${forWhom(e.packages)}): the same file, fetched from ${e.via} in this run; this url was not asked\n`;
      return e.state === 'cached' ? `in the cache: ${source(e)} (${forWhom(e.packages)})\n` : `fetched: ${source(e)} in ${formatMs(e.ms)} (${forWhom(e.packages)})\n`;
    case 'source-failed':
      return `FAILED: ${source(e)} (${forWhom(e.packages)}): ${e.message}${e.hint === undefined ? '' : `\n  hint: ${e.hint}`}\n`;
    case 'broken':
      return `broken: ${e.name}: ${e.why.split('\n')[0]}\n`;
    case 'makesum':
      return e.written
        ? `${e.file}: ${e.key} = "${e.sha256}" written (${e.url}, ${humanBytes(e.bytes)}: compare it with the checksum upstream publishes)\n`
        : `${e.file}: ${e.key} = "${e.sha256}" (${e.url}, ${humanBytes(e.bytes)}): not written (the recipe does not give this source its own [[sources]] table with a one-line url, or the source changed meanwhile): add the line by hand\n`;
    case 'makesum-failed':
      return `FAILED: ${e.file}: ${e.key}: ${e.url}: ${e.message}\n`;
  }
}
