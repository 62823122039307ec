// Open the records SQLite file with the settings every connection needs, then migrate;
// and decode its rows into the typed records of records.ts.

import { accessSync, constants, existsSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KilnError } from '../errors.ts';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import type { FailureReason } from '../plan/job.ts';
import type { Reason } from '../plan/reason.ts';
import { latestSchemaVersion, migrate } from './migrations.ts';
import { cutOff } from './interrupted.ts';
import { retryOf } from './retry-attempts.ts';
import type { JobCounts, JobRecord, JobRecordState, JobRecordWithInputs, RunRecord, RunState } from './records.ts';

export const RECORDS_FILE = 'kiln.db';

/** How long a writer waits for another kiln process's write transaction before failing. */
export const BUSY_TIMEOUT_MS = 10_000;

export function recordsPath(stateDir: string): string {
  return join(stateDir, RECORDS_FILE);
}

export function openDatabase(path: string): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
  } catch (e) {
    throw unwritable(path, e) ?? e;
  }
  try {
    // WAL: readers (kiln status, the server) never block the writing build, and two
    // builds sharing a state dir serialise only their short write transactions.
    db.exec('PRAGMA journal_mode = WAL');
    // In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last commits,
    // which for build records is a fair price for not fsyncing every batch.
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    const before = migrate(db, path);
    // An older kiln's records, upgraded by this process: said once (the next open finds
    // them current, and of two opening at once only the one that upgraded says it), as the
    // older kiln refuses them from now on (docs/operations.md, "Upgrading kiln").
    if (before !== undefined && before > 0) process.stderr.write(`kiln: the records ${path} were upgraded from schema ${before} (an older kiln's) to ${schemaVersion(db)}; an older kiln refuses them from now on\n`);
    return db;
  } catch (e) {
    db.close();
    throw unwritable(path, e) ?? e;
  }
}

function schemaVersion(db: DatabaseSync): number {
  return Number(db.prepare('PRAGMA user_version').get()?.['user_version'] ?? 0);
}

/**
 * The records' schema as found, without migrating it (kiln doctor): `none` when there is no
 * kiln.db yet, else its version against this kiln's; undefined when it cannot be read.
 */
export type RecordsSchema = { readonly found: 'none' } | { readonly found: number; readonly known: number };

