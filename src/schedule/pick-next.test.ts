import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atOnceNote, clampToMachine, compareReady, insertReady, mostAtOnce, pickNext, type Capacity, type ReadyJob } from './pick-next.ts';

const G = 1024 ** 3;
const machine: Capacity = { slots: 4, cpus: 4, memoryBytes: 8 * G };

function job(id: string, priority: number, cpus = 1, memG = 1): ReadyJob {
  return { id, priority, cpus, memoryBytes: memG * G };
}

/** Ready list from [id, priority, cpus, memG] rows, sorted as the scheduler keeps it. */
function ready(...rows: [string, number, number?, number?][]): ReadyJob[] {
  const list: ReadyJob[] = [];
  for (const [id, p, c, m] of rows) insertReady(list, job(id, p, c, m));
  return list;
}

const rows: { name: string; list: ReadyJob[]; free: Capacity; want: string | undefined }[] = [
  { name: 'nothing ready', list: [], free: machine, want: undefined },
  { name: 'highest priority first', list: ready(['a', 10], ['b', 30], ['c', 20]), free: machine, want: 'b' },
  { name: 'no free slot', list: ready(['a', 10]), free: { ...machine, slots: 0 }, want: undefined },
  { name: 'ties start in name order', list: ready(['c', 5], ['a', 5], ['b', 5]), free: machine, want: 'a' },
  {
    name: 'backfill: the top job needs more cpus than are free, a smaller one runs',
    list: ready(['big', 100, 3], ['small', 10, 1], ['mid', 50, 2]),
    free: { slots: 2, cpus: 2, memoryBytes: 8 * G },
    want: 'mid',
  },
  {
    name: 'backfill on memory',
    list: ready(['hungry', 100, 1, 6], ['lean', 10, 1, 1]),
    free: { slots: 2, cpus: 4, memoryBytes: 4 * G },
    want: 'lean',
  },
  {
    name: 'nothing fits',
    list: ready(['a', 10, 2], ['b', 20, 3]),
    free: { slots: 3, cpus: 1, memoryBytes: 8 * G },
    want: undefined,
  },
  { name: 'exact fit', list: ready(['a', 10, 4, 8]), free: machine, want: 'a' },
  { name: 'oversized cpus are clamped: runs on an idle machine', list: ready(['huge', 10, 64]), free: machine, want: 'huge' },
  {
    name: 'oversized cpus are clamped: still waits for the whole machine',
    list: ready(['huge', 10, 64], ['small', 1]),
    free: { slots: 3, cpus: 3, memoryBytes: 8 * G },
    want: 'small',
  },
  { name: 'oversized memory is clamped', list: ready(['huge', 10, 1, 100]), free: machine, want: 'huge' },
  {
    name: 'oversized memory waits for all memory',
    list: ready(['huge', 10, 1, 100]),
    free: { ...machine, memoryBytes: 7 * G },
    want: undefined,
  },
];

for (const row of rows) {
  test(`pickNext: ${row.name}`, () => {
    const i = pickNext(row.list, row.free, machine);
    assert.equal(i === -1 ? undefined : row.list[i]?.id, row.want);
  });
}

test('clampToMachine', () => {
  assert.deepEqual(clampToMachine({ cpus: 64, memoryBytes: 100 * G }, machine), { cpus: 4, memoryBytes: 8 * G });
  assert.deepEqual(clampToMachine({ cpus: 2, memoryBytes: G }, machine), { cpus: 2, memoryBytes: G });
});

test('insertReady keeps ascending order (priority, then reverse id)', () => {
  const list: ReadyJob[] = [];
  const ids = ['m', 'a', 'z', 'b', 'q', 'c'];
  const prios = [5, 1, 5, 9, 1, 5];
  ids.forEach((id, i) => insertReady(list, job(id, prios[i]!)));
  assert.deepEqual(list.map((j) => j.id), ['q', 'a', 'z', 'm', 'c', 'b']);
  for (let i = 1; i < list.length; i++) assert.ok(compareReady(list[i - 1]!, list[i]!) < 0);
  assert.equal(compareReady(job('a', 1), job('a', 1)), 0);
});

// EASY backfilling: the top job (2 cpus) is blocked on a 4-cpu machine where 3 cpus are
// held by running jobs; 1 cpu is free. Running jobs end at the times given; the now is 0.
const held = (ends: [number, number][]): { cpus: number; memoryBytes: number; endsAt: number }[] =>
  ends.map(([cpus, endsAt]) => ({ cpus, memoryBytes: G, endsAt }));
