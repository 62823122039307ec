// kiln logs PKG: a job's log (default: its latest run); -f follows a running job.
//
// Which log: the run given with --run, else the newest run that has one of PKG or has it
// queued (a running run that will build it but has not started it yet). Within that run,
// PKG may have jobs on several arches: --arch picks one, else the host's arch if it is
// among them; otherwise kiln refuses and lists them (chooseArch).
//
// -f on a queued package says so, waits for it to start, then follows it; if the run ends
// first (the package skipped or cancelled) it fails as log-not-found. Following ends when
// the job ends, or when the kiln process that owns the run is gone (killed, out of
// memory): then the run is marked interrupted, a last line says so, and the exit status is 1.

import { recordsGoneNote } from '../records/db.ts';
import { closestName } from '../debian/closest-name.ts';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkArchOption } from '../debian/arch-names.ts';
import { KilnError } from '../errors.ts';
import { followLog } from '../logs/follow.ts';
import { whenOutputCloses } from './output-closed.ts';
import { rawLogFilter, writeRawLog } from '../logs/read-log.ts';
import { logExists, openLogText } from '../logs/log-compress.ts';
import { openRecords, runProcessGone, type JobRecord, type Records } from '../records/records.ts';
import { hostArch } from '../run/host-env.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, stateFlags, type StateOptions } from './options.ts';
import { addRemoteOptions, remoteFrom, type RemoteOptions } from './remote.ts';
import { remoteLogs } from './remote-views.ts';

interface LogsOpts extends StateOptions, RemoteOptions {
  run?: string;
  arch?: string;
  follow?: boolean;
  raw?: boolean;
}

/** How often -f looks at the records while waiting for a queued job to start. */
const QUEUED_POLL_MS = 250;

/**
 * The arch to show among those PKG has jobs on in one run: `wanted` if given (and there),
 * else the only one, else the host's, else a usage error listing them.
 */
export function chooseArch(name: string, runId: string, archs: readonly string[], wanted: string | undefined, host: string): string | undefined {
  if (wanted !== undefined) return archs.includes(wanted) ? wanted : undefined;
  if (archs.length <= 1) return archs[0];
  if (archs.includes(host)) return host;
  throw new KilnError('usage', `"${name}" has jobs on several architectures in run ${runId}: ${archs.join(', ')}; say which with --arch`, {
    hint: `e.g. \`kiln logs ${name} --run ${runId} --arch ${archs[0]}\``,
  });
}

type Pick =
  | { readonly kind: 'job'; readonly job: JobRecord }
  | { readonly kind: 'queued'; readonly runId: string; readonly jobId: string }
  | { readonly kind: 'none'; readonly runId: string | undefined };

/** The job whose log to show, or the queued job to wait for. */
function pickJob(records: Records, name: string, opts: LogsOpts): Pick {
  const byArch = (arch: string): boolean => opts.arch === undefined || arch === opts.arch;
  let runId = opts.run;
  if (runId === undefined) {
    const logged = records.history(name, { limit: 20, ...(opts.arch === undefined ? {} : { arch: opts.arch }) }).find((j) => j.log !== null);
    const queued = records.queued(name).find((q) => byArch(q.arch));
    runId = logged?.runId;
    // A package queued in a run newer than its last log: that run is the one to show;
    // unless that log is of a build running now (two runs sharing a state: the newer one
    // waits for the older one's build of it, which is what there is to follow).
    if (queued !== undefined && logged?.state !== 'running' && (logged === undefined || (records.getRun(queued.runId)?.startedAt ?? 0) >= (records.getRun(logged.runId)?.startedAt ?? 0))) {
      runId = queued.runId;
    }
    if (runId === undefined) return { kind: 'none', runId: undefined };
  }
  const started = records.jobsOfRun(runId).filter((j) => j.name === name && j.log !== null && byArch(j.arch));
  const queued = records.queued(name, { runId }).filter((q) => byArch(q.arch));
  const archs = [...new Set([...started.map((j) => j.arch), ...queued.map((q) => q.arch)])].sort();
  const arch = chooseArch(name, runId, archs, opts.arch, hostArch());
  const job = started.find((j) => j.arch === arch);
  if (job !== undefined) return { kind: 'job', job };
  const q = queued.find((x) => x.arch === arch);
  if (q !== undefined) return { kind: 'queued', runId, jobId: q.jobId };
  return { kind: 'none', runId };
}

