// kiln history PKG: every recorded build of a package, newest first, as a table under a
// header row; a cause spanning lines (an invalid recipe's problems) continues indented.
// Runs that found the package up to date when planning record no row of it: not listed.

import { recordsGoneNote } from '../records/db.ts';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { openRecords } from '../records/records.ts';
import type { JobRecord } from '../records/record-types.ts';
import { retryText } from '../records/retry-attempts.ts';
import { describeReason } from '../plan/reason.ts';
import { causeForTerminal } from '../publish/report-diagnostics.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, formatMs, layoutFrom, parsePositive, type StateOptions } from './options.ts';
import { checkArchOption } from '../debian/arch-names.ts';
import { closestName } from '../debian/closest-name.ts';

export function registerHistory(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('history')
    .description('the recorded builds of a package, newest first')
    .argument('<package>', 'package name')
    .option('--arch <arch>', 'only this architecture', (a: string) => (a === 'all' ? a : checkArchOption('--arch', a)))
    .option('-n, --limit <n>', 'at most N entries', parsePositive('--limit'), 20)
    .option('--json', 'print as JSON');
  addStateOptions(cmd);
  cmd.action((name: string, opts: StateOptions & { arch?: string; limit: number; json?: boolean }) => {
    const state = layoutFrom(opts);
    // history reads this machine's records; a daemon's builds are in the daemon's.
    const remote = process.env['KILN_SERVER'] !== undefined && process.env['KILN_SERVER'] !== '' ? ` (kiln history reads the local records only, not the daemon's at KILN_SERVER: use \`kiln status --runs --server URL\` there)` : '';
    if (!existsSync(join(state.root, 'kiln.db'))) throw new KilnError('package-not-found', `no records in ${state.root}${recordsGoneNote(state.root)}`, { hint: `run \`kiln build\` first${remote}` });
    using records = openRecords(state.root);
    // A run whose kiln is gone is not running: its jobs show as interrupted (as kiln status says).
    records.markInterruptedRuns();
    const rows = records.history(name, { limit: opts.limit, ...(opts.arch === undefined ? {} : { arch: opts.arch }) });
    if (rows.length === 0 && opts.arch !== undefined) {
      // Builds of other arches: say which, rather than that the package is unknown.
      const others = [...new Set(records.history(name, { limit: 1000 }).map((r) => r.arch))].sort();
      if (others.length > 0) {
        throw new KilnError('package-not-found', `no recorded builds of "${name}" for ${opts.arch} in ${state.root}; it has builds for ${others.join(', ')}`, {
          hint: `leave --arch out, or give one of them, e.g. \`kiln history ${name} --arch ${others[0]}\``,
        });
      }
    }
    if (rows.length === 0) {
      const names = records.packageNames();
      const near = names.includes(name) ? undefined : closestName(name, names, name.length <= 5 ? 1 : 2);
      throw new KilnError('package-not-found', `no recorded builds of "${name}" in ${state.root}${near === undefined ? '' : ` (did you mean "${near}"?)`}`, { hint: `check the name with \`kiln plan\`${remote}` });
    }
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    ctx.stdout.write(historyText(rows));
  });
}

/** Columns of the table: heading, cell, right-aligned. */
const COLUMNS: readonly (readonly [string, (r: JobRecord) => string, boolean?])[] = [
  ['RUN', (r) => r.runId],
  ['PACKAGE', (r) => `${r.name}@${r.arch}`],
  ['VERSION', (r) => (r.binaryVersion === undefined ? r.version : `${r.version} (${r.binaryVersion})`)],
  ['STATE', (r) => r.state],
  ['STARTED', (r) => (r.startedAt === null ? '' : new Date(r.startedAt).toISOString())],
  // (≥: cut off by its kiln's death, it ran at least until its run's last sign of life.)
  ['TOOK', (r) => (r.durationMs === null ? '' : `${r.endApproximate === true ? '≥' : ''}${formatMs(r.durationMs)}`), true],
  ['WHY', (r) => (r.why === null ? '' : describeReason(r.why))],
];

/** The history table (see the header): one line per row, columns padded to their widest cell. */
export function historyText(rows: readonly JobRecord[], cwd = process.cwd()): string {
  const cells = rows.map((r) => COLUMNS.map(([, cell]) => cell(r)));
  const widths = COLUMNS.map(([head], i) => Math.max(head.length, ...cells.map((c) => c[i]!.length)));
  const line = (parts: readonly string[], last: string): string =>
    [...parts.map((p, i) => (COLUMNS[i]![2] === true ? p.padStart(widths[i]!) : p.padEnd(widths[i]!))), last].join('  ').trimEnd();
  // The last column: the cause, or for a build --retry made on a later attempt, which and why.
  const notes = rows.map((r) => (r.cause !== null ? causeForTerminal(r.cause, '      ', cwd) : r.state === 'built' && r.retry !== undefined ? retryText(r.retry) : ''));
  return [
    // CAUSE when a row has one; NOTE when the column only says which attempt built a package.
    line(COLUMNS.map(([head]) => head), rows.some((r) => r.cause !== null) ? 'CAUSE' : notes.some((n) => n !== '') ? 'NOTE' : ''),
    ...rows.map((_, i) => line(cells[i]!, notes[i]!)),
  ].map((l) => `${l}\n`).join('');
}
