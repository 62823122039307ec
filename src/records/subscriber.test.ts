import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type KilnEvent } from '../events/events.ts';
import { openRecords, type Records } from './records.ts';
import { recordEvents } from './subscriber.ts';

function setup(t: TestContext): { bus: EventBus; records: Records } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-subscriber-'));
  const records = openRecords(dir);
  t.after(() => {
    records.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { bus: new EventBus(), records };
}

const runStarted = (total: number): KilnEvent => ({
  type: 'run-started', runId: 'r1', at: 1000, tree: '/t', targets: ['all'], archs: ['amd64'], total, maxJobs: 4,
});

function* jobEvents(i: number): Generator<KilnEvent> {
  const base = { runId: 'r1', jobId: `p${i}@amd64`, name: `p${i}`, version: '1.0', arch: 'amd64' };
  yield { type: 'job-started', ...base, why: { kind: 'new' }, attempt: 1, log: `/logs/p${i}.log`, at: 2000 + i, expectedMs: undefined };
  yield { type: 'job-phase', runId: 'r1', jobId: base.jobId, phase: 'build', at: 2001 + i };
  yield {
    type: 'job-finished', ...base, state: i % 100 === 0 ? 'failed' : 'built', key: `k${i}`, outputHash: `o${i}`,
    rusage: { userMs: 5, systemMs: 1, maxRssKb: 1024 }, exitCode: 0, signal: null, startedAt: 2000 + i, at: 2010 + i,
    ...(i % 100 === 0 ? { failure: { reason: 'exit-status' as const, message: 'boom' } } : {}),
  };
}

test('10,000 jobs are written in batches; run-finished flushes the rest', (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { maxBatch: 500, flushMs: 60_000 });
  t.after(() => rec.dispose());
  const n = 10_000;
  bus.emit(runStarted(n));
  for (let i = 0; i < n; i++) for (const e of jobEvents(i)) bus.emit(e);
  bus.emit({ type: 'job-settled', runId: 'r1', jobId: 'u@amd64', name: 'u', version: '1', arch: 'amd64', state: 'up-to-date', key: 'ku', at: 3000 });
  // 1 + 20,000 + 1 recorded events: 40 full batches went out, 2 events still queued.
  assert.equal(records.jobsOfRun('r1').length, n);
  assert.equal(records.jobsOfRun('r1').find((j) => j.jobId === 'u@amd64'), undefined);

  bus.emit({ type: 'run-finished', runId: 'r1', at: 90_000, state: 'failed', counts: { built: 9900, failed: 100, 'up-to-date': 1, skipped: 0, broken: 0, cancelled: 0 } });
  assert.deepEqual(bus.listenerErrors, []);
  const jobs = records.jobsOfRun('r1');
  assert.equal(jobs.length, n + 1);
  assert.equal(jobs.filter((j) => j.state === 'failed').length, 100);
  assert.equal(jobs.filter((j) => j.state === 'running').length, 0);
  const p7 = jobs.find((j) => j.jobId === 'p7@amd64');
  assert.equal(p7?.durationMs, 10);
  assert.deepEqual(p7?.rusage, { userMs: 5, systemMs: 1, maxRssKb: 1024 });
  assert.equal(p7?.outputHash, 'o7');
  const run = records.getRun('r1');
  assert.equal(run?.state, 'failed');
  assert.equal(run?.total, n);
  assert.equal(run?.counts?.built, 9900);
});

test('run-started is written at once; job events wait for a flush', (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { flushMs: 60_000 });
  t.after(() => rec.dispose());
  bus.emit(runStarted(1));
  assert.equal(records.getRun('r1')?.state, 'running', 'a run is on record as soon as it starts');
  for (const e of jobEvents(1)) bus.emit(e);
  assert.deepEqual(records.jobsOfRun('r1'), []);
  rec.flush();
  assert.equal(records.getRun('r1')?.state, 'running');
  assert.equal(records.jobsOfRun('r1')[0]?.state, 'built');
});

