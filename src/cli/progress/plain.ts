// Progress as one plain line per event, no escape codes: for logs, CI and pipes.
// Up-to-date packages are counted, not listed (a no-change run of 10,000 packages
// should print a few lines, not 10,000).
//
// Lines are gathered and written at most every FLUSH_MS (a write per event was a system
// call per line, six per job with --json), at once when run-finished arrives, whenever
// kiln writes something else itself (flushProgress: the summary, notes and errors on
// stderr, the Ctrl-C message), and at process exit.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KilnEvent } from '../../events/events.ts';
import { describeReason } from '../../plan/reason.ts';
import { formatMs } from '../options.ts';
import { causeForTerminal } from '../../publish/report-diagnostics.ts';
import { readLogTail } from '../../publish/report.ts';
import { applyEvent, emptyModel } from './progress-model.ts';
import { positiveFromEnv } from '../../lib/env-number.ts';
import { printableLine } from '../../lib/printable-line.ts';

const FLUSH_MS = 50;
const FLUSH_BYTES = 64 * 1024;

/** The flush of every writer holding text, for flushProgress() and the exit hook. */
const holding = new Set<() => void>();
let exitHooked = false;

/**
 * Write out every progress line still gathered: before kiln writes anything else itself
 * (the summary, a note or an error on stderr), so that the output keeps its order.
 */
export function flushProgress(): void {
  for (const flush of [...holding]) flush();
}

/** A writer that gathers text for `out` (see the header); flush() writes it now. */
export function batchedWriter(out: NodeJS.WritableStream): { write(text: string): void; flush(): void } {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    holding.delete(flush);
    if (pending === '') return;
    const text = pending;
    pending = '';
    out.write(text);
  };
  return {
    write(text) {
      pending += text;
      holding.add(flush);
      if (!exitHooked) {
        exitHooked = true;
        process.once('exit', flushProgress);
      }
      if (pending.length >= FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    },
    flush,
  };
}

/** Lines of a failed build's log the plain output shows (a CI log has no report.html beside it). */
export const FAILED_TAIL_LINES = 15;

/** With builds running and nothing else printed for this long, say which (CI runners kill quiet steps). */
const QUIET_MS = positiveFromEnv('KILN_QUIET_MS', 5 * 60_000);

export function plainRenderer(out: NodeJS.WritableStream, options: { quietMs?: number } = {}): (e: KilnEvent) => void {
  const quietMs = options.quietMs ?? QUIET_MS;
  let t0 = Date.now();
  const w = batchedWriter(out);
  const stamp = (at: number): string => `[${((at - t0) / 1000).toFixed(1).padStart(6)}s]`;
  let lastLine = Date.now();
  const line = (at: number, what: string, text: string): void => {
    lastLine = Date.now();
    w.write(`${stamp(at)} ${what.padEnd(10)} ${text}\n`);
  };
  /** The running jobs and their phases, as the live view folds them. */
  const m = emptyModel();
  let quiet: NodeJS.Timeout | undefined;
  let ended = false;
  // One timer, due when the output will have been quiet for quietMs (not a fixed tick: a
  // 60 s tick said a 5-minute silence at 6 minutes), so no timer is set per line.
  const sayRunning = (): void => {
    if (ended) return;
    const now = Date.now();
    const left = quietMs - (now - lastLine);
    if (left <= 0 && m.running.size > 0) {
      for (const [id, r] of m.running) line(now, 'running', `${id} (${r.phase}, for ${formatMs(now - r.startedAt)})`);
      w.flush();
    }
    quiet = setTimeout(sayRunning, left > 0 ? left : quietMs).unref();
  };
  return (e) => {
    applyEvent(m, e);
    switch (e.type) {
      case 'run-started':
        t0 = e.at;
        w.write(`kiln: run ${e.runId}: ${e.total} package(s) for ${e.archs.join(', ')}, ${e.workers === undefined ? `up to ${e.atOnce ?? e.maxJobs} job(s) at once${e.atOnce === undefined ? '' : ` (--jobs ${e.maxJobs})`}` : `built by the workers of ${e.workers}, up to ${e.maxJobs} job(s) in flight`}\n`);
        quiet ??= setTimeout(sayRunning, quietMs).unref();
        return;
      case 'job-settled':
        if (e.state === 'up-to-date') return;
        line(e.at, e.state, `${e.jobId}${e.cause === undefined ? '' : `: ${causeForTerminal(e.cause, '                      ')}`}`);
        return;
      case 'job-started':
        line(e.at, 'start', `${e.jobId} (${describeReason(e.why)})`);
        return;
      case 'job-waiting':
      case 'job-phase':
        return;
      case 'job-finished': {
        const took = formatMs(e.at - e.startedAt);
        const log = e.log;
        if (e.state === 'failed') {
          // Paths under the working directory relative, as `kiln status` and the other causes show them.
          line(e.at, 'failed', `${e.jobId} after ${took}: ${e.failure === undefined ? 'failed' : causeForTerminal(e.failure.message, '           ')}`);
          if (e.keptWorkspace !== undefined) w.write(`           workspace kept at ${e.keptWorkspace}${keptHint(e.keptWorkspace)}\n`);
          // The end of its log, with its path: all a CI log shows of a failure.
          if (log !== undefined) {
            const tail = readLogTail(log, FAILED_TAIL_LINES);
            // Printable: a log's colours, title and clipboard sequences are not obeyed by the user's terminal.
            if (tail.length > 0) w.write(`           the last ${tail.length} lines of ${log}:\n${tail.map((l) => `           | ${printableLine(l)}\n`).join('')}`);
          }
        } else if (e.state === 'up-to-date') {
          line(e.at, 'unchanged', `${e.jobId}: ${e.cause ?? "its dependencies' outputs are unchanged (early cutoff)"}`);
        } else {
          line(e.at, e.state, `${e.jobId} in ${took}${e.binaryVersion === undefined ? '' : ` as the binNMU ${e.binaryVersion}`}`);
          for (const warning of e.warnings ?? []) w.write(`           warning: ${warning} (kiln logs ${e.name} says what to do)\n`);
        }
        return;
      }
      case 'run-finished':
        ended = true;
        clearTimeout(quiet);
        w.flush();
        return;
      case 'note':
        w.write(`kiln: ${e.text}\n`);
        return;
    }
  };
}

export function jsonRenderer(out: NodeJS.WritableStream): (e: KilnEvent) => void {
  const w = batchedWriter(out);
  return (e) => {
    w.write(`${JSON.stringify(e)}\n`);
    if (e.type === 'run-finished') w.flush();
  };
}

/** How to go on in a kept workspace: rebuild.sh is there when the build ran on the host. */
export function keptHint(dir: string): string {
  return existsSync(join(dir, 'rebuild.sh')) ? ` (bash ${join(dir, 'rebuild.sh')} re-runs the build; --shell opens a shell there)` : '';
}
