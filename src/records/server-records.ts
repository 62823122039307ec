// The daemon's tables in the records database: bearer tokens (stored as sha256 of the
// token only) and the build queue. Like records.ts, the only place that speaks SQL for
// them; the queue logic (which build runs next) lives in src/server/queue.ts.
// Also web sessions, uploaded bundles and job resource samples. Their record shapes, and
// the mapping of a row to each, are server-record-types.ts.

import { randomBytes } from 'node:crypto';
import type { SQLInputValue } from 'node:sqlite';
import { KilnError } from '../errors.ts';
import { sha256 } from '../lib/hash.ts';
import { openDatabaseIn, recordsPath, SqlStore } from './db.ts';
import { cancellerText, TENANT_PATTERN, toBuild, toBundle, toSample, toToken, type BuildRecord, type BuildState, type BundleRecord, type Canceller, type JobSampleRecord, type NewBuild, type TokenRecord } from './server-record-types.ts';

/** A token's last use is written at most this often. */
const LAST_USED_STEP_MS = 60_000;


export function openServerRecords(stateDir: string): ServerRecords {
  return new ServerRecords(openDatabaseIn(stateDir), recordsPath(stateDir));
}

export class ServerRecords extends SqlStore {
  // ---- tokens -------------------------------------------------------------------------

  /** Create a token; the secret is returned once and only its hash is stored. */
  createToken(tenant: string, options: { admin?: boolean; readOnly?: boolean; now?: number; expiresAt?: number } = {}): { id: string; token: string } {
    if (!TENANT_PATTERN.test(tenant)) {
      throw new KilnError('usage', `tenant "${tenant}" is not a valid name`, {
        hint: 'use 1-64 characters: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit',
      });
    }
    const id = randomBytes(4).toString('hex');
    const token = `kiln_${id}_${randomBytes(24).toString('base64url')}`;
    this.stmt('INSERT INTO tokens (id, tenant, admin, read_only, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      id, tenant, options.admin === true ? 1 : 0, options.readOnly === true ? 1 : 0, sha256(token), options.now ?? Date.now(), options.expiresAt ?? null,
    );
    return { id, token };
  }

