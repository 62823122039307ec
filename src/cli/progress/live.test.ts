import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, emptyModel, markStopping, type ProgressModel } from './progress-model.ts';
import { fitLine, frameText, headerLine, terminalWidth } from './live.ts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

/** A run of 12,345 packages midway: big counts, two running jobs, an ETA. */
function busyModel(): ProgressModel {
  const m = emptyModel();
  applyEvent(m, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 12_345, maxJobs: 2 });
  for (const [state, n] of [['up-to-date', 10_000], ['broken', 12]] as const) {
    for (let i = 0; i < n; i++) applyEvent(m, { type: 'job-settled', runId: 'r', jobId: `p${i}@amd64`, name: `p${i}`, version: '1', arch: 'amd64', state, at: T0 });
  }
  m.counts.built = 1234;
  m.counts.failed = 11;
  m.counts.skipped = 101;
  for (const name of ['a-package-with-a-rather-long-name', 'b']) {
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: `${name}@amd64`, name, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0 + 1000, expectedMs: 90_000 });
  }
  return m;
}

test('terminalWidth: a terminal that reports 0 or no columns is drawn 80 wide', () => {
  for (const [cols, want] of [[0, 80], [undefined, 80], [-1, 80], [Number.NaN, 80], [100, 100], [37, 37]] as const) {
    assert.equal(terminalWidth(cols), want, String(cols));
  }
});

test('fitLine cuts with an ellipsis, counting characters (not bytes)', () => {
  assert.equal(fitLine('abcdef', 6), 'abcdef');
  assert.equal(fitLine('abcdef', 4), 'abc…');
  assert.equal(fitLine('ab·de·', 5), 'ab·d…');
  assert.equal(fitLine('abc', 1), 'a');
  assert.equal(fitLine('abc', 0), '');
});

test('headerLine: the full header when it fits, shorter forms in narrower terminals, never longer than the width', () => {
  const m = busyModel();
  const now = T0 + 61_000;
  const full = headerLine(m, now, 1000);
  assert.match(full, /^11358\/12345 done: 1234 built, 10000 up to date, 11 failed, 101 skipped, 12 broken, 0 cancelled · 2 running, 985 waiting · 1m01s elapsed · ETA \S+$/);
  assert.ok(full.length > 96, `the full header is ${full.length} characters: the test needs it to overflow 100 columns`);
  for (const width of [200, 100, 96, 80, 60, 40, 30, 20, 10, 1]) {
    const h = headerLine(m, now, width);
    assert.ok([...h].length <= width, `width ${width}: ${h.length} characters: ${h}`);
    if (width >= 40) assert.match(h, /^11358\/12345 done\b.* 2 running\b/, `width ${width}: ${h}`);
  }
  // Narrow: the failed and broken counts are kept longest, the others go first.
  assert.match(headerLine(m, now, 70), /^11358\/12345 done: 11 failed, 12 broken · 2 running · ETA \S+$/);
  // Zero counts are left out before anything else is.
  const idle = emptyModel();
  applyEvent(idle, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 3, maxJobs: 2 });
  idle.counts.built = 1;
  assert.equal(headerLine(idle, T0 + 1500, 60), '1/3 done: 1 built · 0 running, 2 waiting · 1.5s elapsed');
});

test('frameText: every line fits a 100-column terminal (listr2 adds an icon and keeps 2 columns), and a 0-column one as 80', () => {
  const m = busyModel();
  const failures = ['c@amd64: the build script exited with status 2 after printing a very long message that goes on and on\nsecond line'];
  for (const columns of [100, 80, 40]) {
    const lines = frameText(m, failures, T0 + 61_000, columns).split('\n');
    assert.equal(lines.length, 4, 'header, one failure (first line only), two jobs');
    for (const l of lines) assert.ok([...l].length + 4 <= columns, `${columns} columns: ${l}`);
    assert.match(lines[0]!, /done/);
    assert.match(lines[1]!, /^ {4}✖ c@amd64: /);
    assert.match(lines[2]!, /^ {4}a-package-with/);
  }
  assert.equal(frameText(m, [], T0 + 61_000, terminalWidth(0)), frameText(m, [], T0 + 61_000, 80));
});

