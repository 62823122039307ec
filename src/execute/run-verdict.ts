// How a build's run ended, as a job's result: a pure decision over what the sandbox
// reported (exit status, signal, why kiln killed it). execute-job.ts turns a failed
// verdict into the job's failure; a `maybeDiskFull` one is first checked against the
// workspace's disk, since a full disk fails builds for the machine's sake.

import type { FailureReason } from '../plan/job.ts';
import type { RunResult } from '../sandbox/sandbox.ts';
import { DEFAULT_PIDS } from '../sandbox/cgroups/values.ts';
import { humanBytes } from '../lib/human-bytes.ts';

export type RunVerdict =
  | { readonly kind: 'ran' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly message: string; readonly maybeDiskFull?: true };

export interface VerdictContext {
  /** The wall-clock limit the run had, and whether it came from --job-timeout rather than the recipe. */
  readonly timeoutMs?: number | undefined;
  readonly fromJobTimeout?: boolean;
  readonly silentTimeoutMs?: number | undefined;
  /** The memory limit the run had (the recipe's `memory`). */
  readonly memoryBytes?: number | undefined;
  /** What the loop watchdog said when it ended the run (logs/loop-watch.ts). */
  readonly loopMessage?: string | undefined;
  /** The run itself was cancelled (Ctrl-C, kiln cancel, --fail-fast elsewhere). */
  readonly aborted: boolean;
  /** A Debian build: its result is dpkg-buildpackage's. */
  readonly debian: boolean;
}

export function runVerdict(r: Pick<RunResult, 'exitCode' | 'signal' | 'killedFor'>, c: VerdictContext): RunVerdict {
  switch (r.killedFor) {
    case 'cancelled':
      // The loop watchdog ends a build as a cancellation would.
      return c.loopMessage !== undefined && !c.aborted ? { kind: 'failed', reason: 'looping', message: c.loopMessage } : { kind: 'cancelled' };
    case 'timeout':
      return { kind: 'failed', reason: 'timeout', message: `killed after the wall-clock limit of ${fmtMs(c.timeoutMs)}${c.fromJobTimeout === true ? ' (--job-timeout)' : ''}` };
    case 'silent':
      return { kind: 'failed', reason: 'silent', message: `killed after printing nothing for ${fmtMs(c.silentTimeoutMs)}` };
    case 'out-of-memory':
      // The cgroup's count of OOM kills does not tell its own limit from the machine running out.
      return { kind: 'failed', reason: 'out-of-memory', message: `killed when memory ran out: over its memory limit${c.memoryBytes === undefined ? '' : ` of ${humanBytes(c.memoryBytes)}`} (what it writes to /tmp counts too), or the machine's memory was used up` };
    case 'pids-limit':
      return { kind: 'failed', reason: 'pids-limit', message: `failed after a fork was refused at the sandbox's limit of processes (${DEFAULT_PIDS}): a runaway fork loop, or more parallel processes than a build may have` };
    case undefined:
      break;
  }
  if (r.signal === null && r.exitCode === 0) return { kind: 'ran' };
  const what = `${c.debian ? 'dpkg-buildpackage' : 'the build script'} ${r.signal !== null ? `was killed by ${r.signal}` : `exited with status ${r.exitCode}`}`;
  return { kind: 'failed', reason: r.signal !== null ? 'signal' : 'exit-status', message: what, maybeDiskFull: true };
}

/** A limit as a user wrote it: 2h, 30m, 90s. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return '?';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
