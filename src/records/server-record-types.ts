// The shapes of the daemon's tables in the records database (server-records.ts holds
// their queries): tokens, builds and their states, who cancelled one, uploaded bundles,
// job resource samples; and how a row of each becomes its record.

import type { Row } from './db.ts';

export type BuildState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const BUILD_STATES: readonly BuildState[] = ['queued', 'running', 'done', 'failed', 'cancelled'];

export interface TokenRecord {
  readonly id: string;
  readonly tenant: string;
  readonly admin: boolean;
  /** It may only look (GET, HEAD): every other request is a 403 (server/auth.ts). Combines with admin. */
  readonly readOnly: boolean;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  /** null: never. */
  readonly expiresAt: number | null;
  /** Its last request, to a minute (kiln token list); null: never used. */
  readonly lastUsedAt: number | null;
}

export interface BuildRecord {
  readonly id: string;
  readonly tenant: string;
  readonly tree: string;
  /** The accepted request body (JSON-decoded). */
  readonly request: unknown;
  readonly priority: number;
  readonly state: BuildState;
  readonly runId: string | null;
  readonly error: string | null;
  /** The KilnError code of an error that failed the build as a whole (with error its message). */
  readonly errorCode: string | null;
  readonly errorHint: string | null;
  readonly retryOf: string | null;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  /** Runs of this build that a stop or crash interrupted, oldest first (their logs are earlier attempts). */
  readonly priorRuns: readonly string[];
  /** Whose token cancelled it (set when the cancel is asked for, while a running build stops); null when nobody did. */
  readonly cancelledBy: Canceller | null;
}

/** Who asked for a cancel: the token's tenant, and whether the token is an admin's. */
export interface Canceller {
  readonly tenant: string;
  readonly admin: boolean;
}

/** A canceller in words, as the build's error and the daemon's log say it: `alice`, `ops (admin)`. */
export function cancellerText(by: Canceller): string {
  return by.admin ? `${by.tenant} (admin)` : by.tenant;
}

export interface BundleRecord {
  readonly tenant: string;
  readonly id: string;
  readonly sha256: string;
  /** Uploaded (compressed) bytes. */
  readonly size: number;
  readonly entries: number;
  /** Extracted bytes. */
  readonly bytes: number;
  readonly createdAt: number;
}

export interface JobSampleRecord {
  readonly runId: string;
  readonly jobId: string;
  readonly at: number;
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
}

export interface NewBuild {
  readonly tenant: string;
  readonly tree: string;
  readonly request: unknown;
  readonly priority?: number;
  readonly retryOf?: string;
  readonly createdAt?: number;
}

/** Tenant names: what a token create accepts (also what shows in URLs and metrics). */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function toBundle(r: Row): BundleRecord {
  return {
    tenant: String(r['tenant']),
    id: String(r['id']),
    sha256: String(r['sha256']),
    size: Number(r['size']),
    entries: Number(r['entries']),
    bytes: Number(r['bytes']),
    createdAt: Number(r['created_at']),
  };
}

export function toSample(r: Row): JobSampleRecord {
  return {
    runId: String(r['run_id']),
    jobId: String(r['job_id']),
    at: Number(r['at']),
    cpuCores: Number(r['cpu_cores']),
    memoryBytes: Number(r['memory_bytes']),
    diskBytes: Number(r['disk_bytes']),
  };
}

export function toToken(r: Row): TokenRecord {
  return {
    id: String(r['id']),
    tenant: String(r['tenant']),
    admin: Number(r['admin']) === 1,
    readOnly: Number(r['read_only'] ?? 0) === 1,
    createdAt: Number(r['created_at']),
    revokedAt: r['revoked_at'] === null ? null : Number(r['revoked_at']),
    expiresAt: r['expires_at'] === null || r['expires_at'] === undefined ? null : Number(r['expires_at']),
    lastUsedAt: r['last_used_at'] === null || r['last_used_at'] === undefined ? null : Number(r['last_used_at']),
  };
}

export function toBuild(r: Row): BuildRecord {
  const n = (k: string): number | null => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
  const s = (k: string): string | null => (r[k] === null || r[k] === undefined ? null : String(r[k]));
  return {
    id: String(r['id']),
    tenant: String(r['tenant']),
    tree: String(r['tree']),
    request: JSON.parse(String(r['request'])) as unknown,
    priority: Number(r['priority']),
    state: String(r['state']) as BuildState,
    runId: s('run_id'),
    error: s('error'),
    errorCode: s('error_code'),
    errorHint: s('error_hint'),
    retryOf: s('retry_of'),
    createdAt: Number(r['created_at']),
    startedAt: n('started_at'),
    endedAt: n('ended_at'),
    priorRuns: r['prior_runs'] === undefined || r['prior_runs'] === null ? [] : (JSON.parse(String(r['prior_runs'])) as string[]),
    cancelledBy: r['cancelled_by'] === null || r['cancelled_by'] === undefined ? null : { tenant: String(r['cancelled_by']), admin: Number(r['cancelled_by_admin']) === 1 },
  };
}
