import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { KilnError } from '../errors.ts';
import { latestSchemaVersion, migrations } from './migrations.ts';
import { openRecords, type Records } from './records.ts';

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-records-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: TestContext, dir = stateDir(t)): Records {
  const r = openRecords(dir);
  t.after(() => r.close());
  return r;
}

function run(r: Records, id: string, startedAt: number, extra: { pid?: number } = {}): void {
  r.createRun({ id, tree: '/trees/t', targets: ['all'], archs: ['amd64'], maxJobs: 2, startedAt, ...extra });
}

function build(
  r: Records,
  o: { runId: string; name: string; at: number; ms?: number; state?: 'built' | 'failed'; key?: string; attempt?: number },
): void {
  const jobId = `${o.name}@amd64`;
  const base = { runId: o.runId, jobId, name: o.name, version: '1.0', arch: 'amd64' };
  r.recordJobStart({ ...base, attempt: o.attempt ?? 1, why: { kind: 'new' }, log: `/logs/${o.name}.log`, startedAt: o.at });
  r.recordJobEnd({
    ...base,
    state: o.state ?? 'built',
    key: o.key ?? `key-${o.name}-${o.at}`,
    startedAt: o.at,
    endedAt: o.at + (o.ms ?? 1000),
    ...(o.state === 'failed' ? { failure: { reason: 'exit-status', message: 'make exited with status 2' }, exitCode: 2 } : {}),
  });
}

test('migrates an empty state dir to the latest schema', (t) => {
  const dir = stateDir(t);
  open(t, dir).close();
  const db = new DatabaseSync(join(dir, 'kiln.db'));
  t.after(() => db.close());
  assert.equal(db.prepare('PRAGMA user_version').get()?.['user_version'], latestSchemaVersion);
  assert.equal(latestSchemaVersion, migrations.length);
  assert.equal(db.prepare('PRAGMA journal_mode').get()?.['journal_mode'], 'wal');
  const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).all().map((r) => r['name']);
  assert.deepEqual(tables, ['binnmus', 'builds', 'bundles', 'job_inputs', 'job_samples', 'jobs', 'package_state', 'runs', 'sessions', 'tokens', 'up_to_date']);
});

test("an older kiln's records are upgraded and it is said once on stderr; a fresh state says nothing", (t) => {
  const said: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (said.push(String(chunk)), true)) as typeof process.stderr.write;
  t.after(() => { process.stderr.write = write; });
  const fresh = stateDir(t);
  open(t, fresh).close();
  assert.deepEqual(said, [], 'a new state is made, not upgraded');
  const dir = stateDir(t);
  const db = new DatabaseSync(join(dir, 'kiln.db'));
  for (const m of migrations.slice(0, 11)) db.exec(m.sql);
  db.exec('PRAGMA user_version = 11');
  db.close();
  open(t, dir).close();
  assert.deepEqual(said, [`kiln: the records ${join(dir, 'kiln.db')} were upgraded from schema 11 (an older kiln's) to ${latestSchemaVersion}; an older kiln refuses them from now on\n`]);
  open(t, dir).close();
  assert.equal(said.length, 1, 'said once');
});

test('reopening is idempotent and keeps the data', (t) => {
  const dir = stateDir(t);
  const a = openRecords(dir);
  run(a, 'r1', 1000);
  a.close();
  const b = open(t, dir);
  assert.equal(b.getRun('r1')?.tree, '/trees/t');
  assert.equal(b.createRun({ id: 'r1', tree: 'x', targets: [], archs: [], maxJobs: 1, startedAt: 5 }), false);
  assert.equal(b.getRun('r1')?.tree, '/trees/t', 'createRun leaves an existing run alone');
});

test('a database with a newer schema is refused, naming the file', (t) => {
  const dir = stateDir(t);
  open(t, dir).close();
  const db = new DatabaseSync(join(dir, 'kiln.db'));
  db.exec(`PRAGMA user_version = ${latestSchemaVersion + 1}`);
  db.close();
  assert.throws(
    () => openRecords(dir),
    (e: unknown) =>
      e instanceof KilnError &&
      e.code === 'records-schema-newer' &&
      e.message.includes(join(dir, 'kiln.db')) &&
      e.message.includes(String(latestSchemaVersion + 1)),
  );
});

