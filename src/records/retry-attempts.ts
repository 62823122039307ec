// What a job's --retry attempts were, read back from what its build recorded: execute-job.ts
// runs the attempts of one job inside one jobs row (one start, one end), and says them in
// words only, as a `retry:` warning of a build that passed on a later attempt, and as the
// end of the failure message of one that failed every time. `kiln status` and `kiln
// history` show them from here (text and --json).

/** The attempts of a job that --retry built more than once. */
export interface RetryRecord {
  /** The attempt whose outcome the row is (2: the first build failed, the second is this). */
  readonly attempt: number;
  /** What the earlier attempts failed with, as recorded: `attempt 1: the build script exited with status 1` (built), or the failures alone, `; `-separated (failed). */
  readonly earlier: string;
}

const BUILT_RE = /^retry: built on attempt (\d+), after (.*)$/s;
const FAILED_RE = /\(attempt (\d+); the (?:earlier one|\d+ earlier ones) failed too: (.*)\)$/s;

/** The retries of a row (its state, its warnings and cause), or undefined when it was built (or failed) at the first attempt. */
export function retryOf(state: string, row: { readonly warnings?: readonly string[] | null | undefined; readonly cause?: string | null | undefined }): RetryRecord | undefined {
  if (state === 'built') {
    for (const w of row.warnings ?? []) {
      const m = BUILT_RE.exec(w);
      if (m !== null) return { attempt: Number(m[1]), earlier: m[2]! };
    }
    return undefined;
  }
  if (state === 'failed' && row.cause !== null && row.cause !== undefined) {
    const m = FAILED_RE.exec(row.cause);
    if (m !== null) return { attempt: Number(m[1]), earlier: m[2]! };
  }
  return undefined;
}

/**
 * A built row's retries in words: `built on attempt 2 (attempt 1 failed: the build script
 * exited with status 1)`. (A failed row's cause says its attempts already.)
 */
export function retryText(r: RetryRecord): string {
  return `built on attempt ${r.attempt} (${r.earlier.replace(/(^|; )attempt (\d+): /g, '$1attempt $2 failed: ')})`;
}
