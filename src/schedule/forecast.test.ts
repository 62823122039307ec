import { test } from 'node:test';
import assert from 'node:assert/strict';
import { criticalPath, lowerBound, simulate, type ForecastJob } from './forecast.ts';

const BIG = Number.MAX_SAFE_INTEGER;
const cap = (slots: number, cpus = BIG, memoryBytes = BIG) => ({ slots, cpus, memoryBytes });

/** "id: dep dep" → jobs in the order given (dependency order), durations by id, default 10. */
function jobs(spec: Record<string, string>, durations: Record<string, number> = {}, cpus: Record<string, number> = {}): ForecastJob[] {
  return Object.entries(spec).map(([id, w]) => ({
    id,
    waitsFor: w === '' ? [] : w.split(' '),
    cpus: cpus[id] ?? 1,
    memoryBytes: 1,
    durationMs: durations[id] ?? 10,
    learned: id in durations,
  }));
}

const chain = jobs({ a: '', b: 'a', c: 'b' }, { a: 5, b: 7, c: 11 });
const diamond = jobs({ a: '', b: 'a', c: 'a', d: 'b c' }, { a: 10, b: 30, c: 20, d: 5 });

test('table: makespans', () => {
  const cases: { name: string; jobs: ForecastJob[]; capacity: ReturnType<typeof cap>; makespan: number; peak: number }[] = [
    { name: 'chain, one slot', jobs: chain, capacity: cap(1), makespan: 23, peak: 1 },
    { name: 'chain, many slots: no faster', jobs: chain, capacity: cap(8), makespan: 23, peak: 1 },
    { name: 'diamond, one slot: the sum', jobs: diamond, capacity: cap(1), makespan: 65, peak: 1 },
    { name: 'diamond, two slots: b and c together', jobs: diamond, capacity: cap(2), makespan: 45, peak: 2 },
    { name: 'independent, 3 slots', jobs: jobs({ a: '', b: '', c: '', d: '', e: '', f: '' }), capacity: cap(3), makespan: 20, peak: 3 },
    { name: 'independent, slots above the jobs', jobs: jobs({ a: '', b: '', c: '' }), capacity: cap(100), makespan: 10, peak: 3 },
    // 4 slots, but 4 cpus and each job reserves 2: two at a time.
    { name: 'cpus reservations let fewer run at once', jobs: jobs({ a: '', b: '', c: '', d: '' }, {}, { a: 2, b: 2, c: 2, d: 2 }), capacity: cap(4, 4), makespan: 20, peak: 2 },
    // A job asking more cpus than the machine has is clamped: it still runs (alone).
    { name: 'a job above the machine is clamped', jobs: jobs({ a: '', b: '' }, {}, { a: 64, b: 1 }), capacity: cap(4, 4), makespan: 20, peak: 1 },
    { name: 'nothing to do', jobs: [], capacity: cap(4), makespan: 0, peak: 0 },
    { name: 'zero-length jobs', jobs: jobs({ a: '', b: 'a' }, { a: 0, b: 0 }), capacity: cap(1), makespan: 0, peak: 1 },
    // Waits on jobs outside the forecast (up to date) are ignored.
    { name: 'waits outside are ignored', jobs: jobs({ a: 'gone', b: 'a' }), capacity: cap(1), makespan: 20, peak: 1 },
  ];
  for (const c of cases) {
    const s = simulate(c.jobs, c.capacity);
    assert.equal(s.makespanMs, c.makespan, c.name);
    assert.equal(s.peak, c.peak, `${c.name}: peak`);
    assert.equal(s.times.size, c.jobs.length, `${c.name}: times`);
  }
});

test('the scheduler\'s order: the longer chain starts first, per-job times follow dependencies', () => {
  // One slot: the root of the longer remaining path (b, 30 + 5) goes before c.
  const s = simulate(diamond, cap(1));
  const order = [...s.times.entries()].sort((x, y) => x[1].startMs - y[1].startMs).map(([id]) => id);
  assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  assert.deepEqual(s.times.get('d'), { startMs: 60, endMs: 65 });
  for (const j of diamond) for (const w of j.waitsFor) assert.ok(s.times.get(w)!.endMs <= s.times.get(j.id)!.startMs, `${j.id} started before ${w} ended`);
  // By priority, not by name: y (5) leads to z (100), so it goes before x.
  const t = simulate(jobs({ x: '', y: '', z: 'y' }, { x: 10, y: 5, z: 100 }), cap(1));
  assert.deepEqual([t.times.get('y')!.startMs, t.times.get('z')!.startMs, t.times.get('x')!.startMs], [0, 5, 105]);
});

test('backfilling as pickNext does it: a 1-cpu job runs beside a blocked 2-cpu one only if it ends in time', () => {
  // 2 cpus. x and y take both at 0; at 20 x ends and top2 (2 cpus) is blocked until y
  // ends at 50. short (30) ends by then and runs at 20; long (31) would delay top2: it waits.
  const js = jobs({ x: '', y: '', top2: 'x', next: 'top2', long: '', short: '' }, { x: 20, y: 50, top2: 10, next: 200, long: 31, short: 30 }, { top2: 2 });
  const s = simulate(js, cap(4, 2));
  const starts = Object.fromEntries([...s.times].map(([id, t]) => [id, t.startMs]));
  assert.deepEqual(starts, { x: 0, y: 0, short: 20, top2: 50, next: 60, long: 60 });
  assert.equal(s.makespanMs, 260);
});