test('foreign keys are enforced', (t) => {
  const r = open(t);
  assert.throws(() => build(r, { runId: 'no-such-run', name: 'a', at: 1 }), /FOREIGN KEY/);
});

test('run lifecycle: create, finish, latest, list', (t) => {
  const r = open(t);
  run(r, 'r1', 1000);
  run(r, 'r2', 2000);
  r.finishRun('r1', { state: 'failed', endedAt: 1500, counts: { built: 3, failed: 1 } });
  const r1 = r.getRun('r1');
  assert.equal(r1?.state, 'failed');
  assert.equal(r1?.endedAt, 1500);
  assert.deepEqual(r1?.counts, { built: 3, failed: 1 });
  assert.deepEqual(r1?.archs, ['amd64']);
  assert.equal(r1?.pid, process.pid);
  assert.equal(r.latestRun()?.id, 'r2');
  assert.deepEqual(r.listRuns({ limit: 5 }).map((x) => x.id), ['r2', 'r1']);
  assert.equal(r.getRun('nope'), undefined);
});

test('job rows: start + end completes the attempt, retries add attempts, settled rows exist', (t) => {
  const r = open(t);
  run(r, 'r1', 0);
  build(r, { runId: 'r1', name: 'a', at: 10, state: 'failed', attempt: 1 });
  build(r, { runId: 'r1', name: 'a', at: 2000, attempt: 2, ms: 500 });
  r.recordJobSettled({ runId: 'r1', jobId: 'b@amd64', name: 'b', version: '2', arch: 'amd64', state: 'skipped', cause: 'a failed', at: 20 });
  r.recordJobSettled({ runId: 'r1', jobId: 'c@amd64', name: 'c', version: '3', arch: 'amd64', state: 'up-to-date', key: 'kc', at: 20 });
  r.recordJobEnd({ runId: 'r1', jobId: 'd@amd64', name: 'd', version: '1', arch: 'amd64', state: 'cancelled', key: 'kd', startedAt: 30, endedAt: 40 });

  const all = r.jobsOfRun('r1', { allAttempts: true });
  assert.deepEqual(all.map((j) => [j.jobId, j.attempt, j.state]), [
    ['a@amd64', 1, 'failed'], ['a@amd64', 2, 'built'], ['b@amd64', 1, 'skipped'], ['c@amd64', 1, 'up-to-date'], ['d@amd64', 1, 'cancelled'],
  ]);
  const latest = r.jobsOfRun('r1');
  assert.deepEqual(latest.map((j) => [j.jobId, j.attempt]), [['a@amd64', 2], ['b@amd64', 1], ['c@amd64', 1], ['d@amd64', 1]]);
  const failed = all[0]!;
  assert.equal(failed.cause, 'make exited with status 2');
  assert.equal(failed.failureReason, 'exit-status');
  assert.equal(failed.exitCode, 2);
  assert.deepEqual(failed.why, { kind: 'new' });
  assert.equal(failed.log, '/logs/a.log');
  assert.equal(latest[0]?.durationMs, 500);
  assert.equal(latest[1]?.cause, 'a failed');
  assert.equal(latest[2]?.key, 'kc');
  assert.equal(latest[3]?.durationMs, 10);
});

test('lastSuccessful returns inputs; lastAttempt sees failures; history is newest first', (t) => {
  const r = open(t);
  run(r, 'r1', 0);
  build(r, { runId: 'r1', name: 'a', at: 100, key: 'k1' });
  r.recordJobInputs('r1', 'a@amd64', { recipeHash: 'rh', sourcesHash: 'sh', envId: 'env1', depOutputs: { 'z@amd64': 'oh' } });
  run(r, 'r2', 1000);
  build(r, { runId: 'r2', name: 'a', at: 1100, state: 'failed', key: 'k2' });

  const ok = r.lastSuccessful('a', 'amd64');
  assert.equal(ok?.runId, 'r1');
  assert.equal(ok?.key, 'k1');
  assert.deepEqual(ok?.inputs, { recipeHash: 'rh', sourcesHash: 'sh', envId: 'env1', depOutputs: { 'z@amd64': 'oh' } });
  const last = r.lastAttempt('a', 'amd64');
  assert.equal(last?.runId, 'r2');
  assert.equal(last?.state, 'failed');
  assert.equal(last?.inputs, null);
  assert.equal(r.lastSuccessful('a', 'arm64'), undefined);
  assert.deepEqual(r.history('a').map((j) => j.runId), ['r2', 'r1']);
  assert.deepEqual(r.history('a', { limit: 1 }).map((j) => j.runId), ['r2']);
});

