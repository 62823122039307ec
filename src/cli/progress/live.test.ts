import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, emptyModel, type ProgressModel } from './progress-model.ts';
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
  assert.match(full, /^11358\/12345 done: 1234 built, 10000 up to date, 11 failed, 101 skipped, 12 broken · 2 running · 1m01s elapsed · ETA \S+$/);
  assert.ok(full.length > 96, `the full header is ${full.length} characters: the test needs it to overflow 100 columns`);
  for (const width of [200, 100, 96, 80, 60, 40, 30, 20, 10, 1]) {
    const h = headerLine(m, now, width);
    assert.ok([...h].length <= width, `width ${width}: ${h.length} characters: ${h}`);
    if (width >= 40) assert.match(h, /^11358\/12345 done\b.* 2 running\b/, `width ${width}: ${h}`);
  }
  // Zero counts are left out before anything else is.
  const idle = emptyModel();
  applyEvent(idle, { type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: 3, maxJobs: 2 });
  idle.counts.built = 1;
  assert.equal(headerLine(idle, T0 + 1500, 60), '1/3 done: 1 built · 0 running · 1.5s elapsed');
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