/** A 6-package run on 2 slots: 2 built, 1 failed, 2 running, 1 waiting. */
function midRun(): ProgressModel {
  const m = emptyModel();
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `${n}@amd64`);
  applyEvent(m, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 6, maxJobs: 2, toBuild: ids, expectedMs: ids.map(() => 10_000) });
  for (const [i, state] of [[0, 'built'], [1, 'built'], [2, 'failed']] as const) {
    const name = ids[i]!.split('@')[0]!;
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: ids[i]!, name, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0, expectedMs: undefined });
    applyEvent(m, { type: 'job-finished', runId: 'r', jobId: ids[i]!, name, version: '1', arch: 'amd64', state, key: 'k', startedAt: T0, at: T0 + 10_000 });
  }
  for (const id of ids.slice(3, 5)) {
    applyEvent(m, { type: 'job-started', runId: 'r', jobId: id, name: id.split('@')[0]!, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at: T0 + 10_000, expectedMs: undefined });
  }
  return m;
}

test('headerLine: cancelled and waiting jobs are counted; once the run is stopping it says so and shows no ETA', () => {
  const m = midRun();
  assert.equal(headerLine(m, T0 + 12_000, 200), '3/6 done: 2 built, 0 up to date, 1 failed, 0 skipped, 0 broken, 0 cancelled · 2 running, 1 waiting · 12.0s elapsed · ETA 13.0s');
  // d and e have 8 s left each and f (waiting) takes 10 s: 26 s of work on 2 slots.
  markStopping(m, 'SIGINT');
  const h = headerLine(m, T0 + 12_000, 200);
  assert.match(h, / · stopping \(SIGINT\)$/);
  assert.doesNotMatch(h, /ETA/);
  applyEvent(m, { type: 'job-settled', runId: 'r', jobId: 'f@amd64', name: 'f', version: '1', arch: 'amd64', state: 'cancelled', at: T0 + 12_000 });
  assert.match(headerLine(m, T0 + 12_000, 200), /^4\/6 done: .*\b1 cancelled · 2 running, 0 waiting · /);
});

test('headerLine: builds running past their expected time say so, not "ETA 0ms"', () => {
  const m = midRun();
  applyEvent(m, { type: 'job-settled', runId: 'r', jobId: 'f@amd64', name: 'f', version: '1', arch: 'amd64', state: 'cancelled', at: T0 + 12_000 });
  // d and e were expected to take 10 s; at 60 s they still run.
  assert.match(headerLine(m, T0 + 60_000, 200), / · 1m00s elapsed · running past the ETA$/);
});

test('headerLine: the last frame says how the run ended, with every count that is not 0, and no ETA', () => {
  const cases = [
    ['failed', { built: 4, 'up-to-date': 0, failed: 1, skipped: 1, broken: 0, cancelled: 0 }, 'run failed after 12.0s: 4 built, 1 failed, 1 skipped (6 packages)'],
    ['cancelled', { built: 2, 'up-to-date': 0, failed: 1, skipped: 0, broken: 0, cancelled: 3 }, 'run cancelled after 12.0s: 2 built, 1 failed, 3 cancelled (6 packages)'],
    ['done', { built: 6, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, 'run done in 12.0s: 6 built (6 packages)'],
  ] as const;
  for (const [state, counts, want] of cases) {
    const m = midRun();
    applyEvent(m, { type: 'run-finished', runId: 'r', at: T0 + 12_000, state, counts });
    assert.equal(headerLine(m, T0 + 99_000, 200), want);
    assert.ok([...headerLine(m, T0 + 99_000, 30)].length <= 30);
    assert.equal(frameText(m, [], T0 + 99_000, 100).split('\n').length, 1, 'no running jobs are left in the last frame');
  }
});
