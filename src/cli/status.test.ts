import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMain as kiln } from '../../test/helpers/cli-streams.ts';
import { openRecords } from '../records/records.ts';
import type { JobRecord } from '../records/record-types.ts';
import { historyText } from './history.ts';
import { packageNote, runsText } from './status.ts';

test('status --runs N and history --limit N take a whole number >= 1: anything else is a usage error naming the option', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-status-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  {
    using r = openRecords(dir);
    for (let i = 1; i <= 3; i++) {
      r.createRun({ id: `run-${i}`, tree: '/t', targets: [], archs: ['amd64'], maxJobs: 1, startedAt: i * 1000 });
      r.recordJobSettled({ runId: `run-${i}`, jobId: 'p@amd64', name: 'p', version: '1', arch: 'amd64', state: 'broken', cause: 'x', at: i * 1000 });
      r.finishRun(`run-${i}`, { state: 'failed', endedAt: i * 1000 + 5, counts: { broken: 1 } });
    }
  }
  for (const [option, cmd] of [['--runs', ['status']], ['--limit', ['history', 'p']]] as const) {
    for (const bad of ['abc', '1.5', '-3', '0', '2x', '']) {
      const r = await kiln([...cmd, `${option}=${bad}`, '--state', dir]);
      assert.equal(r.code, 2, `${option}=${bad}: ${r.out}${r.err}`);
      assert.match(r.err, new RegExp(`^kiln: error \\[usage\\]: ${option}: expected a whole number of at least 1, got "${bad}"`), `${option}=${bad}`);
      assert.equal(r.out, '');
    }
  }
  // The separate form too (commander takes `-3` as the value of an optional option).
  const neg = await kiln(['status', '--runs', '-3', '--state', dir]);
  assert.equal(neg.code, 2, neg.out);
  const two = await kiln(['status', '--runs', '2', '--state', dir]);
  assert.equal(two.code, 0, two.err);
  assert.deepEqual(two.out.trim().split('\n').map((l) => l.split(' ')[0]), ['run-3', 'run-2']);
  const dflt = await kiln(['status', '--runs', '--state', dir]);
  assert.equal(dflt.out.trim().split('\n').length, 3);
  const hist = await kiln(['history', 'p', '--limit', '1', '--state', dir]);
  assert.equal(hist.out.trim().split('\n').length, 2, 'the header row and one entry');
});

test('packageNote: the cause; else a built package\'s why, labelled; a cancelled package without a cause shows nothing (not its why)', () => {
  for (const [p, want] of [
    [{ state: 'cancelled', cause: null, why: 'forced' }, ''],
    [{ state: 'cancelled', cause: 'not started: the run was cancelled (SIGINT)', why: 'forced' }, 'not started: the run was cancelled (SIGINT)'],
    [{ state: 'built', cause: null, why: 'new' }, 'why: new'],
    [{ state: 'up-to-date', cause: null, why: null }, ''],
    [{ state: 'built', cause: null, why: 'new', worker: 'w1' }, 'why: new, worker w1'],
    [{ state: 'built', cause: null, why: 'recipe-changed', whyText: 'recipe-changed: build.sh changed' }, 'why: recipe-changed: build.sh changed'],
    [{ state: 'failed', cause: 'the build script exited with status 2', why: 'new', worker: 'w2' }, 'the build script exited with status 2 (worker w2)'],
    [{ state: 'broken', cause: 'invalid recipe (2 problems):\n/t/a/recipe.toml: x: bad\n/t/a/recipe.toml: y: bad', why: null }, 'invalid recipe (2 problems):\n      a/recipe.toml: x: bad\n      a/recipe.toml: y: bad'],
  ] as const) {
    assert.equal(packageNote(p, '/t'), want, JSON.stringify(p));
  }
});

test('runsText: the columns line up, durations right-aligned, whatever their widths', () => {
  const text = runsText([
    { id: '20261122-120101-609c', state: 'failed', startedAt: 0, endedAt: 12_100, counts: { built: 3, failed: 1 } },
    { id: '20261122-120000-0001', state: 'done', startedAt: 0, endedAt: 61_000, counts: { 'up-to-date': 6 } },
    { id: '20261122-115959-0002', state: 'running', startedAt: 0, endedAt: null, counts: null },
    { id: '20261122-115900-0003', state: 'cancelled', startedAt: 0, endedAt: 800, counts: { cancelled: 2 } },
  ]);
  const lines = text.trimEnd().split('\n');
  assert.deepEqual(lines, [
    '20261122-120101-609c  failed     1970-01-01T00:00:00.000Z    12.1s  3 built, 1 failed',
    '20261122-120000-0001  done       1970-01-01T00:00:00.000Z    1m01s  6 up to date',
    '20261122-115959-0002  running    1970-01-01T00:00:00.000Z  running',
    '20261122-115900-0003  cancelled  1970-01-01T00:00:00.000Z    800ms  2 cancelled',
  ]);
});

