import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScheduler, type SchedJob, type SchedResult, type SchedulerOptions } from './scheduler.ts';
import type { Capacity } from './pick-next.ts';

type Outcome = 'succeeded' | 'failed' | 'cancelled';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A `run` the test drives: every call is recorded and stays pending until the test
 * calls finish(id, outcome). started(id) resolves when the scheduler has started id;
 * all jobs the scheduler starts in one go are recorded by then (it starts them
 * synchronously), so `startedIds` is complete for that wave.
 */
function fakeRunner() {
  const calls = new Map<string, { signal: AbortSignal; done: Deferred<Outcome> }>();
  const waiters = new Map<string, Deferred<AbortSignal>>();
  const startedIds: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const waiter = (id: string): Deferred<AbortSignal> => {
    let w = waiters.get(id);
    if (w === undefined) waiters.set(id, (w = deferred()));
    return w;
  };
  const run: SchedulerOptions['run'] = async (id, { signal }) => {
    assert.ok(!calls.has(id), `${id} started twice`);
    const done = deferred<Outcome>();
    calls.set(id, { signal, done });
    startedIds.push(id);
    running++;
    maxRunning = Math.max(maxRunning, running);
    waiter(id).resolve(signal);
    try {
      return await done.promise;
    } finally {
      running--;
    }
  };
  return {
    run,
    startedIds,
    get maxRunning() {
      return maxRunning;
    },
    get running() {
      return running;
    },
    started: (id: string): Promise<AbortSignal> => waiter(id).promise,
    signalOf: (id: string): AbortSignal => calls.get(id)!.signal,
    finish(id: string, outcome: Outcome = 'succeeded'): void {
      const c = calls.get(id);
      assert.ok(c !== undefined, `${id} was not started`);
      c.done.resolve(outcome);
    },
  };
}

const BIG: Capacity = { slots: 16, cpus: 64, memoryBytes: 1024 ** 4 };

function job(id: string, waitsFor: string[] = [], o: { cpus?: number; mem?: number; priority?: number } = {}): SchedJob {
  return { id, waitsFor, cpus: o.cpus ?? 1, memoryBytes: o.mem ?? 1, priority: o.priority ?? 0 };
}

/** Let every pending promise callback run (one macrotask turn; not a timed sleep). */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function plain(results: Map<string, SchedResult>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, r] of [...results].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out[id] = r.state === 'skipped' ? `skipped (${r.cause})` : r.state;
  return out;
}

test('never more jobs at once than slots; higher priority first', async () => {
  const f = fakeRunner();
  const jobs = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => job(id, [], { priority: i }));
  const done = runScheduler({ jobs, run: f.run, capacity: { ...BIG, slots: 2 } });
  await f.started('e');
  assert.deepEqual(f.startedIds, ['f', 'e']);
  for (const [finish, next] of [['f', 'd'], ['e', 'c'], ['d', 'b'], ['c', 'a']] as const) {
    f.finish(finish);
    await f.started(next);
    assert.ok(f.running <= 2);
  }
  f.finish('b');
  f.finish('a');
  const results = await done;
  assert.equal(f.maxRunning, 2);
  assert.deepEqual(f.startedIds, ['f', 'e', 'd', 'c', 'b', 'a']);
  assert.deepEqual(Object.values(plain(results)), Array(6).fill('succeeded'));
});

test('dependency order: a job starts only after everything it waits for succeeded', async () => {
  const f = fakeRunner();
  const done = runScheduler({
    jobs: [job('top', ['left', 'right']), job('left', ['base']), job('right', ['base']), job('base')],
    run: f.run,
    capacity: BIG,
  });
  await f.started('base');
  assert.deepEqual(f.startedIds, ['base']);
  f.finish('base');
  await f.started('right');
  assert.deepEqual(f.startedIds, ['base', 'left', 'right']);
  f.finish('left');
  await flush();
  assert.deepEqual(f.startedIds, ['base', 'left', 'right'], 'top still waits for right');
  f.finish('right');
  await f.started('top');
  f.finish('top');
  assert.deepEqual(plain(await done), { base: 'succeeded', left: 'succeeded', right: 'succeeded', top: 'succeeded' });
});

test('a failure skips its dependents (naming it), transitively; siblings still run', async () => {
  const f = fakeRunner();
  const told: [string, SchedResult][] = [];
  const done = runScheduler({
    jobs: [job('a'), job('b', ['a']), job('c', ['b']), job('c2', ['a', 's']), job('s'), job('t', ['s'])],
    run: f.run,
    capacity: BIG,
    onSettled: (id, r) => told.push([id, r]),
  });
  await f.started('s');
  f.finish('a', 'failed');
  f.finish('s');
  await f.started('t');
  f.finish('t');
  const results = await done;
  assert.deepEqual(plain(results), {
    a: 'failed',
    b: 'skipped (a)',
    c: 'skipped (a)',
    c2: 'skipped (a)',
    s: 'succeeded',
    t: 'succeeded',
  });
  assert.deepEqual(results.get('c'), { state: 'skipped', cause: 'a' });
  assert.deepEqual(told.map(([id, r]) => `${id}:${r.state}`).sort(), ['b:skipped', 'c2:skipped', 'c:skipped'], 'only jobs that never ran are announced');
  assert.deepEqual(f.startedIds.sort(), ['a', 's', 't']);
});

