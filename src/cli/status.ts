// kiln status [RUN]: a run's state and its packages (default: the latest run).

import { recordsGoneNote } from '../records/db.ts';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { buildReport, type ReportPackage } from '../publish/report.ts';
import type { RunRecord } from '../records/record-types.ts';
import { openRecords } from '../records/records.ts';
import { cutOff } from '../records/interrupted.ts';
import { retryOf, retryText } from '../records/retry-attempts.ts';
import type { CliContext } from './main.ts';
import { causeForTerminal } from '../publish/report-diagnostics.ts';
import { addStateOptions, formatMs, layoutFrom, parsePositive, countsText, summaryCounts, type StateOptions } from './options.ts';
import { addRemoteOptions, remoteFrom, type RemoteOptions } from './remote.ts';
import { remoteStatus } from './remote-views.ts';

export function registerStatus(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('status')
    .description("a run's state, counts and packages (default: the latest run); --runs lists recent runs")
    .argument('[run]', 'run id')
    .option('--runs [n]', 'list the last N runs instead (default 20)', parsePositive('--runs'))
    .option('--json', 'print as JSON');
  addStateOptions(cmd);
  addRemoteOptions(cmd);
  cmd.action(async (runArg: string | undefined, opts: StateOptions & RemoteOptions & { json?: boolean; runs?: number | boolean }) => {
    // Against a daemon: RUN is a build id (default: the newest build), --runs lists builds.
    const remote = remoteFrom(opts);
    if (remote !== undefined) return remoteStatus(remote, runArg, { ...opts, runs: typeof opts.runs === 'number' ? String(opts.runs) : opts.runs }, ctx);
    const state = layoutFrom(opts);
    if (!existsSync(join(state.root, 'kiln.db'))) {
      throw new KilnError('run-not-found', `no records in ${state.root}${recordsGoneNote(state.root)}`, { hint: 'run `kiln build` first, or point --state at the state directory' });
    }
    using records = openRecords(state.root);
    records.markInterruptedRuns();
    if (opts.runs !== undefined) {
      const runs = records.listRuns({ limit: typeof opts.runs === 'number' ? opts.runs : 20 });
      if (opts.json) ctx.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      else ctx.stdout.write(runsText(runs));
      return;
    }
    const run = runArg === undefined ? records.latestRun() : records.getRun(runArg);
    if (run === undefined) {
      throw new KilnError('run-not-found', runArg === undefined ? `no runs recorded in ${state.root}` : `no run "${runArg}" in ${state.root}`, {
        hint: 'list runs with `kiln status --runs`',
      });
    }
    const report = buildReport(records, run.id);
    // A live run: the report counts what has settled; the jobs still running come from
    // their rows (the report leaves them out until they finish).
    const now = Date.now();
    const running = run.state === 'running'
      ? records.jobsOfRun(run.id).filter((j) => j.state === 'running').map((j) => ({ name: j.name, arch: j.arch, since: j.startedAt === null ? null : new Date(j.startedAt).toISOString(), forMs: j.startedAt === null ? null : now - j.startedAt }))
      : [];
    const reportHtml = join(state.runs, run.id, 'report.html');
    // Its kiln died: the end is its last sign of life, not when it stopped (not known).
    const lastSign = run.interrupted === true && run.endedAt !== null ? new Date(run.endedAt).toISOString() : undefined;
    if (opts.json) {
      // Each package built on a later --retry attempt says which, and what the earlier ones failed with.
      const packages = report.packages.map((p) => {
        const retry = retryOf(p.state, p);
        return retry === undefined ? p : { ...p, retry };
      });
      ctx.stdout.write(`${JSON.stringify({ state: run.state, ...(lastSign === undefined ? {} : { interrupted: true, lastSignOfLife: lastSign }), ...report, packages, ...(run.state === 'running' ? { total: run.total, running } : {}) }, null, 2)}\n`);
      return;
    }
    const c = report.counts;
    const settled = report.packages.length;
    ctx.stdout.write(
      `run ${run.id}: ${run.state}${lastSign === undefined ? '' : ` (interrupted; last sign of life at ${lastSign})`}, started ${report.start}${report.end === null ? '' : `, took ${lastSign === undefined ? '' : AT_LEAST}${formatMs(Date.parse(report.end) - Date.parse(report.start))}`}\n` +
        (run.state === 'running' ? `  ${settled} of ${run.total ?? '?'} settled, ${running.length} running\n` : '') +
        `  ${summaryCounts(c)}\n`,
    );
    for (const j of running) {
      const since = j.since === null ? '' : `since ${j.since.slice(11, 19)}Z (${formatMs(j.forMs!)})`;
      ctx.stdout.write(`  ${'running'.padEnd(10)} ${`${j.name}@${j.arch}`.padEnd(32)} ${''.padStart(8)}  ${since}`.trimEnd() + '\n');
    }
    const order = ['failed', 'broken', 'skipped', 'cancelled', 'built', 'up-to-date'];
    const pkgs = [...report.packages].sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state));
    for (const p of pkgs) {
      if (p.state === 'up-to-date' && pkgs.length > 50) continue;
      const dur = p.durationMs === null ? '' : `${cutOff(p) ? AT_LEAST : ''}${formatMs(p.durationMs)}`;
      ctx.stdout.write(`  ${p.state.padEnd(10)} ${`${p.name}@${p.arch}`.padEnd(32)} ${dur.padStart(8)}  ${packageNote(p)}`.trimEnd() + '\n');
    }
    // Written every 30 s while the run goes (run-build.ts), and when it ends.
    if (existsSync(reportHtml)) ctx.stdout.write(`report: ${reportHtml}${run.state === 'running' ? ' (rewritten every 30 s while the run goes)' : ''}\n`);
    else if (run.state === 'running') ctx.stdout.write('report: written 30 s after the run started, and again every 30 s until it ends\n');
  });
}