  /**
   * The live (not revoked, not expired) token with this secret, or undefined. Its last use
   * is recorded, at most once a minute (clients poll every half second).
   */
  tokenFor(secret: string, now = Date.now()): TokenRecord | undefined {
    const row = this.stmt('SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)').get(sha256(secret), now);
    if (row === undefined) return undefined;
    const token = toToken(row);
    if (token.lastUsedAt === null || now - token.lastUsedAt >= LAST_USED_STEP_MS) {
      // Best effort: a full disk or a busy database must not refuse a good token.
      try {
        this.stmt('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now, token.id);
      } catch {
        // the next request tries again
      }
    }
    return token;
  }

  // ---- web sessions -------------------------------------------------------------------

  /**
   * Why a secret is not a live token: revoked or expired (when), or unknown. Only the
   * holder of that very secret learns it (its hash is the lookup).
   */
  deadToken(secret: string, now = Date.now()): { readonly why: 'revoked' | 'expired'; readonly at: number } | undefined {
    const row = this.stmt('SELECT * FROM tokens WHERE hash = ?').get(sha256(secret));
    if (row === undefined) return undefined;
    const t = toToken(row);
    if (t.revokedAt !== null) return { why: 'revoked', at: t.revokedAt };
    if (t.expiresAt !== null && t.expiresAt <= now) return { why: 'expired', at: t.expiresAt };
    return undefined;
  }

  /** A new session of this token for `ttlMs`: the cookie's secret (only its hash is kept). */
  createSession(tokenId: string, ttlMs: number, now = Date.now()): string {
    const secret = randomBytes(32).toString('base64url');
    // Ended sessions go as new ones come: the table holds only live ones and a few more.
    this.stmt('DELETE FROM sessions WHERE expires_at <= ?').run(now);
    this.stmt('INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)').run(sha256(secret), tokenId, now, now + ttlMs);
    return secret;
  }

  /** The token of a live session (its token still live too), or undefined. */
  sessionToken(secret: string, now = Date.now()): TokenRecord | undefined {
    const row = this.stmt(
      `SELECT tokens.* FROM sessions JOIN tokens ON tokens.id = sessions.token_id
       WHERE sessions.hash = ? AND sessions.expires_at > ? AND tokens.revoked_at IS NULL AND (tokens.expires_at IS NULL OR tokens.expires_at > ?)`,
    ).get(sha256(secret), now, now);
    return row === undefined ? undefined : toToken(row);
  }

  endSession(secret: string): void {
    this.stmt('DELETE FROM sessions WHERE hash = ?').run(sha256(secret));
  }

  /** Revoke the token with this id, else every token of the tenant with this name; the ids revoked. */
  revokeTokens(idOrTenant: string, now = Date.now()): string[] {
    const rows = this.stmt(
      `UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND (id = ? OR tenant = ?) RETURNING id`,
    ).all(now, idOrTenant, idOrTenant);
    return rows.map((r) => String(r['id']));
  }

  listTokens(): TokenRecord[] {
    return this.stmt('SELECT * FROM tokens ORDER BY created_at, rowid').all().map(toToken);
  }

  // ---- builds -------------------------------------------------------------------------

  insertBuild(b: NewBuild): BuildRecord {
    const id = `b${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    const row = this.stmt(
      `INSERT INTO builds (id, tenant, tree, request, priority, state, retry_of, created_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) RETURNING *`,
      // all(), not get(): get() stops at the returned row, and node:sqlite then drops the
      // error of the commit that follows (SQLITE_FULL on a full disk): the caller would be
      // told of a build that was never stored.
    ).all(id, b.tenant, b.tree, JSON.stringify(b.request), b.priority ?? 0, b.retryOf ?? null, b.createdAt ?? Date.now())[0];
    return toBuild(row!);
  }

  getBuild(id: string): BuildRecord | undefined {
    const row = this.stmt('SELECT * FROM builds WHERE id = ?').get(id);
    return row === undefined ? undefined : toBuild(row);
  }

  /** Newest first; one tenant's, or everyone's when tenant is undefined. */
  listBuilds(options: { tenant?: string | undefined; state?: BuildState | undefined; limit?: number } = {}): BuildRecord[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (options.tenant !== undefined) {
      where.push('tenant = ?');
      params.push(options.tenant);
    }
    if (options.state !== undefined) {
      where.push('state = ?');
      params.push(options.state);
    }
    params.push(options.limit ?? 100);
    const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    return this.stmt(`SELECT * FROM builds ${clause} ORDER BY created_at DESC, rowid DESC LIMIT ?`)
      .all(...params)
      .map(toBuild);
  }

  /** Queued builds in submission order (the queue picks each tenant's first). */
  queuedBuilds(): BuildRecord[] {
    return this.stmt(`SELECT * FROM builds WHERE state = 'queued' ORDER BY rowid`).all().map(toBuild);
  }

  /** queued → running; false when the build was no longer queued (cancelled meanwhile). */
  markStarted(id: string, now = Date.now()): boolean {
    const r = this.stmt(`UPDATE builds SET state = 'running', started_at = ?, ended_at = NULL, error = NULL, error_code = NULL, error_hint = NULL WHERE id = ? AND state = 'queued'`).run(now, id);
    return Number(r.changes) === 1;
  }

  setRunId(id: string, runId: string): void {
    this.stmt('UPDATE builds SET run_id = ? WHERE id = ?').run(runId, id);
  }

  markEnded(id: string, end: { state: 'done' | 'failed' | 'cancelled'; error?: string | undefined; errorCode?: string | undefined; errorHint?: string | undefined; now?: number }): void {
    this.stmt('UPDATE builds SET state = ?, error = ?, error_code = ?, error_hint = ?, ended_at = ? WHERE id = ?')
      .run(end.state, end.error ?? null, end.errorCode ?? null, end.errorHint ?? null, end.now ?? Date.now(), id);
  }

  /** Cancel a build that has not started, noting who asked; false when it is no longer queued. */
  cancelQueued(id: string, options: { by?: Canceller | undefined; now?: number } = {}): boolean {
    const by = options.by;
    const error = by === undefined ? 'cancelled before it started' : `cancelled by ${cancellerText(by)} before it started`;
    const r = this.stmt(`UPDATE builds SET state = 'cancelled', ended_at = ?, error = ?, cancelled_by = ?, cancelled_by_admin = ? WHERE id = ? AND state = 'queued'`)
      .run(options.now ?? Date.now(), error, by?.tenant ?? null, by === undefined ? null : by.admin ? 1 : 0, id);
    return Number(r.changes) === 1;
  }

  /**
   * Note who cancelled a running build, as the cancel is asked for (the build ends
   * cancelled once its jobs stop). The first cancel is the one that stops it: a second
   * one does not replace its name. False when the build is not running.
   */
  markCancelling(id: string, by: Canceller): boolean {
    const r = this.stmt(`UPDATE builds SET cancelled_by = ?, cancelled_by_admin = ? WHERE id = ? AND state = 'running' AND cancelled_by IS NULL`).run(by.tenant, by.admin ? 1 : 0, id);
    return Number(r.changes) === 1;
  }

  /** Put a build back in the queue (it keeps its place: the queue orders by rowid). */
  requeue(id: string, note: string): void {
    this.stmt(`UPDATE builds SET state = 'queued', ${KEEP_PRIOR_RUN}, run_id = NULL, started_at = NULL, error = ? WHERE id = ?`).run(note, id);
  }

  /**
   * At start: builds a dead server left running go back to the queue, unless this is the
   * MAX_INTERRUPTIONS-th time the server died under one: a build that kills its daemon
   * (a poison build) would otherwise bring it down at every restart. The ids of each.
   */
  requeueInterrupted(now = Date.now()): { requeued: string[]; failed: string[]; cancelled: string[] } {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // Someone had cancelled it and the server died before it stopped: it ends cancelled, not run again.
      const cancelled = this.stmt(
        `UPDATE builds SET state = 'cancelled', ended_at = ?,
           error = 'cancelled by ' || cancelled_by || CASE WHEN cancelled_by_admin = 1 THEN ' (admin)' ELSE '' END || ' (the server stopped before the build did)'
         WHERE state = 'running' AND cancelled_by IS NOT NULL RETURNING id`,
      ).all(now);
      // Its last run stays its run (its report and jobs, as far as they got); the ones before are its priorRuns.
      const failed = this.stmt(
        `UPDATE builds SET state = 'failed', interrupted = interrupted + 1, ended_at = ?,
           error = 'interrupted ${MAX_INTERRUPTIONS} times: the server died while this build ran, each time; not queued again (a build that brings the server down?)',
           error_code = 'build-interrupted',
           error_hint = 'GET /api/v1/builds/' || id || '/jobs lists its jobs as its last run left them, with each attempt of the runs before and its log; fix the tree and submit it again'
         WHERE state = 'running' AND interrupted + 1 >= ${MAX_INTERRUPTIONS} RETURNING id`,
      ).all(now);
      const requeued = this.stmt(
        `UPDATE builds SET state = 'queued', ${KEEP_PRIOR_RUN}, run_id = NULL, started_at = NULL, interrupted = interrupted + 1,
           error = 'interrupted: the server stopped while it ran; queued again'
         WHERE state = 'running' RETURNING id`,
      ).all();
      this.db.exec('COMMIT');
      return { requeued: requeued.map((r) => String(r['id'])), failed: failed.map((r) => String(r['id'])), cancelled: cancelled.map((r) => String(r['id'])) };
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  countsByState(): Record<BuildState, number> {
    const out: Record<BuildState, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    for (const r of this.stmt('SELECT state, count(*) AS n FROM builds GROUP BY state').all()) {
      out[r['state'] as BuildState] = Number(r['n']);
    }
    return out;
  }

  // ---- bundles ------------------------------------------------------------------------

  insertBundle(b: Omit<BundleRecord, 'createdAt'> & { createdAt?: number }): BundleRecord {
    const row = this.stmt(
      `INSERT INTO bundles (tenant, id, sha256, size, entries, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      // all(): see insertBuild.
    ).all(b.tenant, b.id, b.sha256, b.size, b.entries, b.bytes, b.createdAt ?? Date.now())[0];
    return toBundle(row!);
  }

  /** The tenant's bundle with this id (another tenant's namesake is not visible). */
  getBundle(tenant: string, id: string): BundleRecord | undefined {
    const row = this.stmt('SELECT * FROM bundles WHERE tenant = ? AND id = ?').get(tenant, id);
    return row === undefined ? undefined : toBundle(row);
  }

  /** The bytes (as extracted) of all of a tenant's stored bundles (the quota). */
  bundleBytesOf(tenant: string): number {
    return Number(this.stmt('SELECT COALESCE(SUM(bytes), 0) AS n FROM bundles WHERE tenant = ?').get(tenant)?.['n'] ?? 0);
  }

  /** Every tenant's bundles (or one tenant's), oldest first (kiln cache gc, GET /bundles). */
  listBundles(tenant?: string): BundleRecord[] {
    if (tenant !== undefined) return this.stmt('SELECT * FROM bundles WHERE tenant = ? ORDER BY created_at, id').all(tenant).map(toBundle);
    return this.stmt('SELECT * FROM bundles ORDER BY created_at, tenant, id').all().map(toBundle);
  }

  /** The queued or running builds of the tenant that build this bundle (it may not go while there are). */
  buildsOfBundle(tenant: string, id: string): string[] {
    return this.stmt(
      `SELECT id FROM builds WHERE tenant = ? AND state IN ('queued', 'running') AND json_extract(request, '$.bundle') = ? ORDER BY id`,
    ).all(tenant, id).map((r) => String(r['id']));
  }

  /**
   * Forget a bundle uploaded before `cutoff` that no queued or running build names, in one
   * statement (a daemon may queue a build of it meanwhile). Whether it was forgotten: only
   * then may the caller remove its directory.
   */
  deleteUnneededBundle(tenant: string, id: string, cutoff = Number.MAX_SAFE_INTEGER): boolean {
    const r = this.stmt(
      `DELETE FROM bundles WHERE tenant = ? AND id = ? AND created_at < ?
         AND NOT EXISTS (SELECT 1 FROM builds WHERE builds.tenant = bundles.tenant AND builds.state IN ('queued', 'running')
                         AND json_extract(builds.request, '$.bundle') = bundles.id)`,
    ).run(tenant, id, cutoff);
    return Number(r.changes) === 1;
  }

  // ---- job samples --------------------------------------------------------------------

  insertSample(s: JobSampleRecord): void {
    this.stmt('INSERT INTO job_samples (run_id, job_id, at, cpu_cores, memory_bytes, disk_bytes) VALUES (?, ?, ?, ?, ?, ?)').run(
      s.runId, s.jobId, s.at, s.cpuCores, Math.round(s.memoryBytes), Math.round(s.diskBytes),
    );
  }

  /** The newest sample of each job of a run, by job id. */
  latestSamples(runId: string): Map<string, JobSampleRecord> {
    const rows = this.stmt(
      `SELECT s.* FROM job_samples s
         JOIN (SELECT job_id, max(at) AS at FROM job_samples WHERE run_id = ? GROUP BY job_id) m
           ON s.job_id = m.job_id AND s.at = m.at
       WHERE s.run_id = ?`,
    ).all(runId, runId);
    return new Map(rows.map((r) => [String(r['job_id']), toSample(r)]));
  }

  /** Every sample of one job of a run, oldest first. */
  samplesOf(runId: string, jobId: string): JobSampleRecord[] {
    return this.stmt('SELECT * FROM job_samples WHERE run_id = ? AND job_id = ? ORDER BY at').all(runId, jobId).map(toSample);
  }
}

/** A build cut off by this many deaths of its server in a row is failed, not queued again. */
export const MAX_INTERRUPTIONS = 3;

/** SQL that appends the current run id (if any) to prior_runs, in a requeue's SET clause. */
const KEEP_PRIOR_RUN = `prior_runs = CASE WHEN run_id IS NULL THEN prior_runs ELSE json_insert(prior_runs, '$[#]', run_id) END`;
