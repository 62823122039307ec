// Progress as one plain line per event, no escape codes: for logs, CI and pipes.
// Up-to-date packages are counted, not listed (a no-change run of 10,000 packages
// should print a few lines, not 10,000).

import type { KilnEvent } from '../../events/events.ts';
import { describeReason } from '../../plan/reason.ts';
import { formatMs } from '../options.ts';

export function plainRenderer(out: NodeJS.WritableStream): (e: KilnEvent) => void {
  let t0 = Date.now();
  const stamp = (at: number): string => `[${((at - t0) / 1000).toFixed(1).padStart(6)}s]`;
  const line = (at: number, what: string, text: string): void => {
    out.write(`${stamp(at)} ${what.padEnd(10)} ${text}\n`);
  };
  return (e) => {
    switch (e.type) {
      case 'run-started':
        t0 = e.at;
        out.write(`kiln: run ${e.runId}: ${e.total} package(s) for ${e.archs.join(', ')}, up to ${e.maxJobs} job(s) at once\n`);
        return;
      case 'job-settled':
        if (e.state === 'up-to-date') return;
        line(e.at, e.state, `${e.jobId}${e.cause === undefined ? '' : `: ${e.cause}`}`);
        return;
      case 'job-started':
        line(e.at, 'start', `${e.jobId} (${describeReason(e.why)})`);
        return;
      case 'job-phase':
        return;
      case 'job-finished': {
        const took = formatMs(e.at - e.startedAt);
        if (e.state === 'failed') {
          line(e.at, 'failed', `${e.jobId} after ${took}: ${e.failure?.message ?? 'failed'}`);
        } else if (e.state === 'up-to-date') {
          line(e.at, 'unchanged', `${e.jobId}: its dependencies' outputs are unchanged (early cutoff)`);
        } else {
          line(e.at, e.state, `${e.jobId} in ${took}`);
        }
        return;
      }
      case 'run-finished':
        return;
      case 'note':
        out.write(`kiln: ${e.text}\n`);
        return;
    }
  };
}

export function jsonRenderer(out: NodeJS.WritableStream): (e: KilnEvent) => void {
  return (e) => {
    out.write(`${JSON.stringify(e)}\n`);
  };
}