export function registerLogs(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('logs')
    .description("print a package's build log (its latest run, or --run); -f follows a running build")
    .argument('<package>', 'package name')
    .option('--run <id>', 'the run (default: the latest run that has this package)')
    .option('--arch <arch>', "the architecture (default: the only one, else the host's)")
    .option('-f, --follow', 'keep printing as the log grows, until the job ends (a queued job is waited for)')
    .option('--raw', "only the build's own output as it printed it: no times, no tags, no kiln lines (for blhc, grep and other log scanners)");
  addStateOptions(cmd);
  addRemoteOptions(cmd);
  cmd.action(async (name: string, opts: LogsOpts) => {
    // `all`: the arch of an arch-independent package's job (doc@all).
    if (opts.arch !== undefined && opts.arch !== 'all') checkArchOption('--arch', opts.arch);
    // Against a daemon: --run is a build id (default: the newest build that ran PKG).
    const remote = remoteFrom(opts);
    if (remote !== undefined) return remoteLogs(remote, name, opts, ctx);
    const state = layoutFrom(opts);
    if (!existsSync(join(state.root, 'kiln.db'))) {
      throw new KilnError(opts.run === undefined ? 'log-not-found' : 'run-not-found', `no records in ${state.root}${recordsGoneNote(state.root)}`, { hint: 'run `kiln build` first, or point --state at the state directory' });
    }
    const records = openRecords(state.root);
    const controller = new AbortController();
    let interruptedByUser = false;
    const stop = (): void => {
      interruptedByUser = true;
      controller.abort();
    };
    // Ctrl-C ends following or waiting quietly (exit 130); printing a finished log it just
    // interrupts. A reader that went away (`| head`) ends following too.
    let catching = false;
    const catchSigint = (): void => {
      if (!catching) {
        process.once('SIGINT', stop);
        whenOutputCloses(() => controller.abort());
      }
      catching = true;
    };
    try {
      // A run whose kiln died is not running: it must not look queued or followable.
      const interrupted = new Set(records.markInterruptedRuns());
      // An unknown --run is not a package without a log: say so as `kiln status RUN` does.
      if (opts.run !== undefined && records.getRun(opts.run) === undefined) {
        throw new KilnError('run-not-found', `no run "${opts.run}" in ${state.root}`, { hint: 'list runs with `kiln status --runs`' });
      }
      const picked = pickJob(records, name, opts);
      let job: JobRecord;
      if (picked.kind === 'none') {
        // A name no run ever had is likely a typo: say so, rather than that it did not run.
        const names = records.packageNames();
        if (!names.includes(name)) {
          const near = closestName(name, names, name.length <= 5 ? 1 : 2);
          throw new KilnError('package-not-found', `no package "${name}" in the records of ${state.root}${near === undefined ? '' : ` (did you mean "${near}"?)`}`, {
            hint: 'give a package of a run of this state directory (`kiln status` lists the last run\'s), or the state directory of the runs with --state',
          });
        }
        throw new KilnError('log-not-found', `no log of "${name}"${picked.runId === undefined ? '' : ` in run ${picked.runId}`}${opts.arch === undefined ? '' : ` on ${opts.arch}`} in ${state.root}`, {
          hint: `only packages that ran have logs (up-to-date, broken and skipped ones do not); see \`kiln status${stateFlags(opts)}\``,
        });
      } else if (picked.kind === 'queued') {
        if (!opts.follow) {
          throw new KilnError('log-not-found', `${picked.jobId} is queued in run ${picked.runId} and has not started yet: no log so far`, {
            hint: `\`kiln logs ${name} -f\` waits for it to start and follows it`,
          });
        }
        ctx.stderr.write(`kiln: ${picked.jobId} is queued in run ${picked.runId}; waiting for it to start\n`);
        catchSigint();
        const started = await waitForStart(records, picked.runId, picked.jobId, controller.signal);
        if (started === undefined) return; // Ctrl-C while waiting
        job = started;
      } else {
        job = picked.job;
        // Not the newest run (where it did not run, or has no log): say whose log this is.
        if (opts.run === undefined && records.latestRun()?.id !== job.runId) ctx.stderr.write(`kiln: ${job.jobId} in run ${job.runId}, the newest run with a log of it\n`);
      }
      const logPath = job.log!;
      if (opts.follow && job.state === 'running') {
        catchSigint();
        let gone = false;
        const isDone = (): boolean => {
          const now = records.jobsOfRun(job.runId).find((j) => j.log === logPath);
          if (now === undefined || now.state !== 'running') return true;
          const run = records.getRun(job.runId);
          gone = run !== undefined && runProcessGone(run);
          return gone;
        };
        const raw = opts.raw === true ? rawLogFilter() : undefined;
        for await (const line of followLog(logPath, { signal: controller.signal, fromStart: true, isDone })) {
          const text = raw === undefined ? `${line}\n` : raw(line);
          if (text !== undefined) ctx.stdout.write(text);
        }
        if (gone) {
          records.markInterruptedRuns();
          interruptedLine(ctx, job, records);
        }
        return;
      }
      if (!logExists(logPath)) throw new KilnError('log-not-found', `the log ${logPath} is gone`, { hint: 'logs are removed by `kiln cache gc` with old runs' });
      // A large finished log is kept compressed (logs/log-compress.ts): all of it, decompressed.
      const text = await openLogText(logPath);
      if (opts.raw === true) {
        await writeRawLog(text, (line) => ctx.stdout.write(line));
      } else {
        for await (const chunk of text) ctx.stdout.write(chunk as Buffer);
      }
      // Following a job whose kiln had already died (found out just now): say so, as above.
      if (opts.follow && interrupted.has(job.runId) && job.state === 'cancelled') interruptedLine(ctx, job, records);
    } finally {
      // Ctrl-C while following: exit 130, as the exit statuses table says of SIGINT.
      if (interruptedByUser) ctx.exitCode = 130;
      process.off('SIGINT', stop);
      if (catching) whenOutputCloses(undefined);
      records.close();
    }
  });
}