test('capacity 1 = sum of durations; infinite slots = critical path (random DAGs)', () => {
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 30; round++) {
    const n = 1 + rand(40);
    const js: ForecastJob[] = [];
    for (let i = 0; i < n; i++) {
      const waits = new Set<string>();
      for (let k = rand(4); k > 0 && i > 0; k--) waits.add(`j${rand(i)}`);
      js.push({ id: `j${i}`, waitsFor: [...waits], cpus: 1 + rand(3), memoryBytes: 1, durationMs: rand(1000), learned: true });
    }
    const sum = js.reduce((t, j) => t + j.durationMs, 0);
    assert.equal(simulate(js, cap(1, 4)).makespanMs, sum, `round ${round}: one slot`);
    const cp = criticalPath(js);
    assert.equal(simulate(js, cap(BIG)).makespanMs, cp.ms, `round ${round}: infinite slots`);
    // The path is a real chain: each waits for the one before, and the durations add up.
    assert.equal(cp.jobs.reduce((t, j) => t + j.durationMs, 0), cp.ms);
    for (let i = 1; i < cp.jobs.length; i++) assert.ok(js.find((j) => j.id === cp.jobs[i]!.id)!.waitsFor.includes(cp.jobs[i - 1]!.id));
    // Any capacity lies between the bounds.
    const mid = simulate(js, cap(3, 4)).makespanMs;
    assert.ok(mid >= lowerBound(js, cap(3, 4)).ms && mid <= sum, `round ${round}: ${mid}`);
  }
});

test('critical path: the longest duration-weighted chain, not the longest by count', () => {
  const js = jobs({ q1: '', q2: 'q1', q3: 'q2', q4: 'q3', s1: '', s2: 's1' }, { q1: 1, q2: 1, q3: 1, q4: 1, s1: 3, s2: 40 });
  const cp = criticalPath(js);
  assert.equal(cp.ms, 43);
  assert.deepEqual(cp.jobs.map((j) => j.id), ['s1', 's2']);
  assert.deepEqual(criticalPath(diamond).jobs.map((j) => j.id), ['a', 'b', 'd']);
  assert.deepEqual(criticalPath([]), { ms: 0, jobs: [] });
});

test('estimates are counted and carried on the path', () => {
  const js = jobs({ a: '', b: 'a', c: '' }, { a: 5 });
  assert.equal(js.filter((j) => !j.learned).length, 2);
  assert.deepEqual(criticalPath(js).jobs.map((j) => [j.id, j.learned]), [['a', true], ['b', false]]);
});

test('lower bound: the critical path, or the reserved cpus over the machine\'s when longer', () => {
  const wide = jobs({ a: '', b: '', c: '', d: '' }, {}, { a: 2, b: 2, c: 2, d: 2 });
  assert.deepEqual(lowerBound(wide, { cpus: 4, memoryBytes: BIG }), { ms: 20, by: 'cpus' });
  assert.deepEqual(lowerBound(chain, { cpus: 4, memoryBytes: BIG }), { ms: 23, by: 'critical path' });
});

test('10,000 jobs in a random DAG: the forecast finishes, and respects every wait', () => {
  let seed = 42;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const js: ForecastJob[] = [];
  for (let i = 0; i < 10_000; i++) {
    const waits = new Set<string>();
    for (let k = rand(5); k > 0 && i > 0; k--) waits.add(`j${Math.max(0, i - 1 - rand(200))}`);
    js.push({ id: `j${i}`, waitsFor: [...waits], cpus: 1 + rand(4), memoryBytes: (1 + rand(8)) * 2 ** 28, durationMs: 1000 + rand(600_000), learned: rand(4) > 0 });
  }
  const capacity = { slots: 16, cpus: 8, memoryBytes: 16 * 2 ** 30 };
  const s = simulate(js, capacity);
  assert.equal(s.times.size, 10_000);
  for (const j of js) for (const w of j.waitsFor) assert.ok(s.times.get(w)!.endMs <= s.times.get(j.id)!.startMs);
  assert.ok(s.makespanMs >= lowerBound(js, capacity).ms);
  assert.ok(s.peak <= 8);
});

test('boosted jobs (priority-boost, --boost): they and what they wait for start first, as kiln build orders them', () => {
  const js = jobs({ long: '', long2: 'long', dep: '', leaf: 'dep' }, { long: 100, long2: 100, dep: 1, leaf: 2 });
  const starts = (boosted?: ReadonlySet<string>): string[] => [...simulate(js, cap(1), boosted).times.entries()].sort((x, y) => x[1].startMs - y[1].startMs).map(([id]) => id);
  assert.deepEqual(starts(), ['long', 'long2', 'dep', 'leaf']);
  assert.deepEqual(starts(new Set(['leaf'])), ['dep', 'leaf', 'long', 'long2']);
  // The critical path is the graph's, boost or not.
  assert.deepEqual(criticalPath(js).jobs.map((j) => j.id), ['long', 'long2']);
});
