import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, emptyModel, etaMs, markStopping, waitingCount, type ProgressModel } from './progress-model.ts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

/** A run of `ids` on `slots` slots, run-started carrying `expected` (parallel to ids) when given. */
function started(ids: string[], slots: number, expected?: number[]): ProgressModel {
  const m = emptyModel();
  applyEvent(m, {
    type: 'run-started', runId: 'r', at: T0, tree: '/t', targets: [], archs: ['amd64'], total: ids.length, maxJobs: slots, toBuild: ids,
    ...(expected === undefined ? {} : { expectedMs: expected }),
  });
  return m;
}

function start(m: ProgressModel, id: string, at: number, expectedMs?: number): void {
  applyEvent(m, { type: 'job-started', runId: 'r', jobId: id, name: id, version: '1', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log: '/l', at, expectedMs });
}

function finish(m: ProgressModel, id: string, startedAt: number, at: number): void {
  applyEvent(m, { type: 'job-finished', runId: 'r', jobId: id, name: id, version: '1', arch: 'amd64', state: 'built', key: 'k', startedAt, at });
}

test('etaMs: waiting jobs count at their own expected durations from run-started, not at the average of what finished', () => {
  // a is quick (10 s); b and c take 100 s and 1000 s by their past builds.
  const m = started(['a', 'b', 'c'], 1, [10_000, 100_000, 1_000_000]);
  start(m, 'a', T0);
  finish(m, 'a', T0, T0 + 10_000);
  assert.equal(waitingCount(m), 2);
  assert.equal(etaMs(m, T0 + 10_000), 1_100_000);
  // b running for 40 s of its 100: 60 s + c's 1000 s.
  start(m, 'b', T0 + 10_000);
  assert.equal(etaMs(m, T0 + 50_000), 1_060_000, 'a running job without a learned duration of its own takes the one run-started gave');
});

test('etaMs: without durations in run-started, the average of the finished jobs; unknown before anything is known', () => {
  const m = started(['a', 'b', 'c'], 1);
  start(m, 'a', T0);
  assert.equal(etaMs(m, T0 + 1000), undefined);
  finish(m, 'a', T0, T0 + 10_000);
  assert.equal(etaMs(m, T0 + 10_000), 20_000);
});

test('etaMs: never less than the longest running job, none once the run is stopping or has ended', () => {
  const m = started(['a', 'b', 'c'], 4, [10_000, 10_000, 60_000]);
  start(m, 'a', T0);
  start(m, 'b', T0);
  start(m, 'c', T0);
  assert.equal(etaMs(m, T0 + 5000), 55_000, 'c has 55 s left, however many slots are free');
  markStopping(m, 'SIGINT');
  assert.equal(etaMs(m, T0 + 5000), undefined);
  const e = started(['a'], 1, [10_000]);
  applyEvent(e, { type: 'run-finished', runId: 'r', at: T0 + 1000, state: 'cancelled', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 1 } });
  assert.equal(etaMs(e, T0 + 1000), undefined);
  assert.equal(e.counts.cancelled, 1);
});