/** The last line of -f when the run's kiln process is gone; exit status 1. */
function interruptedLine(ctx: CliContext, job: JobRecord, records: Records): void {
  const pid = records.getRun(job.runId)?.pid;
  ctx.stderr.write(`kiln: the kiln process of run ${job.runId}${pid == null ? '' : ` (pid ${pid})`} is gone (killed or crashed): ${job.jobId} was interrupted\n`);
  ctx.exitCode = 1;
}

/**
 * Wait until a queued job has a jobs row with a log (then return it). If it settles
 * without running, or its run ends (or its kiln dies) first: log-not-found. undefined
 * when `signal` aborts.
 */
async function waitForStart(records: Records, runId: string, jobId: string, signal: AbortSignal): Promise<JobRecord | undefined> {
  for (;;) {
    const row = records.jobsOfRun(runId).find((j) => j.jobId === jobId);
    if (row !== undefined && row.log !== null) return row;
    if (row !== undefined) {
      throw new KilnError('log-not-found', `${jobId} did not run in run ${runId}: it was ${row.state}${row.cause === null ? '' : ` (${row.cause})`}`, {
        hint: 'only packages that ran have logs; see `kiln status`',
      });
    }
    const run = records.getRun(runId);
    if (run === undefined || run.state !== 'running') {
      throw new KilnError('log-not-found', `run ${runId} ended (${run?.state ?? 'removed'}) before ${jobId} started: it has no log`, {
        hint: `see \`kiln status ${runId}\``,
      });
    }
    // Its kiln died: mark the run interrupted; the next look finds it ended.
    if (runProcessGone(run)) {
      records.markInterruptedRuns();
      continue;
    }
    try {
      await sleep(QUEUED_POLL_MS, undefined, { signal });
    } catch {
      return undefined;
    }
  }
}
