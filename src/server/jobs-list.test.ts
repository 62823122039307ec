// GET /builds/{id}/jobs lists every job of the build's latest run the records know: those
// that ran or settled, those its plan will build that have not started (`waiting`), and
// those with only earlier attempts of a resumed build (`not-started`, their earlierAttempts
// shown). The runner here is a stand-in that emits a real run's events on the build's
// bus, written to the real records by the real subscriber.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRecords } from '../records/records.ts';
import { recordEvents } from '../records/subscriber.ts';
import { openServerRecords } from '../records/server-records.ts';
import { createApp } from './app.ts';
import type { BuildRunner } from './queue.ts';
import { jobsNotStarted } from './routes/jobs.ts';
import { readResponse } from '../../test/helpers/read-response.ts';

test('jobsNotStarted: planned jobs without a row wait; jobs with only earlier attempts have not started', () => {
  const cases: Array<{ rows: string[]; planned: string[]; earlier: string[]; want: Array<[string, string]> }> = [
    { rows: ['a@x'], planned: ['a@x', 'c@x', 'b@x'], earlier: [], want: [['b@x', 'waiting'], ['c@x', 'waiting']] },
    { rows: [], planned: [], earlier: ['a@x'], want: [['a@x', 'not-started']] },
    { rows: ['a@x'], planned: ['b@x'], earlier: ['a@x', 'b@x', 'c@x'], want: [['b@x', 'waiting'], ['c@x', 'not-started']] },
    { rows: ['a@x', 'b@x'], planned: ['a@x', 'b@x'], earlier: ['a@x'], want: [] },
  ];
  for (const c of cases) assert.deepEqual(jobsNotStarted(c).map((j) => [j.jobId, j.state]), c.want, JSON.stringify(c));
});

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-jobs-list-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const tokens = openServerRecords(state);
  const alice = tokens.createToken('alice').token;
  tokens.close();
  return { dir, state, alice };
}

/** A runner that starts a run of 3 jobs, starts the first, then waits until aborted. */
function runner(state: string, dir: string, runId: string, started: () => void): BuildRunner {
  return (_b, ctx) => {
    const records = openRecords(state);
    const rec = recordEvents(ctx.bus, records, { flushMs: 1 });
    const at = Date.now();
    const log = join(dir, `${runId}-a.log`);
    writeFileSync(log, 'building a\n');
    ctx.bus.emit({ type: 'run-started', runId, at, tree: 'main', targets: [], archs: ['amd64'], total: 3, maxJobs: 1, toBuild: ['a@amd64', 'b@amd64', 'c@amd64'] });
    ctx.bus.emit({ type: 'job-started', runId, jobId: 'a@amd64', name: 'a', version: '1.0', arch: 'amd64', why: { kind: 'new' }, attempt: 1, log, at, expectedMs: undefined });
    rec.flush();
    started();
    return new Promise((resolve) =>
      ctx.signal.addEventListener('abort', () => {
        rec.dispose();
        records.close();
        resolve({ runId, state: 'cancelled' });
      }),
    );
  };
}

test('GET /builds/{id}/jobs lists the jobs still waiting, and a resumed build its jobs with only earlier attempts', { timeout: 30_000 }, async (t) => {
  const s = setup(t);
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const first = createApp({ stateDir: s.state, trees: { main: s.dir }, runner: runner(s.state, s.dir, 'run1', () => started()), onError: () => undefined });
  const get = async (kiln: typeof first, path: string) => readResponse(await kiln.app.request(path, { headers: { authorization: `Bearer ${s.alice}` } }));
  const res = await first.app.request('/api/v1/builds', { method: 'POST', headers: { authorization: `Bearer ${s.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ tree: 'main' }) });
  assert.equal(res.status, 201);
  const id = ((await res.json()) as { id: string }).id;
  await running;
  const build = await get(first, `/api/v1/builds/${id}`);
  assert.equal(build.json.total, 3);
  assert.equal(build.json.waiting, 2);
  const jobs = await get(first, `/api/v1/builds/${id}/jobs`);
  assert.equal(jobs.status, 200, jobs.text);
  assert.deepEqual(jobs.json.jobs.map((j: { jobId: string; state: string }) => [j.jobId, j.state]), [['a@amd64', 'running'], ['b@amd64', 'waiting'], ['c@amd64', 'waiting']]);
  const b = jobs.json.jobs[1];
  assert.equal(b.log, null);
  assert.equal(b.attempt, 0);
  assert.deepEqual(b.earlierAttempts, []);
  // The daemon stops: the build goes back to the queue, run1 in its priorRuns.
  await first.close();
  // The next daemon has not started its new run yet (the runner waits before planning).
  const second = createApp({ stateDir: s.state, trees: { main: s.dir }, runner: (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ runId: 'r', state: 'cancelled' }))), onError: () => undefined });
  t.after(() => second.close());
  const resumed = await get(second, `/api/v1/builds/${id}`);
  assert.deepEqual(resumed.json.priorRuns, ['run1']);
  const again = await get(second, `/api/v1/builds/${id}/jobs`);
  assert.equal(again.json.runId, null);
  assert.equal(again.json.jobs.length, 1, again.text);
  const a = again.json.jobs[0];
  assert.equal(a.jobId, 'a@amd64');
  assert.equal(a.state, 'not-started');
  assert.equal(a.version, '1.0');
  assert.equal(a.attempt, 1);
  assert.deepEqual(a.earlierAttempts.map((x: { attempt: number; runId: string }) => [x.attempt, x.runId]), [[1, 'run1']]);
  assert.match(a.earlierAttempts[0].log, /\/jobs\/a%40amd64\/log\?run=run1$/);
});