test('learnedDurations is the median of the last five built rows', (t) => {
  const r = open(t);
  run(r, 'r', 0);
  // Oldest to newest; the first (9999) falls out of the window, the 5000 outlier is ignored.
  const ms = [9999, 100, 5000, 120, 110, 130];
  ms.forEach((d, i) => build(r, { runId: 'r', name: 'a', at: i * 10_000, ms: d, attempt: i + 1 }));
  build(r, { runId: 'r', name: 'b', at: 0, ms: 300 });
  build(r, { runId: 'r', name: 'b', at: 100_000, ms: 400, attempt: 2 });
  build(r, { runId: 'r', name: 'c', at: 0, ms: 50, state: 'failed' });
  const d = r.learnedDurations();
  assert.equal(d.get('a@amd64'), 120);
  assert.equal(d.get('b@amd64'), 350);
  assert.equal(d.has('c@amd64'), false, 'failed builds teach nothing');
});

test('artifactKeysOfLastRuns keeps keys of the newest n runs only', (t) => {
  const r = open(t);
  for (let i = 1; i <= 3; i++) {
    run(r, `r${i}`, i * 1000);
    build(r, { runId: `r${i}`, name: 'a', at: i * 1000, key: `ka${i}` });
  }
  r.recordJobSettled({ runId: 'r3', jobId: 'b@amd64', name: 'b', version: '1', arch: 'amd64', state: 'up-to-date', key: 'kb', at: 3000 });
  build(r, { runId: 'r3', name: 'c', at: 3000, key: 'kc', state: 'failed' });
  assert.deepEqual([...r.artifactKeysOfLastRuns(2)].sort(), ['ka2', 'ka3', 'kb']);
});

test('markInterruptedRuns cancels runs of dead processes and their running jobs', (t) => {
  const r = open(t);
  const dead = spawnSync(process.execPath, ['-e', '']);
  assert.equal(dead.status, 0);
  const deadPid = dead.pid!;
  run(r, 'dead', 1000, { pid: deadPid });
  build(r, { runId: 'dead', name: 'a', at: 1000, ms: 100 });
  r.recordJobStart({ runId: 'dead', jobId: 'b@amd64', attempt: 1, name: 'b', version: '1', arch: 'amd64', why: { kind: 'new' }, log: '/l', startedAt: 1200 });
  run(r, 'alive', 2000); // this process
  r.recordJobStart({ runId: 'alive', jobId: 'b@amd64', attempt: 1, name: 'b', version: '1', arch: 'amd64', why: { kind: 'new' }, log: '/l', startedAt: 2100 });

  assert.deepEqual(r.markInterruptedRuns(), ['dead']);
  const d = r.getRun('dead');
  assert.equal(d?.state, 'cancelled');
  assert.equal(d?.endedAt, 1200);
  assert.deepEqual(d?.counts, { built: 1, cancelled: 1 });
  const b = r.jobsOfRun('dead').find((j) => j.jobId === 'b@amd64');
  assert.equal(b?.state, 'cancelled');
  assert.match(b?.cause ?? '', new RegExp(`interrupted.*pid ${deadPid}`));
  assert.equal(r.getRun('alive')?.state, 'running');
  assert.equal(r.jobsOfRun('alive')[0]?.state, 'running');
  assert.deepEqual(r.markInterruptedRuns(), [], 'a second call finds nothing');
});

