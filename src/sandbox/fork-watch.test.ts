// The runaway-fork decision (a table) and the sampling loop driven by a fake counter.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRunawayForking, watchForks } from './fork-watch.ts';

test('isRunawayForking: refused forks in every interval of the whole window', () => {
  const rows: [number[], number, boolean][] = [
    [[], 3, false],
    [[0, 5, 9], 3, false], // not a whole window yet
    [[0, 5, 9, 20], 3, true],
    [[0, 0, 0, 0], 3, false], // never refused
    [[0, 50, 50, 60], 3, false], // a burst, then a quiet interval
    [[7, 7, 8, 9, 10], 3, true], // only the last window counts
    [[0, 1, 2, 3, 3], 3, false],
    [[0, 1], 0, false],
  ];
  for (const [samples, window, want] of rows) assert.equal(isRunawayForking(samples, window), want, JSON.stringify([samples, window]));
});

test('watchForks calls onRunaway once the counter rose for a window, and stops sampling', async () => {
  let n = 0;
  let reads = 0;
  let fired = 0;
  await new Promise<void>((resolve) => {
    watchForks(async () => (reads++, (n += 3)), () => (fired++, resolve()), { intervalMs: 1, window: 4 });
  });
  const readsAtFire = reads;
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([fired, readsAtFire, reads], [1, 5, 5]);
});

test('watchForks: a counter that stays put never fires; stop ends the sampling', async () => {
  let reads = 0;
  let fired = false;
  const stop = watchForks(async () => (reads++, 2), () => (fired = true), { intervalMs: 1, window: 2 });
  await new Promise((r) => setTimeout(r, 30));
  stop();
  const after = reads;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fired, false);
  assert.ok(after > 3, `sampled ${after} times`);
  assert.ok(reads <= after + 1, 'kept sampling after stop');
});
