// The loop watchdog. A build that prints the same line over and over (a retry loop, a
// `while true; do echo waiting; done`) is never silent, so the silent timeout never ends
// it, and the log limit only keeps it from filling the disk: an OBS job printed in a
// tight loop for ten hours. This ends it, with failure reason `looping`, once the last
// lines of its output were all one line, repeated more than minRepeats times (10,000) for
// longer than its limit (the recipe's loop-timeout, 30 min by default; 0: off).
//
// "The same line": equal once trailing whitespace (spaces, tabs, carriage returns) is
// dropped and every run of digits counts as one digit (`retrying (attempt 1234)` repeats
// `retrying (attempt 1233)`). Both conditions must hold, so a real build's progress lines
// (a counter printed 20,000 times in a minute, a wait printed once a minute for an hour)
// are left alone; any other line between two repetitions starts the count again.
//
// It runs for every line of every build, so it is cheap: one comparison with the
// previous line (memcmp; a byte walk only when that differs), a counter, and the clock
// read when a repetition starts and then only past minRepeats. No regex, no copy: the
// line is kept by reference (a job log's chunks are never reused, job-log.ts).

import { positiveFromEnv } from '../lib/env-number.ts';

/** The default of a recipe's `loop-timeout`: how long one line may repeat. */
export const DEFAULT_LOOP_TIMEOUT_MS = 30 * 60 * 1000;
/** How many times in a row, at least, it must have repeated too. */
export const DEFAULT_LOOP_MIN_REPEATS = 10_000;
/** Most characters of the repeated line a failure message shows. */
const SHOWN_CHARS = 200;

/** What tripped the watchdog. */
export interface LoopTrip {
  /** The last of the repeated lines, as printed (trailing whitespace dropped). */
  readonly line: string;
  /** Lines in a row that were "the same", the first included. */
  readonly repeats: number;
  /** Time from the first repetition to the last. */
  readonly forMs: number;
}

export interface LoopWatchOptions {
  readonly limitMs: number;
  /** Default DEFAULT_LOOP_MIN_REPEATS (KILN_LOOP_MIN_REPEATS in kiln's environment, for tests). */
  readonly minRepeats?: number;
  /** Clock, for tests (default performance.now). */
  readonly now?: () => number;
}

export interface LoopWatch {
  /** One complete line of the build's output: the trip, the first time the limit is passed. */
  line(body: Buffer): LoopTrip | undefined;
}

export function newLoopWatch(o: LoopWatchOptions): LoopWatch {
  const now = o.now ?? (() => performance.now());
  const minRepeats = o.minRepeats ?? DEFAULT_LOOP_MIN_REPEATS;
  let prev: Buffer | undefined;
  let repeats = 0;
  let since = 0;
  let tripped = false;
  return {
    line(body) {
      if (tripped) return undefined;
      if (prev === undefined || !sameLine(prev, body)) {
        prev = body;
        repeats = 1;
        return undefined;
      }
      prev = body;
      if (++repeats === 2) since = now();
      if (repeats <= minRepeats) return undefined;
      const forMs = now() - since;
      if (forMs <= o.limitMs) return undefined;
      tripped = true;
      return { line: body.subarray(0, trimmedEnd(body)).toString(), repeats, forMs };
    },
  };
}

/** Whether two lines are "the same" (see the header): trailing whitespace dropped, digit runs alike. */
export function sameLine(a: Buffer, b: Buffer): boolean {
  if (a.length === b.length && a.equals(b)) return true;
  const ea = trimmedEnd(a);
  const eb = trimmedEnd(b);
  let i = 0;
  let j = 0;
  while (i < ea && j < eb) {
    const x = a[i]!;
    const y = b[j]!;
    if (isDigit(x) && isDigit(y)) {
      while (i < ea && isDigit(a[i]!)) i++;
      while (j < eb && isDigit(b[j]!)) j++;
      continue;
    }
    if (x !== y) return false;
    i++;
    j++;
  }
  return i === ea && j === eb;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The length of a line without its trailing spaces, tabs and carriage returns. */
function trimmedEnd(b: Buffer): number {
  let e = b.length;
  while (e > 0 && (b[e - 1] === 32 || b[e - 1] === 9 || b[e - 1] === 13)) e--;
  return e;
}

/** What a job's failure says when the watchdog ended it: the line, how often and how long, what to do. */
export function loopMessage(trip: LoopTrip, limitMs: number): string {
  const shown = trip.line.length > SHOWN_CHARS ? `${trip.line.slice(0, SHOWN_CHARS)}…` : trip.line;
  return `killed for printing the same line ${trip.repeats} times in a row for ${fmtMs(trip.forMs)} (loop-timeout ${fmtMs(limitMs)}; digits may differ): ${JSON.stringify(shown)}. `
    + 'Fix the loop in the build (a retry without an end, a prompt answered forever); if this output is what the build should print, '
    + 'raise the limit with loop-timeout in the recipe\'s [build] (or kiln.toml [defaults] loop-timeout; for Debian source packages loop-timeout in debian.toml; or kiln build --loop-timeout) (0 turns it off)';
}

/** The watchdog of one build attempt, as execute-job.ts uses it: it aborts `signal` when the output loops. */
export interface LoopGuard {
  /** Aborted once the output loops: the command is then ended (as a cancellation, which the caller tells apart). */
  readonly signal: AbortSignal;
  /** Feed each complete line of the build's output. */
  line(body: Buffer): void;
  /** Set once the output looped: the failure's message. */
  readonly message: string | undefined;
}

/** The guard for a limit (0: off, no guard). */
export function loopGuard(limitMs: number, o: { minRepeats?: number; now?: () => number } = {}): LoopGuard | undefined {
  if (limitMs <= 0) return undefined;
  const controller = new AbortController();
  const watch = newLoopWatch({ limitMs, minRepeats: o.minRepeats ?? envMinRepeats, ...(o.now === undefined ? {} : { now: o.now }) });
  let message: string | undefined;
  return {
    signal: controller.signal,
    line(body) {
      const trip = watch.line(body);
      if (trip === undefined) return;
      message = loopMessage(trip, limitMs);
      controller.abort(new Error('the build printed the same line in a loop'));
    },
    get message() {
      return message;
    },
  };
}

/** KILN_LOOP_MIN_REPEATS: a smaller count, for tests (read once). */
const envMinRepeats = positiveFromEnv('KILN_LOOP_MIN_REPEATS', DEFAULT_LOOP_MIN_REPEATS, { integer: true });

function fmtMs(ms: number): string {
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)}h`;
  if (ms >= 60_000) return `${+(ms / 60_000).toFixed(1)}m`;
  return `${+(ms / 1000).toFixed(1)}s`;
}