test('markInterruptedRuns: the pid is written as an integer; a cut-off job ends at its log\'s last write, or stays unknown without a log', (t) => {
  const dir = stateDir(t);
  const r = open(t, dir);
  const dead = spawnSync(process.execPath, ['-e', '']);
  const deadPid = dead.pid!;
  const t0 = Date.UTC(2026, 0, 1);
  run(r, 'dead', t0, { pid: deadPid });
  const log = join(dir, 'a.log');
  writeFileSync(log, '[   0.000] k ==> log opened\n');
  utimesSync(log, new Date(t0 + 65_000), new Date(t0 + 65_000));
  r.recordJobStart({ runId: 'dead', jobId: 'a@amd64', attempt: 1, name: 'a', version: '1', arch: 'amd64', why: { kind: 'new' }, log, startedAt: t0 + 10 });
  r.recordJobStart({ runId: 'dead', jobId: 'b@amd64', attempt: 1, name: 'b', version: '1', arch: 'amd64', why: { kind: 'new' }, log: join(dir, 'gone.log'), startedAt: t0 + 20 });

  assert.deepEqual(r.markInterruptedRuns(), ['dead']);
  const [a, b] = r.jobsOfRun('dead');
  assert.equal(a?.cause, `interrupted: the kiln process (pid ${deadPid}) ended while this job was running; last sign of life at ${new Date(t0 + 65_000).toISOString()} (when it stopped is not known)`);
  assert.equal(a?.endApproximate, true);
  assert.equal(r.getRun('dead')?.interrupted, true);
  assert.equal(b?.cause, a?.cause);
  assert.equal(a?.state, 'cancelled');
  assert.equal(a?.endedAt, t0 + 65_000);
  assert.equal(a?.durationMs, 64_990);
  assert.equal(b?.state, 'cancelled');
  assert.equal(b?.endedAt, null, 'no log: when it stopped is unknown');
  assert.equal(b?.durationMs, null, 'no log: its duration is unknown, not 0');
  assert.equal(r.getRun('dead')?.endedAt, t0 + 65_000, 'the run ends at the last sign of life');

  // A silent build: its log was last written at 10 s, but the run's log folder (its sign of
  // life, refreshed while jobs run) says kiln was alive at 300 s: the job ran until then.
  run(r, 'quiet', t0, { pid: deadPid });
  mkdirSync(join(dir, 'logs', 'quiet'), { recursive: true });
  const quietLog = join(dir, 'logs', 'quiet', 's.log');
  writeFileSync(quietLog, '[   0.000] k ==> log opened\n');
  utimesSync(quietLog, new Date(t0 + 10_000), new Date(t0 + 10_000));
  utimesSync(join(dir, 'logs', 'quiet'), new Date(t0 + 300_000), new Date(t0 + 300_000));
  r.recordJobStart({ runId: 'quiet', jobId: 's@amd64', attempt: 1, name: 's', version: '1', arch: 'amd64', why: { kind: 'new' }, log: quietLog, startedAt: t0 });
  assert.deepEqual(r.markInterruptedRuns(), ['quiet']);
  assert.equal(r.jobsOfRun('quiet')[0]?.durationMs, 300_000);
  assert.equal(r.getRun('quiet')?.endedAt, t0 + 300_000);

  // A run that was to build packages it never started: they are on record, cancelled.
  r.createRun({ id: 'dead2', tree: '/trees/t', targets: [], archs: ['amd64'], maxJobs: 2, startedAt: t0, pid: deadPid, toBuild: ['a@amd64', 'c@amd64'] });
  r.recordJobStart({ runId: 'dead2', jobId: 'a@amd64', attempt: 1, name: 'a', version: '1', arch: 'amd64', why: { kind: 'new' }, log, startedAt: t0 + 10 });
  assert.deepEqual(r.markInterruptedRuns(), ['dead2']);
  const c = r.jobsOfRun('dead2').find((j) => j.jobId === 'c@amd64');
  assert.equal(c?.state, 'cancelled');
  assert.equal(c?.version, '?', 'never built anywhere: its version is unknown');
  assert.equal(c?.cause, `not started: the kiln process (pid ${deadPid}) ended first`);
  assert.deepEqual(r.getRun('dead2')?.counts, { cancelled: 2 });
});