test('the timer flushes a partial batch on its own', async (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { flushMs: 5 });
  t.after(() => rec.dispose());
  bus.emit(runStarted(1));
  for (const e of jobEvents(1)) bus.emit(e);
  const deadline = Date.now() + 5000;
  while (records.jobsOfRun('r1').length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(records.jobsOfRun('r1')[0]?.state, 'built');
});

test('dispose flushes and unsubscribes', (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { flushMs: 60_000 });
  bus.emit(runStarted(1));
  rec.dispose();
  assert.equal(records.getRun('r1')?.id, 'r1');
  for (const e of jobEvents(1)) bus.emit(e);
  rec.flush();
  assert.equal(records.jobsOfRun('r1').length, 0);
});

test('a bad event is reported and does not lose the rest of its batch', (t) => {
  const { bus, records } = setup(t);
  const errors: unknown[] = [];
  const rec = recordEvents(bus, records, { flushMs: 60_000, onError: (e) => errors.push(e) });
  t.after(() => rec.dispose());
  bus.emit(runStarted(2));
  // A job of a run that was never started violates the foreign key.
  for (const e of jobEvents(1)) bus.emit({ ...e, runId: 'ghost' } as KilnEvent);
  for (const e of jobEvents(2)) bus.emit(e);
  rec.flush();
  assert.ok(errors.length >= 1);
  assert.match(String(errors[0]), /FOREIGN KEY/);
  assert.equal(records.jobsOfRun('r1').length, 1);
});

test('a job that took a second or more is on record at once; quick ones wait for the batch', (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { maxBatch: 500, flushMs: 60_000 });
  t.after(() => rec.dispose());
  bus.emit(runStarted(2));
  const [quickStart, , quickEnd] = [...jobEvents(1)];
  bus.emit(quickStart!);
  bus.emit(quickEnd!);
  assert.deepEqual(records.jobsOfRun('r1'), [], 'a 10 ms job waits for the batch');
  const base = { runId: 'r1', jobId: 'slow@amd64', name: 'slow', version: '1.0', arch: 'amd64' };
  bus.emit({ type: 'job-started', ...base, why: { kind: 'new' }, attempt: 1, log: '/logs/slow.log', at: 3000, expectedMs: undefined });
  bus.emit({ type: 'job-finished', ...base, state: 'built', key: 'ks', outputHash: 'os', startedAt: 3000, at: 4500 });
  assert.deepEqual(records.jobsOfRun('r1').map((j) => `${j.jobId} ${j.state}`).sort(), ['p1@amd64 built', 'slow@amd64 built']);
});

test('while a run it recorded goes, its sign of life is written every heartbeatMs; not after run-finished', async (t) => {
  const { bus, records } = setup(t);
  const rec = recordEvents(bus, records, { heartbeatMs: 20 });
  t.after(() => rec.dispose());
  const before = Date.now();
  bus.emit(runStarted(1));
  const aliveAt = (): number | null => records.getRun('r1')?.aliveAt ?? null;
  const deadline = Date.now() + 10_000;
  while (aliveAt() === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok((aliveAt() ?? 0) >= before, `alive_at ${aliveAt()}`);
  bus.emit({ type: 'run-finished', runId: 'r1', at: 5000, state: 'done', counts: { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 } });
  const last = aliveAt();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(aliveAt(), last, 'a finished run has no more heartbeats');
});

test("a failed heartbeat is said as the run's sign of life, not as a batch, and leaves no records unwritten (run-recorder.ts)", async (t) => {
  const { bus, records } = setup(t);
  const { runRecorder } = await import('../run/run-recorder.ts');
  const notes: string[] = [];
  bus.on((e) => { if (e.type === 'note') notes.push(e.text); });
  // A busy database, for the heartbeat's write only.
  records.markAlive = () => { throw new Error('database is locked'); };
  const rec = runRecorder(bus, records, '/state');
  t.after(() => rec.dispose());
  bus.emit(runStarted(1));
  rec.flush();
  const deadline = Date.now() + 10_000;
  while (notes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(notes.length, 1, notes.join('\n'));
  assert.match(notes[0]!, /a write failed \(database is locked\); the run's sign of life .* is written again at the next beat, a second later; another kiln process/);
  assert.doesNotMatch(notes[0]!, /batch/);
  rec.assertWritten('r1');
});
