import { test } from 'node:test';
import assert from 'node:assert/strict';
import { busyWhileReady, demandAt, lowerBound, type JobTiming } from './debian-cpu.ts';

// a (0..10 s) -> b (10..30 s); c (0..12 s) alone. Build CPU 8 + 15 + 11 s.
const jobs: JobTiming[] = [
  { id: 'a', startedAt: 0, endedAt: 10_000, cpuMs: 8_000, waitsFor: [] },
  { id: 'b', startedAt: 10_000, endedAt: 30_000, cpuMs: 15_000, waitsFor: ['a'] },
  { id: 'c', startedAt: 0, endedAt: 12_000, cpuMs: 11_000, waitsFor: [] },
];

test('lowerBound: the critical path wins over CPU per core', () => {
  const lb = lowerBound(jobs, 2);
  assert.equal(lb.criticalPathMs, 30_000);
  assert.deepEqual(lb.criticalPath, ['a', 'b']);
  assert.equal(lb.totalCpuMs, 34_000);
  assert.equal(lb.boundMs, 30_000);
  assert.equal(lowerBound(jobs, 1).boundMs, 34_000);
});

test('demandAt counts ready or running jobs, not those still waiting', () => {
  const waiting: JobTiming[] = [...jobs, { id: 'd', startedAt: 31_000, endedAt: 40_000, cpuMs: 0, waitsFor: ['b'] }];
  assert.equal(demandAt(waiting, 5_000, 0), 3 - 1 + 0); // a, c (b and d wait)
  assert.equal(demandAt(waiting, 11_000, 0), 2); // b, c
  assert.equal(demandAt(waiting, 20_000, 0), 1); // b
  assert.equal(demandAt(waiting, 30_500, 0), 1); // d ready, not started yet
});

test('busyWhileReady judges only the samples where every core had work', () => {
  const samples = [
    { at: 5_000, ms: 5_000, busy: 0.95 }, // demand 2
    { at: 10_000, ms: 5_000, busy: 0.5 }, // demand 2
    { at: 20_000, ms: 5_000, busy: 0.4 }, // demand 1: not judged
  ];
  const b = busyWhileReady(samples, jobs, { cores: 2, runStart: 0 });
  assert.equal(b.fullDemandMs, 10_000);
  assert.equal(b.busyShare, 0.5);
  assert.ok(Math.abs(b.meanBusy - 0.725) < 1e-9);
});