const easyRows: { name: string; list: ReadyJob[]; running: ReturnType<typeof held>; durations: Record<string, number>; want: string | undefined }[] = [
  {
    name: 'a small job that ends before the top job can start runs ahead of it',
    list: ready(['top', 100, 2], ['quick', 10, 1]),
    running: held([[1, 50], [2, 200]]),
    durations: { quick: 40 },
    want: 'quick',
  },
  {
    name: 'a small job that would still run then (and take a cpu the top job needs) waits',
    list: ready(['top', 100, 2], ['slow', 10, 1]),
    running: held([[1, 50], [2, 200]]),
    durations: { slow: 80 },
    want: undefined,
  },
  {
    name: 'a long job may still run when it only uses what the top job will not need',
    // At t=200 both running jobs have ended: 4 cpus free, the top job takes 3, 1 is spare.
    list: ready(['top', 100, 3], ['slow', 10, 1]),
    running: held([[1, 50], [2, 200]]),
    durations: { slow: 10_000 },
    want: 'slow',
  },
  {
    name: 'unknown durations: any job that fits runs (no reservation can be made)',
    list: ready(['top', 100, 2], ['other', 10, 1]),
    running: held([[1, Infinity], [2, Infinity]]),
    durations: {},
    want: 'other',
  },
  {
    name: 'an overdue running job counts as ending now: nothing but quick work fits before',
    list: ready(['top', 100, 2], ['slow', 10, 1]),
    running: held([[1, -10], [2, 200]]),
    durations: { slow: 1 },
    want: undefined,
  },
];

for (const row of easyRows) {
  test(`pickNext, backfilling: ${row.name}`, () => {
    const free: Capacity = { slots: 2, cpus: 1, memoryBytes: 5 * G };
    const timeline = { now: 0, running: row.running, durationOf: (j: ReadyJob) => row.durations[j.id] ?? Infinity };
    const i = pickNext(row.list, free, machine, () => timeline);
    assert.equal(i === -1 ? undefined : row.list[i]?.id, row.want);
  });
}

test('mostAtOnce: how many jobs can ever run together, and what limits them', () => {
  const G = 1024 ** 3;
  const job = (cpus: number, memoryBytes = G / 2): Pick<ReadyJob, 'cpus' | 'memoryBytes'> => ({ cpus, memoryBytes });
  const cases: [string, Pick<ReadyJob, 'cpus' | 'memoryBytes'>[], Capacity, { jobs: number; by: string }][] = [
    ['-j3 on 2 cores, 1 cpu each', [job(1), job(1), job(1), job(1)], { slots: 3, cpus: 2, memoryBytes: 24 * G }, { jobs: 2, by: 'cpus' }],
    ['-j3 with --overcommit-cpus 1', [job(1), job(1), job(1), job(1)], { slots: 3, cpus: 3, memoryBytes: 24 * G }, { jobs: 3, by: 'slots' }],
    ['fewer jobs than slots', [job(1)], { slots: 4, cpus: 8, memoryBytes: 24 * G }, { jobs: 1, by: 'slots' }],
    ['the smallest reservations count', [job(4), job(1), job(1)], { slots: 3, cpus: 2, memoryBytes: 24 * G }, { jobs: 2, by: 'cpus' }],
    ['a job larger than the machine is clamped', [job(16)], { slots: 2, cpus: 2, memoryBytes: 24 * G }, { jobs: 1, by: 'slots' }],
    ['memory first', [job(1, 8 * G), job(1, 8 * G), job(1, 8 * G)], { slots: 3, cpus: 8, memoryBytes: 20 * G }, { jobs: 2, by: 'memory' }],
    ['nothing to build', [], { slots: 2, cpus: 2, memoryBytes: G }, { jobs: 0, by: 'slots' }],
  ];
  for (const [name, jobs, total, want] of cases) assert.deepEqual(mostAtOnce(jobs, total), want, name);
});

test('atOnceNote: said only when the reservations, not the slots, limit what runs at once', () => {
  const cap = { slots: 4, cpus: 2, memoryBytes: 8 * 1024 ** 3 };
  assert.equal(atOnceNote([], cap), undefined);
  assert.equal(atOnceNote([{ cpus: 1, memoryBytes: 1024 ** 3 }, { cpus: 1, memoryBytes: 1024 ** 3 }], { ...cap, cpus: 8 }), undefined);
  const cpus = atOnceNote([{ cpus: 2, memoryBytes: 1024 ** 3 }, { cpus: 2, memoryBytes: 1024 ** 3 }, { cpus: 2, memoryBytes: 1024 ** 3 }], cap);
  assert.equal(cpus?.jobs, 1);
  assert.match(cpus!.text, /^--jobs 4: at most 1 build\(s\) at once here: each reserves its recipe's cpus, at least 2, and there are 2 to reserve/);
  const mem = atOnceNote([{ cpus: 1, memoryBytes: 6 * 1024 ** 3 }, { cpus: 1, memoryBytes: 6 * 1024 ** 3 }], { ...cap, cpus: 8 });
  assert.equal(mem?.jobs, 1);
  assert.match(mem!.text, /each reserves its recipe's memory, and there is 8\.0 GiB to reserve$/);
  // No --jobs given: the slots are one per core, and it says so rather than name a flag not given.
  const byDefault = atOnceNote([{ cpus: 2, memoryBytes: 1024 ** 3 }, { cpus: 2, memoryBytes: 1024 ** 3 }], cap, { jobsGiven: false });
  assert.match(byDefault!.text, /^4 jobs at once \(one per core, as no --jobs was given\): at most 1 build\(s\) at once here/);
});
