// kiln history PKG: every recorded build of a package, newest first.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { openRecords } from '../records/records.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, formatMs, layoutFrom, parsePositive, type StateOptions } from './options.ts';

export function registerHistory(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('history')
    .description('the recorded builds of a package, newest first')
    .argument('<package>', 'package name')
    .option('--arch <arch>', 'only this architecture')
    .option('-n, --limit <n>', 'at most N entries', parsePositive('--limit'), 20)
    .option('--json', 'print as JSON');
  addStateOptions(cmd);
  cmd.action((name: string, opts: StateOptions & { arch?: string; limit: number; json?: boolean }) => {
    const state = layoutFrom(opts);
    if (!existsSync(join(state.root, 'kiln.db'))) throw new KilnError('package-not-found', `no records in ${state.root}`, { hint: 'run `kiln build` first' });
    using records = openRecords(state.root);
    const rows = records.history(name, { limit: opts.limit, ...(opts.arch === undefined ? {} : { arch: opts.arch }) });
    if (rows.length === 0) throw new KilnError('package-not-found', `no recorded builds of "${name}" in ${state.root}`, { hint: 'check the name with `kiln plan`' });
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    for (const r of rows) {
      const when = r.startedAt === null ? '' : new Date(r.startedAt).toISOString();
      const dur = r.durationMs === null ? '' : formatMs(r.durationMs);
      ctx.stdout.write(
        `${r.runId}  ${`${r.name}@${r.arch}`.padEnd(28)} ${r.version.padEnd(10)} ${r.state.padEnd(10)} ${when.padEnd(24)} ${dur.padStart(8)}  ${r.why?.kind ?? ''}${r.cause === null ? '' : ` ${r.cause}`}\n`,
      );
    }
  });
}
