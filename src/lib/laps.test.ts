import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startLaps } from './laps.ts';

test('laps: each lap adds the time since the last one to its step; restart skips time', () => {
  let t = 1000;
  const laps = startLaps(() => t);
  t += 10.4;
  laps.lap('fetch');
  t += 5;
  laps.lap('parse');
  t += 100;
  laps.restart();
  t += 2;
  assert.equal(laps.since(), 2);
  laps.lap('fetch');
  assert.deepEqual(laps.timings, { fetch: 12, parse: 5 });
  assert.deepEqual(laps.overlapped, []);
});