test('markInterruptedRuns: the run\'s heartbeat (markAlive) is its last sign of life: a silent job cut off ran until then, and says so', (t) => {
  const dir = stateDir(t);
  const r = open(t, dir);
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
  const t0 = Date.UTC(2026, 0, 1);
  run(r, 'killed', t0, { pid: deadPid });
  // Both jobs wrote their log's first lines at 100 ms, then nothing (a silent build).
  mkdirSync(join(dir, 'logs', 'killed'), { recursive: true });
  for (const n of ['a', 'b']) {
    const log = join(dir, 'logs', 'killed', `${n}.log`);
    writeFileSync(log, '[   0.000] k ==> log opened\n');
    utimesSync(log, new Date(t0 + 100), new Date(t0 + 100));
    r.recordJobStart({ runId: 'killed', jobId: `${n}@amd64`, attempt: 1, name: n, version: '1', arch: 'amd64', why: { kind: 'new' }, log, startedAt: t0 + 10 });
  }
  utimesSync(join(dir, 'logs', 'killed'), new Date(t0 + 100), new Date(t0 + 100));
  // The heartbeat says kiln was alive at 1.4 s; a finished run's is not touched.
  r.markAlive(['killed'], t0 + 1_400);
  run(r, 'ended', t0);
  r.finishRun('ended', { state: 'done', endedAt: t0 + 50, counts: {} });
  r.markAlive(['ended'], t0 + 9_000);
  assert.equal(r.getRun('ended')?.endedAt, t0 + 50);
  assert.equal(r.getRun('ended')?.interrupted, undefined);

  assert.deepEqual(r.markInterruptedRuns(), ['killed']);
  const killed = r.getRun('killed');
  assert.equal(killed?.endedAt, t0 + 1_400, 'the run ends at its heartbeat, not at its logs\' last write (100 ms)');
  assert.equal(killed?.interrupted, true);
  for (const j of r.jobsOfRun('killed')) {
    assert.equal(j.endedAt, t0 + 1_400, j.jobId);
    assert.equal(j.durationMs, 1_390, j.jobId);
    assert.equal(j.endApproximate, true);
    assert.match(j.cause ?? '', /ended while this job was running; last sign of life at 2026-01-01T00:00:01\.400Z \(when it stopped is not known\)$/);
  }
  // history reads the same rows.
  assert.equal(r.history('a')[0]?.endApproximate, true);
});