test('historyText: a header row, aligned columns, the why and the cause apart, a cause of several lines indented', () => {
  const job = (over: Partial<JobRecord>): JobRecord => ({
    runId: 'r2', jobId: 'p@amd64', attempt: 1, name: 'p', version: '1.0', arch: 'amd64', state: 'built', key: null, why: { kind: 'new' }, cause: null,
    failureReason: null, startedAt: 0, endedAt: 1000, durationMs: 1000, exitCode: null, signal: null, rusage: null, log: null, artifact: null, outputHash: null, ...over,
  });
  const text = historyText([
    job({ runId: 'run-2', state: 'failed', cause: 'the build script exited with status 2', durationMs: 12_300 }),
    job({ runId: 'run-1', version: '1.0-10', startedAt: null, durationMs: null, why: null, state: 'broken', cause: 'invalid recipe (2 problems):\n/t/p/recipe.toml: a: bad\n/t/p/recipe.toml: b: bad' }),
    job({ runId: 'run-0', why: { kind: 'recipe-changed', changes: [{ part: 'file:build.sh', change: 'changed' }] } }),
  ], '/t');
  assert.equal(text, [
    'RUN    PACKAGE  VERSION  STATE   STARTED                    TOOK  WHY                               CAUSE',
    'run-2  p@amd64  1.0      failed  1970-01-01T00:00:00.000Z  12.3s  new: never built before           the build script exited with status 2',
    'run-1  p@amd64  1.0-10   broken                                                                     invalid recipe (2 problems):',
    '      p/recipe.toml: a: bad',
    '      p/recipe.toml: b: bad',
    'run-0  p@amd64  1.0      built   1970-01-01T00:00:00.000Z   1.0s  recipe-changed: build.sh changed',
    '',
  ].join('\n'));
});

test('a build --retry made on a later attempt says so in status (packageNote) and history; a job cut off by its kiln\'s death shows how long it ran at least', () => {
  const warnings = ['retry: built on attempt 2, after attempt 1: the build script exited with status 1'];
  assert.equal(packageNote({ state: 'built', cause: null, why: 'new', warnings }), 'why: new; built on attempt 2 (attempt 1 failed: the build script exited with status 1)');
  assert.equal(packageNote({ state: 'built', cause: null, why: 'new', restricted: 'no redistribution' }), 'why: new; restricted: no redistribution');
  assert.equal(packageNote({ state: 'up-to-date', cause: null, why: null, restricted: 'no redistribution' }), 'restricted: no redistribution');
  assert.equal(packageNote({ state: 'built', cause: null, why: null, warnings }), 'built on attempt 2 (attempt 1 failed: the build script exited with status 1)');
  const job = (over: Partial<JobRecord>): JobRecord => ({
    runId: 'r1', jobId: 'p@amd64', attempt: 1, name: 'p', version: '1.0', arch: 'amd64', state: 'built', key: null, why: { kind: 'new' }, cause: null,
    failureReason: null, startedAt: 0, endedAt: 1000, durationMs: 1000, exitCode: null, signal: null, rusage: null, log: null, artifact: null, outputHash: null, ...over,
  });
  const text = historyText([
    job({ runId: 'r2', state: 'cancelled', durationMs: 1_390, endApproximate: true, cause: 'interrupted: the kiln process (pid 7) ended while this job was running; last sign of life at 1970-01-01T00:00:01.400Z (when it stopped is not known)' }),
    job({ retry: { attempt: 2, earlier: 'attempt 1: the build script exited with status 1' } }),
  ]);
  assert.deepEqual(text.trimEnd().split('\n').map((l) => l.replace(/ +/g, ' ')), [
    'RUN PACKAGE VERSION STATE STARTED TOOK WHY CAUSE',
    'r2 p@amd64 1.0 cancelled 1970-01-01T00:00:00.000Z ≥1.4s new: never built before interrupted: the kiln process (pid 7) ended while this job was running; last sign of life at 1970-01-01T00:00:01.400Z (when it stopped is not known)',
    'r1 p@amd64 1.0 built 1970-01-01T00:00:00.000Z 1.0s new: never built before built on attempt 2 (attempt 1 failed: the build script exited with status 1)',
  ]);
  // With only attempt notes, the last column is headed NOTE, not CAUSE.
  assert.equal(historyText([job({ retry: { attempt: 2, earlier: 'attempt 1: the build script exited with status 1' } })]).split('\n')[0]!.replace(/ +/g, ' '), 'RUN PACKAGE VERSION STATE STARTED TOOK WHY NOTE');
  assert.equal(runsText([{ id: 'r2', state: 'cancelled', startedAt: 0, endedAt: 1_400, counts: { cancelled: 1 }, interrupted: true }]), 'r2  cancelled  1970-01-01T00:00:00.000Z  ≥1.4s  1 cancelled\n');
});