test('a run that throws (synchronously or not) counts as failed', async () => {
  const started: string[] = [];
  const results = await runScheduler({
    jobs: [job('sync'), job('async'), job('after', ['sync']), job('fine')],
    run: (id) => {
      started.push(id);
      if (id === 'sync') throw new Error('boom');
      if (id === 'async') return Promise.reject(new Error('boom'));
      return Promise.resolve('succeeded');
    },
    capacity: { ...BIG, slots: 1 },
  });
  assert.deepEqual(plain(results), { after: 'skipped (sync)', async: 'failed', fine: 'succeeded', sync: 'failed' });
  assert.deepEqual(started.sort(), ['async', 'fine', 'sync']);
});

test('fail-fast: after a failure nothing new starts; running jobs finish; the rest is cancelled', async () => {
  const f = fakeRunner();
  const told: string[] = [];
  const done = runScheduler({
    jobs: [job('a', [], { priority: 9 }), job('b', [], { priority: 8 }), job('c'), job('d'), job('e', ['b'])],
    run: f.run,
    capacity: { ...BIG, slots: 2 },
    failFast: true,
    onSettled: (id, r) => told.push(`${id}:${r.state}`),
  });
  await f.started('b');
  f.finish('a', 'failed');
  await flush();
  assert.deepEqual(f.startedIds, ['a', 'b'], 'a free slot is not used after the failure');
  assert.equal(f.signalOf('b').aborted, false, 'running jobs are left to finish');
  f.finish('b');
  const results = await done;
  assert.deepEqual(plain(results), { a: 'failed', b: 'succeeded', c: 'cancelled', d: 'cancelled', e: 'cancelled' });
  assert.deepEqual(told.sort(), ['c:cancelled', 'd:cancelled', 'e:cancelled']);
});

test('holdStarts (--min-free): once it gives a reason nothing new starts, running jobs finish, the rest is skipped with that reason', async () => {
  const f = fakeRunner();
  const told: string[] = [];
  let low = false;
  let asked = 0;
  const done = runScheduler({
    jobs: [job('a', [], { priority: 9 }), job('b', [], { priority: 8 }), job('c'), job('d'), job('e', ['b'])],
    run: f.run,
    capacity: { ...BIG, slots: 2 },
    holdStarts: () => (asked++, low ? 'disk full' : undefined),
    onSettled: (id, r) => told.push(`${id}:${r.state}`),
  });
  await f.started('b');
  low = true;
  f.finish('a');
  await flush();
  assert.deepEqual(f.startedIds, ['a', 'b'], 'a free slot is not used once held');
  assert.equal(f.signalOf('b').aborted, false, 'running jobs are left to finish');
  f.finish('b');
  const results = await done;
  assert.deepEqual(plain(results), { a: 'succeeded', b: 'succeeded', c: 'skipped (disk full)', d: 'skipped (disk full)', e: 'skipped (disk full)' });
  assert.deepEqual(told.sort(), ['c:skipped', 'd:skipped', 'e:skipped']);
  assert.equal(asked, 3, 'asked before each start, and no more once it held');
});

test('abort: running jobs see their signal aborted, the rest is cancelled, and it returns only after running jobs return', async () => {
  const f = fakeRunner();
  const controller = new AbortController();
  let returned = false;
  const done = runScheduler({
    jobs: [job('a', [], { priority: 2 }), job('b', [], { priority: 1 }), job('c'), job('d', ['a'])],
    run: f.run,
    capacity: { ...BIG, slots: 2 },
    signal: controller.signal,
  }).then((r) => {
    returned = true;
    return r;
  });
  const [sa, sb] = await Promise.all([f.started('a'), f.started('b')]);
  controller.abort(new Error('user pressed ^C'));
  assert.equal(sa.aborted, true);
  assert.equal(sb.aborted, true);
  assert.equal((sa.reason as Error).message, 'user pressed ^C');
  f.finish('a', 'cancelled');
  await flush();
  assert.equal(returned, false, 'b is still running');
  assert.deepEqual(f.startedIds, ['a', 'b'], 'nothing starts after the abort');
  f.finish('b', 'cancelled');
  const results = await done;
  assert.deepEqual(plain(results), { a: 'cancelled', b: 'cancelled', c: 'cancelled', d: 'cancelled' });
});