export function recordsSchemaOf(stateDir: string): RecordsSchema | undefined {
  const path = recordsPath(stateDir);
  if (!existsSync(path)) return { found: 'none' };
  try {
    const db = new DatabaseSync(path, { readOnly: true, timeout: BUSY_TIMEOUT_MS });
    try {
      return { found: schemaVersion(db), known: latestSchemaVersion };
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * What keeps kiln from its records, said with what to do, or undefined (then the error is
 * kiln's own): a file (or folder) this user may not write (every command writes there,
 * reading ones too: WAL keeps its index in a file beside it, and a run's end is recorded),
 * a read-only or full file system, or a file that is not (or no longer) a SQLite database.
 */
function unwritable(path: string, e: unknown): KilnError | undefined {
  const message = e instanceof Error ? e.message : String(e);
  const dir = dirname(path);
  if (/database disk image is malformed|file is not a database/i.test(message)) {
    return new KilnError('records-damaged', `${path}: kiln's records are damaged (${message})`, {
      hint: `move the file aside (mv ${path} ${path}.damaged, and ${path}-wal and ${path}-shm if there) and run kiln again: it starts new records, and finds the artifacts in the cache again (the old runs' history is in the moved file; sqlite3 ${path}.damaged .recover may save it)`,
      cause: e,
    });
  }
  if (!/readonly database|unable to open database file|disk I\/O error|database or disk is full/i.test(message)) return undefined;
  const fs = fileSystemTrouble(dir);
  if (fs !== undefined) {
    return new KilnError('path-unusable', `${path}: cannot write kiln's records: ${fs} (${message})`, {
      hint: fs.endsWith('read-only') ? `remount it read-write, or give --state (or KILN_STATE) a directory on a writable disk` : `free space there (kiln cache gc, old runs' logs), or give --state (or KILN_STATE) a directory on a larger disk`,
      cause: e,
    });
  }
  if (!/readonly database|unable to open database file/i.test(message)) return undefined;
  const uid = process.getuid?.();
  // Root may write anywhere: then it is not a matter of owners.
  if (uid === 0) return new KilnError('path-unusable', `${path}: cannot open kiln's records (${message})`, { hint: `check ${dir}: that it is a directory on a writable, not full, file system (df -h ${dir}; df -i ${dir})`, cause: e });
  return new KilnError('path-unusable', `${path}: this user${uid === undefined ? '' : ` (uid ${uid})`} cannot write kiln's records there (${message})`, {
    hint: `kiln writes its state directory (${dir}) even to read it: run kiln as the user that owns it (ls -ln ${dir}), or give --state (or KILN_STATE) a directory of this user's`,
    cause: e,
  });
}

/** Why nothing can be written in `dir` whoever writes: its file system is read-only, or full; undefined when neither. */
function fileSystemTrouble(dir: string): string | undefined {
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EROFS') return `the file system of ${dir} is mounted read-only`;
  }
  try {
    const st = statfsSync(dir);
    // Less than a page or two: SQLite cannot grow its files.
    if (st.bavail * st.bsize < 64 * 1024) return `the disk of ${dir} is full (${st.bavail * st.bsize} bytes free)`;
    // No inode left: no file (the WAL, its index) can be made.
    if (st.files > 0 && st.ffree === 0) return `the file system of ${dir} has no free inodes left (too many files)`;
  } catch {
    // cannot tell
  }
  return undefined;
}

/**
 * What to add to "no records in STATE" when the state dir has runs but no kiln.db (it was
 * deleted or moved): its runs' reports and logs stay, and no command removes them now.
 */
export function recordsGoneNote(stateDir: string): string {
  let runs = 0;
  try {
    runs = readdirSync(join(stateDir, 'runs')).length;
  } catch {
    return '';
  }
  return runs === 0 ? '' : `: its ${RECORDS_FILE} is gone, though runs/ holds ${runs} run(s) (their reports and logs stay; with no records, kiln cache gc cannot tell them apart: restore ${RECORDS_FILE}, or remove ${join(stateDir, 'runs')} and ${join(stateDir, 'logs')} by hand)`;
}

export function openDatabaseIn(stateDir: string): DatabaseSync {
  mkdirSync(stateDir, { recursive: true });
  return openDatabase(recordsPath(stateDir));
}

// ---- rows → typed records (column names are snake_case, records camelCase) ----------------

export type Row = Record<string, SQLOutputValue>;

export function toRun(r: Row): RunRecord {
  return {
    id: str(r, 'id'),
    tree: str(r, 'tree'),
    targets: JSON.parse(str(r, 'targets')) as string[],
    archs: JSON.parse(str(r, 'archs')) as string[],
    startedAt: int(r, 'started_at'),
    endedAt: intOrNull(r, 'ended_at'),
    state: str(r, 'state') as RunState,
    counts: jsonOrNull<JobCounts>(r, 'counts'),
    pid: intOrNull(r, 'pid'),
    host: strOrNull(r, 'host'),
    maxJobs: intOrNull(r, 'max_jobs'),
    total: intOrNull(r, 'total'),
    // (Absent from rows of records older than migration 18.)
    ...(typeof r['alive_at'] === 'number' ? { aliveAt: r['alive_at'] } : {}),
    ...(r['interrupted'] === 1 ? { interrupted: true as const } : {}),
  };
}

export function toJob(r: Row): JobRecord {
  const userMs = intOrNull(r, 'user_ms');
  const systemMs = intOrNull(r, 'system_ms');
  const maxRssKb = intOrNull(r, 'max_rss_kb');
  // Absent from rows read with a column list that leaves it out.
  const warnings = r['warnings'] === undefined ? null : jsonOrNull<string[]>(r, 'warnings');
  const worker = r['worker'] === undefined ? null : strOrNull(r, 'worker');
  const binaryVersion = r['binary_version'] === undefined ? null : strOrNull(r, 'binary_version');
  const retry = retryOf(str(r, 'state'), { warnings, cause: strOrNull(r, 'cause') });
  return {
    runId: str(r, 'run_id'),
    jobId: str(r, 'job_id'),
    attempt: int(r, 'attempt'),
    name: str(r, 'name'),
    version: str(r, 'version'),
    arch: str(r, 'arch'),
    state: str(r, 'state') as JobRecordState,
    key: strOrNull(r, 'key'),
    why: jsonOrNull<Reason>(r, 'why'),
    cause: strOrNull(r, 'cause'),
    failureReason: strOrNull(r, 'failure_reason') as FailureReason | null,
    startedAt: intOrNull(r, 'started_at'),
    endedAt: intOrNull(r, 'ended_at'),
    durationMs: intOrNull(r, 'duration_ms'),
    exitCode: intOrNull(r, 'exit_code'),
    signal: strOrNull(r, 'signal'),
    rusage:
      userMs === null && systemMs === null && maxRssKb === null
        ? null
        : { userMs: userMs ?? 0, systemMs: systemMs ?? 0, maxRssKb: maxRssKb ?? 0 },
    log: strOrNull(r, 'log'),
    artifact: strOrNull(r, 'artifact'),
    outputHash: strOrNull(r, 'output_hash'),
    ...(warnings === null ? {} : { warnings }),
    ...(worker === null ? {} : { worker }),
    ...(binaryVersion === null ? {} : { binaryVersion }),
    ...(retry === undefined ? {} : { retry }),
    ...(cutOff(r) ? { endApproximate: true as const } : {}),
  };
}

export function toJobWithInputs(r: Row): JobRecordWithInputs {
  const recipeHash = strOrNull(r, 'recipe_hash');
  return {
    ...toJob(r),
    inputs:
      recipeHash === null
        ? null
        : {
            recipeHash,
            sourcesHash: str(r, 'sources_hash'),
            envId: str(r, 'env_id'),
            depOutputs: JSON.parse(str(r, 'dep_outputs')) as Record<string, string>,
          },
  };
}

function str(r: Row, k: string): string {
  return String(r[k]);
}
function strOrNull(r: Row, k: string): string | null {
  const v = r[k];
  return v === null || v === undefined ? null : String(v);
}
function int(r: Row, k: string): number {
  return Number(r[k]);
}
function intOrNull(r: Row, k: string): number | null {
  const v = r[k];
  return v === null || v === undefined ? null : Number(v);
}
function jsonOrNull<T>(r: Row, k: string): T | null {
  const v = strOrNull(r, k);
  return v === null ? null : (JSON.parse(v) as T);
}

/** A records database handle with a cache of prepared statements; the records classes build on it. */
export class SqlStore {
  readonly path: string;
  protected readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, path: string) {
    this.db = db;
    this.path = path;
  }

  close(): void {
    this.#statements.clear();
    if (this.db.isOpen) this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  protected stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }
}
