import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitsNow, freeOf, mayTake, reservationOf, type Reservation } from './worker-capacity.ts';

const G = 1024 ** 3;
/** A 2-core worker with 16G, --jobs 4. */
const total = { slots: 4, cpus: 2, memoryBytes: 16 * G };
const job = (cpus: number, memoryGb = 0): Reservation => ({ cpus, memoryBytes: memoryGb * G });

test('fitsNow: a job starts only when its cpus and memory fit what the running ones leave', () => {
  const cases: { what: string; need: Reservation; running: Reservation[]; total?: typeof total; fits: boolean }[] = [
    { what: 'nothing runs', need: job(1, 1), running: [], fits: true },
    { what: 'room for both', need: job(1, 4), running: [job(1, 4)], fits: true },
    { what: 'cpus taken', need: job(2), running: [job(2)], fits: false },
    { what: 'one cpu left, two needed', need: job(2), running: [job(1)], fits: false },
    { what: 'memory short: 8G wanted, 4G left of 16G', need: job(1, 8), running: [job(1, 8), job(1, 4)], total: { ...total, cpus: 8 }, fits: false },
    { what: 'memory left exactly', need: job(1, 8), running: [job(1, 8)], fits: true },
    { what: 'slots taken though cpus are free', need: job(1), running: [job(1), job(1), job(1), job(1)], total: { ...total, cpus: 64 }, fits: false },
    { what: 'larger than the machine, alone: clamped, runs', need: job(16, 64), running: [], fits: true },
    { what: 'larger than the machine, beside another: waits', need: job(16, 1), running: [job(1)], fits: false },
    { what: 'a running job larger than the machine holds all of it', need: job(1), running: [job(16)], fits: false },
    { what: '--overcommit-cpus 1: a third 1-cpu job on two cores', need: job(1), running: [job(1), job(1)], total: { ...total, cpus: 3 }, fits: true },
    { what: 'no overcommit: not a third', need: job(1), running: [job(1), job(1)], fits: false },
  ];
  for (const c of cases) assert.equal(fitsNow(c.need, c.running, c.total ?? total), c.fits, c.what);
});

test('mayTake: a message is taken only with a slot and a cpu free', () => {
  const cases: { what: string; running: Reservation[]; total?: typeof total; may: boolean }[] = [
    { what: 'idle', running: [], may: true },
    { what: 'a cpu free', running: [job(1, 15)], may: true },
    { what: 'memory all reserved still leaves a job of none', running: [job(1, 16)], may: true },
    { what: 'every cpu reserved', running: [job(2)], may: false },
    { what: 'every slot used', running: [job(1), job(1), job(1), job(1)], total: { ...total, cpus: 64 }, may: false },
  ];
  for (const c of cases) assert.equal(mayTake(c.running, c.total ?? total), c.may, c.what);
});

test('freeOf: the running reservations, clamped to the machine, off the total', () => {
  assert.deepEqual(freeOf([job(1, 2), job(8, 32)], total), { slots: 2, cpus: -1, memoryBytes: -2 * G });
  assert.deepEqual(freeOf([], total), total);
});

test('reservationOf: the job\'s cpus and its recipe\'s memory; a missing or bad memory is none', () => {
  assert.deepEqual(reservationOf({ cpus: 2, spec: { build: { memoryBytes: 8 * G } } }), { cpus: 2, memoryBytes: 8 * G });
  assert.deepEqual(reservationOf({ cpus: 3, spec: {} }), { cpus: 3, memoryBytes: 0 });
  assert.deepEqual(reservationOf({ cpus: 1, spec: { build: { memoryBytes: 'lots' } } }), { cpus: 1, memoryBytes: 0 });
  assert.deepEqual(reservationOf({ cpus: 1, spec: { build: { memoryBytes: -5 } } }), { cpus: 1, memoryBytes: 0 });
  assert.deepEqual(reservationOf({ cpus: 0, spec: { build: { memoryBytes: Infinity } } }), { cpus: 1, memoryBytes: 0 });
});
