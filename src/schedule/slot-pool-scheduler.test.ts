// runScheduler with a shared SlotPool: two builds (two schedulers) on one pool of 2 slots,
// driven by hand: each gets 1 slot while both have work, the survivor gets 2 once the
// other ends; a cancelled build gives its slots back at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScheduler, type SchedJob, type SchedulerOptions } from './scheduler.ts';
import { SlotPool } from './slot-pool.ts';
import type { Capacity } from './pick-next.ts';

type Outcome = 'succeeded' | 'failed' | 'cancelled';

const G = 1024 ** 3;
const MACHINE: Capacity = { slots: 2, cpus: 64, memoryBytes: 64 * G };

function job(id: string, o: { cpus?: number; mem?: number } = {}): SchedJob {
  return { id, waitsFor: [], cpus: o.cpus ?? 1, memoryBytes: o.mem ?? 1, priority: 0 };
}

/** A `run` per build whose jobs end when the test says so; `running` lists what runs now. */
function driver() {
  const live = new Map<string, { finish: (o: Outcome) => void }>();
  let maxTotal = 0;
  const runFor = (build: string): SchedulerOptions['run'] =>
    (id, { signal }) =>
      new Promise<Outcome>((resolve) => {
        const key = `${build}/${id}`;
        const end = (o: Outcome): void => {
          live.delete(key);
          resolve(o);
        };
        live.set(key, { finish: end });
        maxTotal = Math.max(maxTotal, live.size);
        signal.addEventListener('abort', () => end('cancelled'), { once: true });
      });
  return {
    runFor,
    running: (build: string): string[] => [...live.keys()].filter((k) => k.startsWith(`${build}/`)).map((k) => k.slice(build.length + 1)).sort(),
    finish(build: string, id: string): void {
      const j = live.get(`${build}/${id}`);
      assert.ok(j !== undefined, `${build}/${id} is not running`);
      j.finish('succeeded');
    },
    get maxTotal() {
      return maxTotal;
    },
  };
}

/** Let every pending promise callback run (one macrotask turn; not a timed sleep). */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('two builds share 2 slots: 1 each while both have work, the survivor gets 2', async () => {
  const pool = new SlotPool(MACHINE);
  const d = driver();
  using a = pool.join('a');
  const runA = runScheduler({ jobs: ['a1', 'a2', 'a3', 'a4'].map((id) => job(id)), run: d.runFor('a'), capacity: MACHINE, slotGate: a });
  await flush();
  assert.deepEqual(d.running('a'), ['a1', 'a2'], 'alone, a build has both slots');

  using b = pool.join('b');
  const runB = runScheduler({ jobs: ['b1', 'b2', 'b3'].map((id) => job(id)), run: d.runFor('b'), capacity: MACHINE, slotGate: b });
  await flush();
  assert.deepEqual(d.running('b'), [], 'no slot is free yet');

  d.finish('a', 'a1');
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a2'], ['b1']], 'the freed slot goes to b, below its share');
  d.finish('a', 'a2');
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a3'], ['b1']], 'a takes its share back');
  d.finish('b', 'b1');
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a3'], ['b2']]);

  d.finish('a', 'a3');
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a4'], ['b2']]);
  d.finish('a', 'a4');
  assert.equal((await runA).size, 4);
  await flush();
  assert.deepEqual(d.running('b'), ['b2', 'b3'], 'a is done: b has both slots');
  d.finish('b', 'b2');
  d.finish('b', 'b3');
  const results = await runB;
  assert.deepEqual([...results.values()].map((r) => r.state), ['succeeded', 'succeeded', 'succeeded']);
  assert.equal(d.maxTotal, 2, 'never more jobs than the pool has slots');
  assert.deepEqual(pool.free(), MACHINE);
});

test('a cancelled build gives its slots back to the one still running', async () => {
  const pool = new SlotPool(MACHINE);
  const d = driver();
  using a = pool.join('a');
  using b = pool.join('b');
  const cancelA = new AbortController();
  const runA = runScheduler({ jobs: ['a1', 'a2', 'a3'].map((id) => job(id)), run: d.runFor('a'), capacity: MACHINE, slotGate: a, signal: cancelA.signal });
  const runB = runScheduler({ jobs: ['b1', 'b2', 'b3'].map((id) => job(id)), run: d.runFor('b'), capacity: MACHINE, slotGate: b });
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a1', 'a2'], []], 'a came first and took both');
  d.finish('a', 'a1');
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['a2'], ['b1']]);

  cancelA.abort(new Error('cancelled'));
  const resultsA = await runA;
  assert.deepEqual([...resultsA.values()].map((r) => r.state).sort(), ['cancelled', 'cancelled', 'succeeded']);
  await flush();
  assert.deepEqual(d.running('b'), ['b1', 'b2'], 'b has both slots once a is cancelled');
  d.finish('b', 'b1');
  d.finish('b', 'b2');
  await flush();
  d.finish('b', 'b3');
  await runB;
  assert.deepEqual(pool.free(), MACHINE);
});

test('the pool is one cpu/memory budget across builds; a job too big waits, then runs', async () => {
  const machine: Capacity = { slots: 4, cpus: 4, memoryBytes: 8 * G };
  const pool = new SlotPool(machine);
  const d = driver();
  using a = pool.join('a');
  using b = pool.join('b');
  const runA = runScheduler({ jobs: [job('hungry', { mem: 6 * G })], run: d.runFor('a'), capacity: machine, slotGate: a });
  await flush();
  // Each build alone could run this job; together they cannot both.
  const runB = runScheduler({ jobs: [job('also-hungry', { mem: 6 * G })], run: d.runFor('b'), capacity: machine, slotGate: b });
  await flush();
  assert.deepEqual([d.running('a'), d.running('b')], [['hungry'], []]);
  d.finish('a', 'hungry');
  await runA;
  await flush();
  assert.deepEqual(d.running('b'), ['also-hungry']);
  d.finish('b', 'also-hungry');
  await runB;
});

test('without a pool nothing changes: capacity alone bounds the build', async () => {
  const d = driver();
  const run = runScheduler({ jobs: ['x', 'y', 'z'].map((id) => job(id)), run: d.runFor('solo'), capacity: MACHINE });
  await flush();
  assert.deepEqual(d.running('solo'), ['x', 'y']);
  d.finish('solo', 'x');
  d.finish('solo', 'y');
  await flush();
  d.finish('solo', 'z');
  assert.equal((await run).size, 3);
});