test('an already aborted signal starts nothing', async () => {
  const f = fakeRunner();
  const results = await runScheduler({ jobs: [job('a'), job('b', ['a'])], run: f.run, capacity: BIG, signal: AbortSignal.abort() });
  assert.deepEqual(plain(results), { a: 'cancelled', b: 'cancelled' });
  assert.deepEqual(f.startedIds, []);
});

test('cpu budget: two 2-cpu jobs on 2 cpus never overlap; a 1-cpu job backfills', async () => {
  const f = fakeRunner();
  const done = runScheduler({
    jobs: [job('x', [], { cpus: 2, priority: 3 }), job('y', [], { cpus: 2, priority: 2 })],
    run: f.run,
    capacity: { slots: 4, cpus: 2, memoryBytes: 100 },
  });
  await f.started('x');
  await flush();
  assert.deepEqual(f.startedIds, ['x']);
  f.finish('x');
  await f.started('y');
  f.finish('y');
  await done;
  assert.equal(f.maxRunning, 1);

  const g = fakeRunner();
  const done2 = runScheduler({
    jobs: [job('big', [], { cpus: 2, priority: 5 }), job('wide', [], { cpus: 2, priority: 4 }), job('small', [], { cpus: 1, priority: 1 })],
    run: g.run,
    capacity: { slots: 4, cpus: 3, memoryBytes: 100 },
  });
  await g.started('small');
  assert.deepEqual(g.startedIds, ['big', 'small']);
  g.finish('big');
  await g.started('wide');
  g.finish('small');
  g.finish('wide');
  await done2;
});

test('memory budget, and a job larger than the machine runs alone', async () => {
  const f = fakeRunner();
  const done = runScheduler({
    jobs: [job('huge', [], { mem: 500, priority: 9 }), job('m1', [], { mem: 60 }), job('m2', [], { mem: 60 })],
    run: f.run,
    capacity: { slots: 4, cpus: 8, memoryBytes: 100 },
  });
  await f.started('huge');
  await flush();
  assert.deepEqual(f.startedIds, ['huge']);
  f.finish('huge');
  await f.started('m1');
  await flush();
  assert.deepEqual(f.startedIds, ['huge', 'm1'], 'm2 does not fit beside m1');
  f.finish('m1');
  await f.started('m2');
  f.finish('m2');
  assert.deepEqual(plain(await done), { huge: 'succeeded', m1: 'succeeded', m2: 'succeeded' });
  assert.equal(f.maxRunning, 1);
});

test('waits on ids outside the schedule, on itself and duplicates are ignored; a cancelled dependency leaves dependents cancelled', async () => {
  const f = fakeRunner();
  const done = runScheduler({
    jobs: [job('a', ['not-in-this-run', 'a']), job('b', ['a', 'a']), job('c', ['b'])],
    run: f.run,
    capacity: BIG,
  });
  await f.started('a');
  f.finish('a');
  await f.started('b');
  f.finish('b', 'cancelled');
  assert.deepEqual(plain(await done), { a: 'succeeded', b: 'cancelled', c: 'cancelled' });
});

test('an empty schedule returns at once', async () => {
  assert.deepEqual(plain(await runScheduler({ jobs: [], run: () => Promise.resolve('succeeded'), capacity: BIG })), {});
});

test('a blocked 2-cpu job on the critical path is not held back by 1-cpu jobs that keep coming (expected durations known)', async () => {
  const f = fakeRunner();
  // s1 is expected to end in 60 s, s2 and s3 to take 61 s: started now, they would end after s1.
  const timed = (j: SchedJob, ms: number): SchedJob => ({ ...j, expectedMs: ms });
  const done = runScheduler({
    jobs: [
      timed(job('pre', [], { priority: 30 }), 60_000),
      timed(job('big', ['pre'], { cpus: 2, priority: 20 }), 60_000),
      timed(job('s1', [], { priority: 2 }), 60_000),
      ...['s2', 's3'].map((id) => timed(job(id, [], { priority: 1 }), 61_000)),
    ],
    run: f.run,
    capacity: { slots: 4, cpus: 2, memoryBytes: 100 },
  });
  await f.started('s1');
  assert.deepEqual(f.startedIds, ['pre', 's1']);
  // pre ends: big is the top job, one cpu is free, s1 holds the other until its expected end.
  f.finish('pre');
  await flush();
  await flush();
  assert.deepEqual(f.startedIds, ['pre', 's1'], 's2 would still run when big could start: it waits');
  f.finish('s1');
  await f.started('big');
  assert.deepEqual(f.startedIds, ['pre', 's1', 'big']);
  f.finish('big');
  await f.started('s2');
  await f.started('s3');
  f.finish('s2');
  f.finish('s3');
  await done;
});
