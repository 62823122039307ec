// Schema steps for the records database, applied in order from version 0 (empty file).
// The applied version lives in `PRAGMA user_version`: it is part of the database header,
// so it commits atomically with the step's DDL. Never edit a released step; append one.

import type { DatabaseSync } from 'node:sqlite';
import { KilnError } from '../errors.ts';

export interface Migration {
  /** 1, 2, 3…: the user_version the database has after this step. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, jobs, job inputs',
    sql: `
      CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        tree        TEXT NOT NULL,
        targets     TEXT NOT NULL,                -- JSON array of strings
        archs       TEXT NOT NULL,                -- JSON array of strings
        started_at  INTEGER NOT NULL,             -- epoch ms
        ended_at    INTEGER,
        state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
        counts      TEXT,                         -- JSON {state: n}
        pid         INTEGER,
        host        TEXT,
        max_jobs    INTEGER,
        total       INTEGER
      ) STRICT;
      CREATE INDEX runs_by_start ON runs (started_at);
      CREATE INDEX runs_running ON runs (state) WHERE state = 'running';

      CREATE TABLE jobs (
        run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        job_id          TEXT NOT NULL,
        attempt         INTEGER NOT NULL,
        name            TEXT NOT NULL,
        version         TEXT NOT NULL,
        arch            TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN
                          ('running', 'built', 'up-to-date', 'failed', 'skipped', 'broken', 'cancelled')),
        key             TEXT,
        why             TEXT,                     -- JSON Reason
        cause           TEXT,
        failure_reason  TEXT,
        started_at      INTEGER,
        ended_at        INTEGER,
        duration_ms     INTEGER,
        exit_code       INTEGER,
        signal          TEXT,
        user_ms         INTEGER,
        system_ms       INTEGER,
        max_rss_kb      INTEGER,
        log             TEXT,
        artifact        TEXT,
        output_hash     TEXT,
        PRIMARY KEY (run_id, job_id, attempt)
      ) STRICT;
      -- lastSuccessful / lastAttempt / history: newest row of a package.
      CREATE INDEX jobs_by_package ON jobs (name, arch, coalesce(ended_at, started_at));
      -- learnedDurations reads only built rows, newest first per package, without a sort.
      CREATE INDEX jobs_built ON jobs (name, arch, ended_at DESC, duration_ms) WHERE state = 'built';
      CREATE INDEX jobs_running ON jobs (run_id) WHERE state = 'running';

      -- Input-key components, written by the planner (events do not carry them). A table of
      -- its own, keyed without the attempt and without a foreign key, because the planner
      -- writes directly while the subscriber's batch holding run-started may not be flushed yet.
      CREATE TABLE job_inputs (
        run_id        TEXT NOT NULL,
        job_id        TEXT NOT NULL,
        recipe_hash   TEXT NOT NULL,
        sources_hash  TEXT NOT NULL,
        env_id        TEXT NOT NULL,
        dep_outputs   TEXT NOT NULL,              -- JSON {depJobId: outputHash}
        PRIMARY KEY (run_id, job_id)
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'package state',
    sql: `
      -- One row per package and arch (job_id = name@arch), kept current on every write, so a
      -- plan reads what it needs about 10,000 packages in one scan instead of two history
      -- queries per package (which also grew with every no-change run).
      CREATE TABLE package_state (
        job_id         TEXT PRIMARY KEY,
        success_key    TEXT,                      -- the last build that succeeded, with its inputs
        recipe_hash    TEXT,
        sources_hash   TEXT,
        env_id         TEXT,
        dep_outputs    TEXT,                      -- JSON {depJobId: outputHash}
        attempt_state  TEXT,                      -- the latest attempt: built, up-to-date, failed, cancelled
        attempt_key    TEXT
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'daemon: tokens and queued builds',
    sql: `
      -- Bearer tokens of kiln serve: only the sha256 of the secret is kept.
      CREATE TABLE tokens (
        id          TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        admin       INTEGER NOT NULL DEFAULT 0,
        hash        TEXT NOT NULL UNIQUE,           -- sha256 hex of the whole token
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;
      CREATE INDEX tokens_by_tenant ON tokens (tenant);

      -- The daemon's queue: one row per requested build, FIFO per tenant by rowid.
      CREATE TABLE builds (
        id          TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        tree        TEXT NOT NULL,                  -- the tree's name as configured in kiln serve
        request     TEXT NOT NULL,                  -- JSON of the accepted POST /builds body
        priority    INTEGER NOT NULL DEFAULT 0,
        state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        run_id      TEXT,
        error       TEXT,
        retry_of    TEXT,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        ended_at    INTEGER
      ) STRICT;
      CREATE INDEX builds_by_tenant ON builds (tenant, created_at);
      CREATE INDEX builds_open ON builds (state) WHERE state IN ('queued', 'running');
    `,
  },
  {
    version: 4,
    name: 'daemon: bundles, job samples, earlier runs of a build',
    sql: `
      -- Build bundles uploaded with PUT /api/v1/bundles/{id}: one tenant's namespace each;
      -- the extracted tree lives under <state>/bundles/<tenant>/<id>/.
      CREATE TABLE bundles (
        tenant      TEXT NOT NULL,
        id          TEXT NOT NULL,
        sha256      TEXT NOT NULL,                  -- of the uploaded (compressed) bytes
        size        INTEGER NOT NULL,               -- uploaded bytes
        entries     INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,               -- extracted bytes
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
      ) STRICT;

      -- A running job's resource use, sampled every few seconds by the daemon.
      CREATE TABLE job_samples (
        run_id        TEXT NOT NULL,
        job_id        TEXT NOT NULL,
        at            INTEGER NOT NULL,
        cpu_cores     REAL NOT NULL,
        memory_bytes  INTEGER NOT NULL,
        disk_bytes    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX job_samples_by_job ON job_samples (run_id, job_id, at);

      -- Runs of a build that a stop or a crash interrupted (JSON array of run ids, oldest
      -- first): their partial logs are the earlier attempts of the build's jobs.
      ALTER TABLE builds ADD COLUMN prior_runs TEXT NOT NULL DEFAULT '[]';
    `,
  },
  {
    version: 5,
    name: 'no-change runs: up-to-date packages in bulk, last output in package_state',
    sql: `
      -- The output of the last good build, so a plan checks that its artifact still exists
      -- (one stat) instead of reading 10,000 meta.json files.
      ALTER TABLE package_state ADD COLUMN success_output_hash TEXT;
      ALTER TABLE package_state ADD COLUMN success_artifact TEXT;

      -- Packages a run settled up-to-date at plan time, a batch per row instead of a jobs row
      -- each (a no-change run of 10,000 packages wrote 10,000 rows and 4 MB): JSON array of
      -- [job_id, version, key, output_hash, artifact, ended_at]. jobsOfRun reads them as rows.
      CREATE TABLE up_to_date (
        run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        jobs    TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'builds: the code and hint of an error that failed a build as a whole',
    sql: `
      -- A KilnError a daemon build failed with before or outside its jobs (kiln.toml
      -- invalid, a target that matches nothing): its stable code and hint, so that
      -- \`kiln build --server\` prints it and exits as a local run would. error keeps the message.
      ALTER TABLE builds ADD COLUMN error_code TEXT;
      ALTER TABLE builds ADD COLUMN error_hint TEXT;
    `,
  },
  {
    version: 7,
    name: 'runs: the job ids a run will execute, so a queued package is known as queued',
    sql: `
      -- JSON array of job ids (name@arch) to build, written at run start; NULL for runs
      -- recorded before. A package listed here without a jobs row is queued (\`kiln logs -f\`
      -- waits for it).
      ALTER TABLE runs ADD COLUMN to_build TEXT;
    `,
  },
  {
    version: 8,
    name: 'builds: how often a build was cut off by the daemon dying while it ran',
    sql: `
      -- Counted by requeueInterrupted at the next start; a build that was running at every
      -- one of several crashes (one that kills the daemon) is failed instead of queued again.
      ALTER TABLE builds ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 9,
    name: 'tokens that expire; web sessions apart from the tokens',
    sql: `
      -- NULL: the token does not expire (kiln token create --expires sets it).
      ALTER TABLE tokens ADD COLUMN expires_at INTEGER;

      -- A browser signed in to the web page: its cookie holds a random session secret (only
      -- its sha256 is kept), never the bearer token. A session ends at expires_at, or with
      -- its token (revoked or expired), or at /logout.
      CREATE TABLE sessions (
        hash        TEXT PRIMARY KEY,
        token_id    TEXT NOT NULL REFERENCES tokens (id),
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 10,
    name: 'jobs: what the output checks warned of',
    sql: `
      -- JSON array of \`check: message\` (execute/output-checks.ts); NULL when none.
      ALTER TABLE jobs ADD COLUMN warnings TEXT;
    `,
  },
  {
    version: 11,
    name: 'builds: who cancelled a build',
    sql: `
      -- The tenant whose token asked for the cancel, and whether that token was an admin's
      -- (an operator cancelling another tenant's build); NULL for a build nobody cancelled.
      ALTER TABLE builds ADD COLUMN cancelled_by TEXT;
      ALTER TABLE builds ADD COLUMN cancelled_by_admin INTEGER;
    `,
  },
  {
    version: 12,
    name: 'jobs: the kiln worker that built it',
    sql: `
      -- With --nats: the name of the worker whose result the job took (kiln worker --name,
      -- default HOST:PID); NULL for a job built here.
      ALTER TABLE jobs ADD COLUMN worker TEXT;
    `,
  },
  {
    version: 13,
    name: 'tokens: when each was last used',
    sql: `
      -- Epoch ms of the token's last request (or web sign-in), to a minute; NULL: never used.
      ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
    `,
  },
  {
    version: 14,
    name: 'package_state: when the last good build was recorded',
    sql: `
      -- Epoch ms when success_output_hash and success_artifact were recorded. The planner
      -- trusts a stat of that artifact's meta.json only when the file is older: a newer one
      -- is another entry stored under the same key since (another state directory sharing
      -- the cache rebuilt it after a gc or a corrupt archive), and is read. NULL: not known.
      ALTER TABLE package_state ADD COLUMN success_at INTEGER;
    `,
  },
  {
    version: 15,
    name: 'jobs: the binary packages\' version of a Debian binNMU',
    sql: `
      -- A Debian build's binary version when it is not the source's (VERSION+bN, a binNMU);
      -- NULL otherwise. --binnmu auto reads it to number the next rebuild of a version.
      ALTER TABLE jobs ADD COLUMN binary_version TEXT;
    `,
  },
  {
    version: 16,
    name: 'binNMU numbers given by --binnmu auto',
    sql: `
      -- One row per build --binnmu auto numbered (debian/auto-binnmu.ts): reserved when the
      -- job starts, in one write transaction with reading the others, and deleted when the
      -- build did not succeed. binary_version NULL: the source's version itself.
      CREATE TABLE binnmus (
        name            TEXT NOT NULL,
        version         TEXT NOT NULL,
        arch            TEXT NOT NULL,
        key             TEXT NOT NULL,
        binary_version  TEXT,
        at              INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX binnmus_by_version ON binnmus (name, version);
    `,
  },
  {
    version: 17,
    name: 'job_inputs: what the recipe and sources hashes are made of',
    sql: `
      -- JSON {recipe, sources}: part label → value (plan/input-parts.ts), so that the next
      -- plan names the file, source, option or build dependency that changed. NULL in rows
      -- from before.
      ALTER TABLE job_inputs ADD COLUMN parts TEXT;
    `,
  },
  {
    version: 18,
    name: 'runs: the last sign of life of a running run, and whether its end was inferred',
    sql: `
      -- Epoch ms, refreshed every second by the run's records subscriber while it goes: when a
      -- kiln killed with -9 was last alive (markInterruptedRuns ends its run no earlier).
      ALTER TABLE runs ADD COLUMN alive_at INTEGER;
      -- 1: its kiln died and markInterruptedRuns ended it: ended_at is its last sign of life,
      -- not when it stopped (not known). NULL: ended by its own kiln, or running.
      ALTER TABLE runs ADD COLUMN interrupted INTEGER;
    `,
  },
  {
    version: 19,
    name: 'tokens: read-only tokens',
    sql: `
      -- 1: the token may look (GET, HEAD) but change nothing (kiln token create --read-only;
      -- server/auth.ts refuses every other method with 403). Tokens from before: 0, full access.
      ALTER TABLE tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export const latestSchemaVersion: number = migrations.at(-1)?.version ?? 0;

/**
 * Bring `db` to the latest schema. Each step runs in its own IMMEDIATE transaction and
 * re-reads the version inside it, so two processes opening a fresh state dir at once apply
 * each step exactly once (the loser waits on busy_timeout, then sees the new version).
 */
/**
 * Brings the records to the latest schema. Returns the version this process found and
 * upgraded from (0: a new database), or undefined when it applied nothing (already current,
 * or another process upgraded them first: each step re-reads the version under its lock).
 */
export function migrate(db: DatabaseSync, dbPath: string): number | undefined {
  checkNotNewer(userVersion(db), dbPath);
  let from: number | undefined;
  for (const m of migrations) {
    if (userVersion(db) >= m.version) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      const current = userVersion(db);
      checkNotNewer(current, dbPath);
      if (current < m.version) {
        from ??= current;
        db.exec(m.sql);
        // PRAGMA takes no bound parameters; m.version is a number from this file.
        db.exec(`PRAGMA user_version = ${m.version}`);
      }
      db.exec('COMMIT');
    } catch (e) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }
  return from;
}

function userVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get();
  return Number(row?.['user_version'] ?? 0);
}

function checkNotNewer(version: number, dbPath: string): void {
  if (version > latestSchemaVersion) {
    throw new KilnError(
      'records-schema-newer',
      `records database ${dbPath} has schema version ${version}, but this kiln knows only up to version ${latestSchemaVersion}: it was written by a newer kiln`,
      { hint: 'upgrade kiln, or point it at another state directory (a newer schema is never downgraded)' },
    );
  }
}
