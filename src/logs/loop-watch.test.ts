import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineHash, loopGuard, loopMessage, MAX_PERIOD, newLoopWatch, sameLine } from './loop-watch.ts';

test('sameLine: trailing whitespace and CRs dropped, digit runs alike, anything else differs', () => {
  const cases: Array<[string, string, boolean]> = [
    ['waiting for lock', 'waiting for lock', true],
    ['retrying (attempt 1234)', 'retrying (attempt 1235)', true],
    ['retrying (attempt 9)', 'retrying (attempt 10)', true],
    ['12:00:01 poll 3/10', '12:00:02 poll 4/10', true],
    ['waiting\r', 'waiting', true],
    ['waiting  \t\r', 'waiting', true],
    ['waiting ', 'waiting\t', true],
    ['', '  ', true],
    ['waiting', 'Waiting', false],
    ['waiting', 'waiting.', false],
    [' waiting', 'waiting', false],
    ['retrying (attempt 12)', 'retrying (attempt 12a)', false],
    ['retrying attempt 12', 'retrying attempt', false],
    ['a1b', 'ab', false],
    ['CC foo.o', 'CC bar.o', false],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(sameLine(Buffer.from(a), Buffer.from(b)), want, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    assert.equal(sameLine(Buffer.from(b), Buffer.from(a)), want, `${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
    // The same lines hash alike (the watchdog compares whole lines only when hashes match).
    if (want) assert.equal(lineHash(Buffer.from(a)), lineHash(Buffer.from(b)), `hash of ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
});

/** Feed `lines` one per `stepMs` of a fake clock; the index of the line that tripped it, and the trip. */
function feed(lines: readonly string[], o: { limitMs: number; minRepeats: number; stepMs: number }) {
  let t = 0;
  const watch = newLoopWatch({ limitMs: o.limitMs, minRepeats: o.minRepeats, now: () => t });
  for (let i = 0; i < lines.length; i++) {
    const trip = watch.line(Buffer.from(lines[i]!));
    if (trip !== undefined) return { at: i, trip };
    t += o.stepMs;
  }
  return undefined;
}

const repeat = (n: number, f: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => f(i));

test('newLoopWatch: trips only past both the count and the time, on one line repeated', () => {
  const limits = { limitMs: 1000, minRepeats: 50, stepMs: 100 };
  const cases: Array<{ name: string; lines: string[]; at: number | undefined; opts?: Partial<typeof limits> }> = [
    // Line i comes at i × 100 ms: line 50 is the 51st in a row, 4.9 s after the first repetition.
    { name: 'the same line: past 50 and past 1 s', lines: repeat(100, () => 'waiting for the server'), at: 50 },
    { name: 'digits differ: the same', lines: repeat(100, (i) => `retrying (attempt ${i + 1})`), at: 50 },
    { name: 'CRs and trailing blanks: the same', lines: repeat(100, (i) => (i % 2 === 0 ? 'waiting\r' : 'waiting  ')), at: 50 },
    { name: 'varied lines at the same rate: never', lines: repeat(200, (i) => `CC file${'abcdefghij'[i % 10]}${Math.floor(i / 10)}.o`), at: undefined },
    { name: 'another line now and then resets the count', lines: repeat(200, (i) => (i % 40 === 39 ? 'a different line' : 'waiting')), at: undefined },
    { name: 'the reset counts again from there', lines: [...repeat(30, () => 'waiting'), 'other', ...repeat(100, () => 'waiting')], at: 31 + 50 },
    { name: 'below the count (time passed): no kill', lines: repeat(50, () => 'waiting'), at: undefined, opts: { stepMs: 10_000 } },
    { name: 'below the time (count passed): no kill', lines: repeat(5000, () => 'waiting'), at: undefined, opts: { stepMs: 0.1 } },
    { name: 'slow repeats: killed once the count is reached too', lines: repeat(60, () => 'waiting'), at: 50, opts: { stepMs: 60_000 } },
    { name: 'time is counted from the first repetition', lines: repeat(200, () => 'waiting'), at: 102, opts: { minRepeats: 2, limitMs: 10_000 } },
    // Cycles: line i of a cycle of p lines printed k times; the 51st time ends at line 51p - 1.
    { name: 'two lines over and over', lines: repeat(300, (i) => (i % 2 === 0 ? 'connecting to 10.0.0.1:80' : 'refused, retrying in 5 s')), at: 101 },
    { name: 'three lines over and over, digits differing', lines: repeat(300, (i) => [`try ${i}`, 'Connecting…', 'failed: Connection refused.'][i % 3]!), at: 152 },
    { name: `a cycle of ${MAX_PERIOD} lines`, lines: repeat(MAX_PERIOD * 60, (i) => `step ${'abcdefghijklmnop'[i % MAX_PERIOD]}`), at: MAX_PERIOD * 51 - 1 },
    { name: `a cycle of ${MAX_PERIOD + 1} lines: not seen`, lines: repeat((MAX_PERIOD + 1) * 60, (i) => `step ${'abcdefghijklmnop'[i % (MAX_PERIOD + 1)]}`), at: undefined },
    { name: 'a cycle broken now and then', lines: repeat(600, (i) => (i % 90 === 89 ? 'progress' : i % 2 === 0 ? 'a' : 'b')), at: undefined },
    { name: 'a line repeated inside a cycle', lines: repeat(300, (i) => ['wait', 'wait', 'retry'][i % 3]!), at: 152 },
    // A number of varying length where the hash stops (its first 256 characters, digit runs as one).
    { name: 'a long line whose number crosses the hashed part', lines: repeat(100, (i) => `${'x'.repeat(254)}${(i * 7919) % 2000} ms`), at: 50 },
    { name: 'compile lines, two alternating kinds: never', lines: repeat(600, (i) => (i % 2 === 0 ? `CC src/file${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${Math.floor(i / 26)}.o` : 'In file included from x.h')), at: undefined },
  ];
  for (const c of cases) {
    const got = feed(c.lines, { ...limits, ...c.opts });
    assert.equal(got?.at, c.at, c.name);
  }
  const got = feed(repeat(100, (i) => `retrying (attempt ${i + 1})  \r`), limits)!;
  assert.deepEqual(got.trip, { lines: ['retrying (attempt 51)'], repeats: 51, forMs: 4900 });
  const cycle = feed(repeat(300, (i) => [`try ${i}  `, 'Connecting…', 'failed: Connection refused.\r'][i % 3]!), limits)!;
  assert.deepEqual(cycle.trip, { lines: ['try 150', 'Connecting…', 'failed: Connection refused.'], repeats: 51, forMs: 14_900 });
  // Tripped in the middle of a round, it still names the round from its first line.
  for (const [at, lines] of [[10, ['a', 'b', 'c']], [11, ['a', 'b', 'c']], [12, ['a', 'b', 'c']]] as const) {
    // Line i at i × 10 ms; the repetitions start at line 5 (50 ms); a limit that line `at` passes.
    const round = feed(['start', 'x 1', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'], { limitMs: at * 10 - 55, minRepeats: 2, stepMs: 10 });
    assert.deepEqual(round && { at: round.at, lines: round.trip.lines }, { at, lines }, `tripped at line ${at}`);
  }
});

test('newLoopWatch: trips once', () => {
  let t = 0;
  const watch = newLoopWatch({ limitMs: 10, minRepeats: 3, now: () => (t += 100) });
  const trips = repeat(20, () => 'x').map((l) => watch.line(Buffer.from(l))).filter((x) => x !== undefined);
  assert.equal(trips.length, 1);
});

test('loopMessage: names the line (cut at 200 characters), how often, how long, and what to do', () => {
  const m = loopMessage({ lines: ['retrying (attempt 10001)'], repeats: 10_001, forMs: 31 * 60_000 }, 30 * 60_000);
  assert.match(m, /"retrying \(attempt 10001\)"/);
  assert.match(m, /10001 times in a row for 31m \(loop-timeout 30m/);
  assert.match(m, /Fix the loop/);
  assert.match(m, /loop-timeout in the recipe's \[build\]/);
  assert.match(m, /kiln build --loop-timeout/);
  const two = loopMessage({ lines: ['connecting', 'refused'], repeats: 10_001, forMs: 31 * 60_000 }, 30 * 60_000);
  assert.match(two, /the same 2 lines 10001 times in a row for 31m .*: "connecting" \/ "refused"\. Fix the loop/);
  const long = loopMessage({ lines: ['y'.repeat(5000)], repeats: 3, forMs: 2500 }, 2000);
  assert.match(long, new RegExp(`"${'y'.repeat(200)}…"`));
  assert.ok(!long.includes('y'.repeat(201)));
});

test('loopGuard: 0 is off; otherwise its signal is aborted when the output loops, with the message', () => {
  assert.equal(loopGuard(0), undefined);
  let t = 0;
  const g = loopGuard(1000, { minRepeats: 5, now: () => (t += 300) })!;
  for (let i = 0; i < 4; i++) g.line(Buffer.from(`poll ${i}`));
  assert.equal(g.signal.aborted, false);
  assert.equal(g.message, undefined);
  for (let i = 0; i < 10; i++) g.line(Buffer.from(`poll ${i}`));
  assert.equal(g.signal.aborted, true);
  assert.match(g.message ?? '', /the same line \d+ times in a row/);
});
