import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobRecord } from '../../records/record-types.ts';
import { estimateEtaMs, formatBytes, formatDuration, jobViewFromEvent, jobViewOf, mergeJob, sortJobs, summarize, type JobView } from './view.ts';

function job(over: Partial<JobView> = {}): JobView {
  return {
    jobId: 'a@amd64', name: 'a', version: '1.0', arch: 'amd64', state: 'running', attempt: 1, why: null, cause: null,
    startedAt: 1000, endedAt: null, durationMs: null, log: '/api/v1/builds/b1/jobs/a%40amd64/log', phase: null, ...over,
  };
}

test('mergeJob: later attempts win, a final state is never taken back to running, unknown fields keep their value', () => {
  const running = job();
  const built = job({ state: 'built', endedAt: 3000, durationMs: 2000 });
  const table: Array<[string, JobView | undefined, JobView, JobView | undefined]> = [
    ['new job', undefined, running, running],
    ['running → built', running, built, built],
    ['built, then the records still say running', built, running, undefined],
    ['same report twice', built, built, undefined],
    ['older attempt', job({ attempt: 2 }), built, undefined],
    ['newer attempt runs again', built, job({ attempt: 2, startedAt: 5000 }), job({ attempt: 2, startedAt: 5000 })],
    ['phase change', running, job({ phase: 'build' }), job({ phase: 'build' })],
    ['a record without why keeps the why', job({ why: 'new: never built before' }), job({ state: 'failed', cause: 'exit 1' }), job({ state: 'failed', cause: 'exit 1', why: 'new: never built before' })],
  ];
  for (const [what, prev, next, want] of table) assert.deepEqual(mergeJob(prev, next), want, what);
});

test('sortJobs puts failures first, then running, built and up to date, by name within', () => {
  const names = sortJobs([
    job({ jobId: 'z', name: 'z', state: 'up-to-date' }),
    job({ jobId: 'b', name: 'b', state: 'built' }),
    job({ jobId: 'r', name: 'r', state: 'running' }),
    job({ jobId: 'f2', name: 'f2', state: 'failed' }),
    job({ jobId: 's', name: 's', state: 'skipped' }),
    job({ jobId: 'f1', name: 'f1', state: 'failed' }),
    job({ jobId: 'k', name: 'k', state: 'broken' }),
    job({ jobId: 'c', name: 'c', state: 'cancelled' }),
  ]).map((j) => j.name);
  assert.deepEqual(names, ['f1', 'f2', 'k', 's', 'c', 'r', 'b', 'z']);
});

test('estimateEtaMs', () => {
  const table: Array<[string, Parameters<typeof estimateEtaMs>[0], number | null]> = [
    ['nothing left', { pending: 0, running: [], builtMs: [1000], slots: 2 }, 0],
    ['nothing to go by', { pending: 3, running: [{ elapsedMs: 10, expectedMs: undefined }], builtMs: [], slots: 2 }, null],
    ['pending at the mean over the slots', { pending: 4, running: [], builtMs: [1000, 3000], slots: 2 }, 4000],
    ['a long running job bounds it from below', { pending: 0, running: [{ elapsedMs: 1000, expectedMs: 60_000 }], builtMs: [], slots: 4 }, 59_000],
    ['overdue jobs count as nearly done', { pending: 1, running: [{ elapsedMs: 9000, expectedMs: 5000 }], builtMs: [2000], slots: 1 }, 3500],
  ];
  for (const [what, input, want] of table) assert.equal(estimateEtaMs(input), want, what);
});