test('two processes write one state dir concurrently (WAL, busy timeout)', async (t) => {
  const dir = stateDir(t);
  // No migration first: the children also race to create the schema on a fresh file.
  const recordsUrl = new URL('./records.ts', import.meta.url).href;
  const writer = (tag: string): Promise<{ code: number | null; stderr: string }> => {
    const script = `
      import { openRecords } from ${JSON.stringify(recordsUrl)};
      const r = openRecords(${JSON.stringify(dir)});
      for (let i = 0; i < 200; i++) {
        r.transaction(() => {
          r.createRun({ id: '${tag}-' + i, tree: 't', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: i });
          for (let j = 0; j < 10; j++) {
            r.recordJobSettled({ runId: '${tag}-' + i, jobId: 'p' + j, name: 'p' + j, version: '1', arch: 'amd64', state: 'up-to-date', at: i });
          }
        });
      }
      r.close();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  };
  const results = await Promise.all([writer('x'), writer('y')]);
  for (const res of results) assert.equal(res.code, 0, res.stderr);
  const r = open(t, dir);
  assert.equal(r.listRuns({ limit: 1000 }).length, 400);
  assert.equal(r.jobsOfRun('x-199').length, 10);
  assert.equal(r.jobsOfRun('y-0').length, 10);
});

test('close is idempotent and using-disposable', (t) => {
  const dir = stateDir(t);
  {
    using r = openRecords(dir);
    run(r, 'r1', 1);
  }
  const r = openRecords(dir);
  r.close();
  r.close();
  assert.throws(() => r.getRun('r1'));
});

test('package_state keeps the last success inputs and the latest attempt per package', (t) => {
  const dir = stateDir(t);
  const r = open(t, dir);
  const inputs = { recipeHash: 'r1', sourcesHash: 's1', envId: 'e1', depOutputs: { 'b@amd64': 'o1' } };
  r.recordPackageState('a@amd64', { state: 'built', key: 'k1', inputs });
  r.recordPackageState('a@amd64', { state: 'failed', key: 'k2', inputs: { ...inputs, recipeHash: 'r2' } });
  r.recordPackageState('c@amd64', { state: 'failed', key: 'k3' });
  const states = r.packageStates();
  assert.deepEqual(states.get('a@amd64'), { success: { key: 'k1', ...inputs, outputHash: null, artifact: null, at: null }, attempt: { state: 'failed', key: 'k2' } });
  assert.deepEqual(states.get('c@amd64'), { success: undefined, attempt: { state: 'failed', key: 'k3' } });
  assert.equal(states.get('nope@amd64'), undefined);
});

test('up-to-date packages recorded in bulk read back as job rows, and their keys are kept by gc', (t) => {
  const r = open(t);
  run(r, 'r1', 1000);
  build(r, { runId: 'r1', name: 'b', at: 1000, key: 'kb1' });
  run(r, 'r2', 2000);
  const settled = (name: string, key: string): Parameters<Records['recordUpToDate']>[1][number] => ({
    runId: 'r2', jobId: `${name}@amd64`, name, version: '2.0', arch: 'amd64', state: 'up-to-date', key, outputHash: `out-${name}`, artifact: `/a/${key}`, at: 2001,
  });
  r.transaction(() => {
    r.recordUpToDate('r2', [settled('c', 'kc'), settled('a', 'ka')]);
    r.recordUpToDate('r2', [settled('e', 'ke')]);
  });
  build(r, { runId: 'r2', name: 'd', at: 2000, key: 'kd' });
  const jobs = r.jobsOfRun('r2');
  assert.deepEqual(jobs.map((j) => `${j.jobId} ${j.state}`), ['a@amd64 up-to-date', 'c@amd64 up-to-date', 'd@amd64 built', 'e@amd64 up-to-date']);
  const a = jobs[0]!;
  assert.deepEqual(
    { name: a.name, arch: a.arch, version: a.version, key: a.key, outputHash: a.outputHash, artifact: a.artifact, endedAt: a.endedAt, attempt: a.attempt },
    { name: 'a', arch: 'amd64', version: '2.0', key: 'ka', outputHash: 'out-a', artifact: '/a/ka', endedAt: 2001, attempt: 1 },
  );
  assert.deepEqual([...r.artifactKeysOfLastRuns(1)].sort(), ['ka', 'kc', 'kd', 'ke']);
  assert.deepEqual([...r.artifactKeysOfLastRuns(2)].sort(), ['ka', 'kb1', 'kc', 'kd', 'ke']);
});

test('package_state keeps the output and artifact of the last good build', (t) => {
  const r = open(t);
  const inputs = { recipeHash: 'rh', sourcesHash: 'sh', envId: 'env', depOutputs: { 'z@amd64': 'oz' } };
  const before = Date.now();
  r.recordPackageState('a@amd64', { state: 'built', key: 'k1', inputs, outputHash: 'o1', artifact: '/art/k1' });
  const after = Date.now();
  r.recordPackageState('a@amd64', { state: 'failed', key: 'k2' });
  r.recordPackageState('b@amd64', { state: 'built', key: 'kb', inputs });
  const s = r.packageStates();
  const { at, ...success } = s.get('a@amd64')!.success!;
  assert.deepEqual(success, { key: 'k1', recipeHash: 'rh', sourcesHash: 'sh', envId: 'env', depOutputs: { 'z@amd64': 'oz' }, outputHash: 'o1', artifact: '/art/k1' });
  // When the output was recorded: the planner trusts a stat of an older meta.json only (find-artifact.ts).
  assert.ok(typeof at === 'number' && at >= before && at <= after, String(at));
  assert.equal(s.get('b@amd64')!.success!.at, null);
  assert.deepEqual(s.get('a@amd64')!.attempt, { state: 'failed', key: 'k2' });
  assert.equal(s.get('b@amd64')!.success!.outputHash, null);
});

test('refreshSuccessOutputs: a package\'s last good output is recorded anew, as of the time given, only where the row still says what the planner saw', (t) => {
  const r = open(t);
  const inputs = { recipeHash: 'rh', sourcesHash: 'sh', envId: 'env', depOutputs: {} };
  r.recordPackageState('a@amd64', { state: 'built', key: 'ka', inputs, outputHash: 'o1', artifact: '/art/ka' });
  r.recordPackageState('b@amd64', { state: 'built', key: 'kb', inputs, outputHash: 'o2', artifact: '/art/kb' });
  r.recordPackageState('c@amd64', { state: 'built', key: 'kc', inputs, outputHash: 'o3', artifact: '/art/kc' });
  const before = r.packageStates();
  const seen = (id: string): { outputHash: string; artifact: string; at: number | null } => {
    const ok = before.get(id)!.success!;
    return { outputHash: ok.outputHash!, artifact: ok.artifact!, at: ok.at ?? null };
  };
  // c was recorded again since the planner read it (another run of this state dir): its row stays.
  r.recordPackageState('c@amd64', { state: 'built', key: 'kc', inputs, outputHash: 'o3-forced', artifact: '/art/kc' });
  r.refreshSuccessOutputs([
    { jobId: 'a@amd64', key: 'ka', outputHash: 'o1-new', artifact: '/art/ka/pkg.tar.zst', seen: seen('a@amd64') },
    { jobId: 'b@amd64', key: 'another-key', outputHash: 'o2-new', artifact: '/art/x', seen: seen('b@amd64') },
    { jobId: 'c@amd64', key: 'kc', outputHash: 'o3-read', artifact: '/art/kc', seen: seen('c@amd64') },
  ], 1234);
  const s = r.packageStates();
  const a = s.get('a@amd64')!.success!;
  assert.deepEqual([a.outputHash, a.artifact, a.at], ['o1-new', '/art/ka/pkg.tar.zst', 1234], 'as of the time given');
  assert.deepEqual(s.get('b@amd64')!.success, before.get('b@amd64')!.success, 'another key: left alone');
  assert.equal(s.get('c@amd64')!.success!.outputHash, 'o3-forced', 'recorded since: left alone');
});

test('outputWarnings: the newest build of each key says; retry: warnings are not output warnings', (t) => {
  const r = open(t);
  run(r, 'r1', 1000);
  const end = (name: string, key: string, at: number, warnings: string[] | undefined): void => {
    const base = { runId: 'r1', jobId: `${name}@amd64`, name, version: '1', arch: 'amd64' };
    r.recordJobStart({ ...base, attempt: 1, why: { kind: 'new' }, log: `/logs/${name}.log`, startedAt: at });
    r.recordJobEnd({ ...base, state: 'built', key, startedAt: at, endedAt: at + 1, ...(warnings === undefined ? {} : { warnings }) });
  };
  end('a', 'ka', 2000, ['hierarchy: x']);
  end('b', 'kb', 2100, ['retry: built on attempt 2']);
  end('c', 'kc', 2200, ['permissions: y', 'retry: built on attempt 2']);
  run(r, 'r2', 3000);
  const later = (name: string, key: string, at: number, warnings: string[] | undefined): void => {
    const base = { runId: 'r2', jobId: `${name}@amd64`, name, version: '1', arch: 'amd64' };
    r.recordJobStart({ ...base, attempt: 1, why: { kind: 'forced' }, log: `/logs/${name}.log`, startedAt: at });
    r.recordJobEnd({ ...base, state: 'built', key, startedAt: at, endedAt: at + 1, ...(warnings === undefined ? {} : { warnings }) });
  };
  later('a', 'ka', 3100, undefined);
  assert.deepEqual([...r.outputWarnings()], [['kc', ['permissions: y']]]);
});

test('nothingRanSince: a run that ended, with every other run ended before it began to plan', (t) => {
  const r = open(t);
  const counts = { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 };
  assert.equal(r.nothingRanSince('a', 90), false, 'no such run');
  run(r, 'a', 100);
  assert.equal(r.nothingRanSince('a', 90), false, 'a is still going');
  r.finishRun('a', { state: 'done', endedAt: 200, counts });
  assert.equal(r.nothingRanSince('a', 90), true);
  // b started after a ended: a is no longer the last, however b ends.
  run(r, 'b', 300);
  assert.equal(r.nothingRanSince('a', 90), false);
  r.finishRun('b', { state: 'failed', endedAt: 400, counts });
  assert.equal(r.nothingRanSince('a', 90), false);
  assert.equal(r.nothingRanSince('b', 290), true, 'a ended before b began');
  // c began to plan at 450 and started at 500; d ran beside it, from 420 to 470: it ended
  // after c began, though before c's run started.
  run(r, 'd', 420);
  r.finishRun('d', { state: 'done', endedAt: 470, counts });
  run(r, 'c', 500);
  r.finishRun('c', { state: 'done', endedAt: 600, counts });
  assert.equal(r.nothingRanSince('c', 450), false, 'd ended while c planned');
  assert.equal(r.nothingRanSince('c', 480), true, 'd ended before c began');
  assert.equal(r.nothingRanSince('d', 410), false, 'c ran after d');
  // Two at once: neither may trust what it saw.
  run(r, 'e', 700);
  run(r, 'f', 710);
  r.finishRun('f', { state: 'done', endedAt: 800, counts });
  assert.equal(r.nothingRanSince('f', 705), false, 'e is still going');
  r.finishRun('e', { state: 'done', endedAt: 900, counts });
  assert.equal(r.nothingRanSince('f', 705), false, 'e ended after f began');
  assert.equal(r.nothingRanSince('e', 695), false, 'f ran beside e');
});

test('reserveBinnmu: the numbers given to a version are read and this one reserved in one transaction; releaseBinnmu frees it; the job rows carry the binary version', (t) => {
  const dir = stateDir(t);
  const r = open(t, dir);
  const o = { name: 'hello', version: '2.10-3', arch: 'amd64' };
  const first = r.reserveBinnmu({ ...o, key: 'k1' }, (seen) => ({ n: seen.length }));
  assert.equal(first.chosen.n, 0);
  const second = r.reserveBinnmu({ ...o, key: 'k2' }, (seen) => {
    assert.deepEqual(seen, [{ arch: 'amd64', key: 'k1', binaryVersion: null }]);
    return { n: 1 };
  });
  r.reserveBinnmu({ ...o, arch: 'arm64', key: 'k3' }, () => ({ n: 1 }));
  r.reserveBinnmu({ ...o, version: '2.10-4', key: 'k4' }, () => ({ n: 0 }));
  assert.deepEqual(r.binnmusOf('hello', '2.10-3'), [
    { arch: 'amd64', key: 'k1', binaryVersion: null }, { arch: 'amd64', key: 'k2', binaryVersion: '2.10-3+b1' }, { arch: 'arm64', key: 'k3', binaryVersion: '2.10-3+b1' },
  ]);
  r.releaseBinnmu(second.id);
  assert.deepEqual(r.binnmusOf('hello', '2.10-3').map((b) => b.key), ['k1', 'k3']);
  // Another process sees a reservation at once (it is committed, not batched).
  const other = openRecords(dir);
  t.after(() => other.close());
  assert.deepEqual(other.binnmusOf('hello', '2.10-4'), [{ arch: 'amd64', key: 'k4', binaryVersion: null }]);
  // The job rows keep a binNMU's binary version (history, reports).
  run(r, 'r1', 0);
  const base = { runId: 'r1', jobId: 'hello@amd64', name: 'hello', version: '2.10-3', arch: 'amd64' };
  r.recordJobStart({ ...base, attempt: 1, why: { kind: 'new' }, log: '/l', startedAt: 1 });
  r.recordJobEnd({ ...base, state: 'built', key: 'k2', binaryVersion: '2.10-3+b1', startedAt: 1, endedAt: 2 });
  assert.equal(r.jobsOfRun('r1')[0]?.binaryVersion, '2.10-3+b1');
});