/** Marks a duration that ran at least this long: a job cut off by its kiln's death, whose end is not known. */
const AT_LEAST = '≥';

/**
 * The last column of a package's line: its cause (why it failed, was skipped, broken or
 * cancelled); a built package's reason to build, labelled (a bare `forced` beside a
 * cancelled package would read as why it was cancelled), and the attempt --retry built it
 * on; else nothing.
 */
export function packageNote(p: Pick<ReportPackage, 'state' | 'cause' | 'why' | 'whyText' | 'worker' | 'warnings' | 'restricted'>, cwd = process.cwd()): string {
  if (p.cause !== null) return `${causeForTerminal(p.cause, '      ', cwd)}${p.worker === undefined ? '' : ` (worker ${p.worker})`}`;
  // Never published nor served (recipe key `restricted`): said wherever its state is.
  const restricted = p.restricted === undefined ? [] : [`restricted: ${p.restricted}`];
  if (p.state !== 'built') return restricted.join('');
  const retry = retryOf(p.state, p);
  const notes = [
    ...(p.why === null ? [] : [`why: ${p.whyText ?? p.why}${p.worker === undefined ? '' : `, worker ${p.worker}`}`]),
    ...(retry === undefined ? [] : [retryText(retry)]),
    ...restricted,
  ];
  return notes.join('; ');
}

/** `status --runs`: one line per run, each column padded to its widest cell (durations right-aligned). */
export function runsText(runs: readonly Pick<RunRecord, 'id' | 'state' | 'startedAt' | 'endedAt' | 'counts' | 'interrupted'>[]): string {
  // An interrupted run lasted at least until its last sign of life.
  const rows = runs.map((r) => [r.id, r.state, new Date(r.startedAt).toISOString(), r.endedAt === null ? 'running' : `${r.interrupted === true ? AT_LEAST : ''}${formatMs(r.endedAt - r.startedAt)}`, r.counts === null ? '' : countsText(r.counts)]);
  const width = (i: number): number => Math.max(0, ...rows.map((c) => c[i]!.length));
  const [id, state, started, took] = [width(0), width(1), width(2), width(3)];
  return rows.map(([a, b, c, d, e]) => `${a!.padEnd(id)}  ${b!.padEnd(state)}  ${c!.padEnd(started)}  ${d!.padStart(took)}  ${e}`.trimEnd() + '\n').join('');
}

