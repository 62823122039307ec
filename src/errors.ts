// Expected failures are KilnErrors with a stable kebab-case code. One table maps each
// code to a process exit status and an HTTP status; anything else thrown is a bug.

export const errorCodes = {
  'usage': { exit: 2, http: 400 },
  'config-invalid': { exit: 2, http: 400 },
  'tree-not-found': { exit: 2, http: 404 },
  'tree-empty': { exit: 2, http: 422 },
  'recipe-invalid': { exit: 1, http: 422 },
  /** 400, not 404: refused in the body of POST /builds, the endpoint exists (server/precheck.ts). */
  'target-not-found': { exit: 2, http: 400 },
  'checksum-mismatch': { exit: 1, http: 502 },
  'download-failed': { exit: 1, http: 502 },
  /** A daemon's fetch to an address its policy does not allow (lib/fetch-guard.ts): loopback, private, link-local… */
  'fetch-refused': { exit: 1, http: 403 },
  'source-not-found': { exit: 1, http: 404 },
  'mirror-unknown': { exit: 2, http: 400 },
  /** A daemon build's `debian.suite` that the Debian mirror does not have: refused at submit time (server/precheck.ts). */
  'suite-not-found': { exit: 2, http: 422 },
  'unsafe-path': { exit: 1, http: 400 },
  'artifact-missing': { exit: 1, http: 500 },
  /** A cached artifact's archive does not match its meta.json (truncated, missing, altered): the entry is removed. */
  'artifact-corrupt': { exit: 1, http: 500 },
  'archive-failed': { exit: 1, http: 500 },
  /** An arch-specific package's output holds ELF files for another machine (the `arch` output check). */
  'wrong-arch': { exit: 1, http: 422 },
  /** An output check other than arch (symlinks, buildpaths, hierarchy, permissions) refused what a build installed (execute/output-checks.ts). */
  'bad-output': { exit: 1, http: 422 },
  'run-not-found': { exit: 2, http: 404 },
  'package-not-found': { exit: 2, http: 404 },
  'log-not-found': { exit: 2, http: 404 },
  /** A daemon build's report.json/html or junit.xml: no run of it has started, its run is gone (gc), or junit.xml of a run still going. */
  'report-not-found': { exit: 2, http: 404 },
  'records-schema-newer': { exit: 2, http: 500 },
  /** The state directory's kiln.db is not (or no longer) a SQLite database: moved aside, kiln starts new records. */
  'records-damaged': { exit: 2, http: 500 },
  'sandbox-unavailable': { exit: 2, http: 503 },
  /** A daemon build that names no env where the daemon builds only in envs: the client's to fix (422), not the daemon's trouble (503). */
  'env-required': { exit: 2, http: 422 },
  'sandbox-failed': { exit: 1, http: 500 },
  'env-not-found': { exit: 2, http: 404 },
  'env-exists': { exit: 2, http: 409 },
  'env-in-use': { exit: 1, http: 409 },
  'env-failed': { exit: 1, http: 502 },
  'signature-invalid': { exit: 1, http: 502 },
  'index-invalid': { exit: 1, http: 502 },
  'conflict': { exit: 1, http: 409 },
  /** `kiln rootfs`: a runtime depends of a package to install that nothing in the package index satisfies. */
  'depends-unmet': { exit: 1, http: 422 },
  /** `kiln rootfs`: two packages to install ship the same file path. */
  'file-conflict': { exit: 1, http: 409 },
  'deb-invalid': { exit: 1, http: 422 },
  'key-not-found': { exit: 2, http: 404 },
  /** `kiln token revoke` of an id or tenant no live token has. */
  'token-not-found': { exit: 2, http: 404 },
  'key-exists': { exit: 2, http: 409 },
  'key-invalid': { exit: 2, http: 500 },
  'tool-missing': { exit: 2, http: 503 },
  'tool-failed': { exit: 1, http: 500 },
  'not-in-archive': { exit: 1, http: 404 },
  'cancelled': { exit: 130, http: 499 },
  'too-large': { exit: 1, http: 413 },
  'bundle-not-found': { exit: 2, http: 404 },
  'server-stopping': { exit: 1, http: 503 },
  /** A tenant with kiln serve --max-queued builds queued already submits another (server/queue.ts). */
  'too-many-builds': { exit: 1, http: 429 },
  /** The daemon could not store a request: its disk is full. */
  'server-disk-full': { exit: 1, http: 503 },
  /** A daemon build the server died under too many times in a row: failed, not run again. */
  'build-interrupted': { exit: 1, http: 500 },
  'server-unreachable': { exit: 1, http: 502 },
  'build-ended': { exit: 1, http: 409 },
  'build-not-ended': { exit: 1, http: 409 },
  'unauthorized': { exit: 2, http: 401 },
  'forbidden': { exit: 2, http: 403 },
  'path-unusable': { exit: 2, http: 500 },
  /** The daemon has no such endpoint (or docs file): a client of another kiln version, or a typo in a URL. */
  'not-found': { exit: 2, http: 404 },
  /** The daemon has that endpoint, but not for the request's method (the answer's `Allow` lists the ones it has). */
  'method-not-allowed': { exit: 2, http: 405 },
  /** The daemon's answer to an unexpected error (a bug, logged by the daemon); exit 70 like a local bug. */
  'internal': { exit: 70, http: 500 },
  /** `--server` answered, but not as a kiln daemon does (another web server, a proxy's error page). */
  'server-not-kiln': { exit: 1, http: 502 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorCode = keyof typeof errorCodes;

export class KilnError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.hint = options?.hint;
  }
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}

/** The daemon's JSON for an error: `{error: {code, message, hint}}` (docs/api.md). */
export function errorBody(e: KilnError): { error: { code: ErrorCode; message: string; hint?: string } } {
  return { error: { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) } };
}

export function exitCodeFor(e: unknown): number {
  return isKilnError(e) ? errorCodes[e.code].exit : 70;
}

export function httpStatusFor(e: unknown): number {
  return isKilnError(e) ? errorCodes[e.code].http : 500;
}

/** An exhaustive-switch guard: the type checker fails if a case is missing. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