test('summarize counts, pending and ETA only while running', () => {
  const build = { id: 'b1', tenant: 'alice', tree: 'main', state: 'running' as const, error: null, createdAt: 0, startedAt: 500, endedAt: null };
  const jobs = [job({ state: 'built', durationMs: 2000 }), job({ jobId: 'x@amd64', name: 'x', startedAt: 9000 }), job({ jobId: 'y@amd64', name: 'y', state: 'failed' })];
  const s = summarize({ build, jobs, total: 5, slots: 1, now: 10_000 });
  assert.deepEqual(s.counts, { built: 1, running: 1, failed: 1 });
  assert.equal(s.finished, 2);
  assert.equal(s.running, 1);
  assert.equal(s.pending, 2);
  assert.equal(s.etaMs, 5000, '1 s left of x at the mean 2 s, plus 2 pending × 2 s, on 1 slot');
  assert.equal(summarize({ build: { ...build, state: 'done', endedAt: 20_000 }, jobs, total: 5, slots: 1, now: 30_000 }).etaMs, null);
  assert.equal(summarize({ build: { ...build, state: 'queued', startedAt: null }, jobs: [], total: null, slots: 1, now: 1 }).pending, 0);
});

test('jobViewOf and jobViewFromEvent describe the same job alike', () => {
  const rec: JobRecord = {
    runId: 'r1', jobId: 'a@amd64', attempt: 1, name: 'a', version: '1.0', arch: 'amd64', state: 'running', key: null,
    why: { kind: 'dependency-changed', dependency: 'libz' }, cause: null, failureReason: null, startedAt: 1000, endedAt: null,
    durationMs: null, exitCode: null, signal: null, rusage: null, log: '/state/logs/r1/a.log', artifact: null, outputHash: null,
  };
  const fromRecord = jobViewOf('b1', rec);
  const fromEvent = jobViewFromEvent('b1', undefined, {
    type: 'job-started', runId: 'r1', jobId: 'a@amd64', name: 'a', version: '1.0', arch: 'amd64',
    why: { kind: 'dependency-changed', dependency: 'libz' }, attempt: 1, log: '/state/logs/r1/a.log', at: 1000, expectedMs: undefined,
  });
  assert.deepEqual(fromEvent, fromRecord);
  assert.equal(fromRecord.why, 'dependency-changed: libz changed');
  assert.equal(fromRecord.log, '/api/v1/builds/b1/jobs/a%40amd64/log', 'the API path, never the file path on the server');
  const phased = jobViewFromEvent('b1', fromRecord, { type: 'job-phase', runId: 'r1', jobId: 'a@amd64', phase: 'build', at: 1100 });
  assert.equal(phased?.phase, 'build');
  const failed = jobViewFromEvent('b1', phased, {
    type: 'job-finished', runId: 'r1', jobId: 'a@amd64', name: 'a', version: '1.0', arch: 'amd64', state: 'failed', key: 'k',
    failure: { reason: 'exit-status', message: 'the build script exited with status 2' }, startedAt: 1000, at: 4000,
  });
  assert.deepEqual(
    { state: failed?.state, cause: failed?.cause, durationMs: failed?.durationMs, why: failed?.why, phase: failed?.phase },
    { state: 'failed', cause: 'the build script exited with status 2', durationMs: 3000, why: 'dependency-changed: libz changed', phase: null },
  );
  assert.equal(jobViewFromEvent('b1', undefined, { type: 'note', at: 1, text: 'x' }), undefined);
});

test('formatDuration and formatBytes, and the page scripts format the same way (assets/dom.js)', async () => {
  // The browser's copies, loaded by URL (a plain script module without types).
  const dom = (await import(String(new URL('./assets/dom.js', import.meta.url)))) as {
    fmtDuration: (ms: number | null) => string;
    fmtBytes: (n: number | null) => string;
  };
  const durations: Array<[number | null, string]> = [[0, '0s'], [1499, '1s'], [61_000, '1m 01s'], [3_723_000, '1h 02m 03s'], [null, ''], [-5, '']];
  for (const [ms, want] of durations) {
    assert.equal(formatDuration(ms), want, String(ms));
    assert.equal(dom.fmtDuration(ms), want, `dom.js ${ms}`);
  }
  const sizes: Array<[number | null, string]> = [[0, '0 B'], [1023, '1023 B'], [1536, '1.5 KiB'], [200 * 1024 * 1024, '200 MiB'], [3 * 1024 ** 4 * 1.5, '4.5 TiB'], [null, ''], [-1, '']];
  for (const [n, want] of sizes) {
    assert.equal(formatBytes(n), want, String(n));
    assert.equal(dom.fmtBytes(n), want, `dom.js ${n}`);
  }
});
