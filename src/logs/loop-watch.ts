// The loop watchdog. A build that prints the same output over and over (a retry loop, a
// `while true; do echo waiting; done`) is never silent, so the silent timeout never ends
// it, and the log limit only keeps it from filling the disk: an OBS job printed in a
// tight loop for ten hours. This ends it, with failure reason `looping`, once the last
// lines of its output were one line, or one cycle of up to MAX_PERIOD lines (a retry
// loop's "connecting… / refused / retrying in 5 s"), repeated more than minRepeats times
// (10,000) for longer than its limit (the recipe's loop-timeout, 30 min by default; 0: off).
//
// "The same line": equal once trailing whitespace (spaces, tabs, carriage returns) is
// dropped and every run of digits counts as one digit (`retrying (attempt 1234)` repeats
// `retrying (attempt 1233)`). Both conditions must hold, so a real build's progress lines
// (a counter printed 20,000 times in a minute, a wait printed once a minute for an hour)
// are left alone; any other line in the cycle starts the count again.
//
// It runs for every line of every build, so it is cheap: a hash of the line's first bytes
// (digits and trailing whitespace as sameLine sees them), compared with the hashes of the
// MAX_PERIOD lines before it; a full comparison only when a hash matches; the clock read
// when a repetition starts and then only past minRepeats. No regex, no copy: the lines
// are kept by reference (a job log's chunks are never reused, job-log.ts).

import { positiveFromEnv } from '../lib/env-number.ts';

/** The default of a recipe's `loop-timeout`: how long one line may repeat. */
export const DEFAULT_LOOP_TIMEOUT_MS = 30 * 60 * 1000;
/** How many times in a row, at least, it must have repeated too. */
export const DEFAULT_LOOP_MIN_REPEATS = 10_000;
/** Most characters of the repeated line a failure message shows. */
const SHOWN_CHARS = 200;
/** The longest cycle of lines it sees as one repetition. */
export const MAX_PERIOD = 8;
/** How many bytes of a line its hash covers (a match is then compared whole). */
const HASHED_BYTES = 256;

/** What tripped the watchdog. */
export interface LoopTrip {
  /** The repeated cycle's lines (one for a single line), as last printed (trailing whitespace dropped). */
  readonly lines: readonly string[];
  /** Times in a row the cycle was printed, the first included. */
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
  // The last MAX_PERIOD lines and their hashes, line n at n % MAX_PERIOD.
  const ring: Buffer[] = [];
  const hashes = new Int32Array(MAX_PERIOD);
  // run[p]: how many lines in a row were the same as the line p before each;
  // since[p]: when the first of them came.
  const run = new Array<number>(MAX_PERIOD + 1).fill(0);
  const since = new Array<number>(MAX_PERIOD + 1).fill(0);
  let n = 0;
  let tripped = false;
  return {
    line(body) {
      if (tripped) return undefined;
      const h = lineHash(body);
      let t: number | undefined;
      let trip: LoopTrip | undefined;
      for (let p = 1; p <= MAX_PERIOD; p++) {
        const back = (n - p) % MAX_PERIOD;
        if (n < p || hashes[back] !== h || !sameLine(ring[back]!, body)) {
          run[p] = 0;
          continue;
        }
        if (++run[p]! === 1) since[p] = t ??= now();
        // A cycle of p lines printed k times in a row: (k - 1) × p lines the same as p before.
        const repeats = 1 + Math.floor(run[p]! / p);
        if (trip !== undefined || run[p]! < p || repeats <= minRepeats) continue;
        const forMs = (t ??= now()) - since[p]!;
        if (forMs <= o.limitMs) continue;
        // The cycle's lines in the order the loop prints them, from its first line on.
        const last = [];
        for (let i = p - 1; i >= 1; i--) last.push(shown(ring[(n - i) % MAX_PERIOD]!));
        last.push(shown(body));
        // (The first of these p lines is line run[p] % p of a round.)
        const k = (p - (run[p]! % p)) % p;
        trip = { lines: [...last.slice(k), ...last.slice(0, k)], repeats, forMs };
      }
      ring[n % MAX_PERIOD] = body;
      hashes[n % MAX_PERIOD] = h;
      n++;
      if (trip !== undefined) tripped = true;
      return trip;
    },
  };
}

function shown(b: Buffer): string {
  return b.subarray(0, trimmedEnd(b)).toString();
}

/**
 * FNV-1a over a line's first HASHED_BYTES characters as sameLine sees them: a digit run is
 * one '0', trailing whitespace is dropped. Counted after that (not in raw bytes), so that a
 * number of varying length near the limit does not make lines sameLine calls equal differ.
 */
export function lineHash(b: Buffer): number {
  const e = trimmedEnd(b);
  let h = 0x811c9dc5;
  for (let i = 0, n = 0; i < e && n < HASHED_BYTES; i++, n++) {
    let c = b[i]!;
    if (isDigit(c)) {
      while (i + 1 < e && isDigit(b[i + 1]!)) i++;
      c = 48;
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h | 0;
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

/** What a job's failure says when the watchdog ended it: the line(s), how often and how long, what to do. */
export function loopMessage(trip: LoopTrip, limitMs: number): string {
  const quoted = trip.lines.map((l) => JSON.stringify(l.length > SHOWN_CHARS ? `${l.slice(0, SHOWN_CHARS)}…` : l)).join(' / ');
  const what = trip.lines.length === 1 ? 'the same line' : `the same ${trip.lines.length} lines`;
  return `killed for printing ${what} ${trip.repeats} times in a row for ${fmtMs(trip.forMs)} (loop-timeout ${fmtMs(limitMs)}; digits may differ): ${quoted}. `
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
      controller.abort(new Error('the build printed the same output in a loop'));
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
