import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boostedIds, checkBoostFlag, computePriorities, DEFAULT_ESTIMATE_MS, estimateOf, type PriorityNode } from './priority.ts';
import { KilnError } from '../errors.ts';

/** "b>a" lines: b waits for a. Nodes in the order given (must be dependency order). */
function nodes(spec: Record<string, string>): PriorityNode[] {
  return Object.entries(spec).map(([id, w]) => ({ id, waitsFor: w === '' ? [] : w.split(' ') }));
}

function prios(spec: Record<string, string>, durations: Record<string, number> = {}, fallback = 10, boosted?: string[]): Record<string, number> {
  return Object.fromEntries(computePriorities(nodes(spec), (id) => durations[id] ?? fallback, boosted === undefined ? undefined : new Set(boosted)));
}

test('a chain: each node carries the rest of the chain', () => {
  assert.deepEqual(prios({ a: '', b: 'a', c: 'b' }), { a: 30, b: 20, c: 10 });
});

test('chain vs wide fan: the root of the longer path wins, however many dependents the other has', () => {
  const fan: Record<string, string> = { chainRoot: '', c1: 'chainRoot', c2: 'c1', c3: 'c2', fanRoot: '' };
  for (let i = 0; i < 10; i++) fan[`f${i}`] = 'fanRoot';
  const p = prios(fan);
  assert.equal(p['chainRoot'], 40);
  assert.equal(p['fanRoot'], 20);
  assert.ok(p['chainRoot']! > p['fanRoot']!);
});

test('weighted by durations: one slow dependent outweighs a chain of quick ones', () => {
  const p = prios({ quick: '', q1: 'quick', q2: 'q1', q3: 'q2', slowRoot: '', slow: 'slowRoot' }, { slow: 100, slowRoot: 5 }, 10);
  assert.deepEqual(p, { quick: 40, q1: 30, q2: 20, q3: 10, slowRoot: 105, slow: 100 });
});

test('diamond: the longest of the paths, not their sum', () => {
  const p = prios({ base: '', l: 'base', r: 'base', top: 'l r' }, { base: 1, l: 10, r: 50, top: 2 });
  assert.deepEqual(p, { base: 53, l: 12, r: 52, top: 2 });
});

test('edges to ids outside the schedule are ignored', () => {
  assert.deepEqual(prios({ a: 'up-to-date-dep', b: 'a' }), { a: 20, b: 10 });
});

test('estimateOf: the median of known durations, else the default', () => {
  const rows: [number[], number][] = [
    [[], DEFAULT_ESTIMATE_MS],
    [[0, -1], DEFAULT_ESTIMATE_MS],
    [[5], 5],
    [[30, 10, 20], 20],
    [[40, 10, 30, 20], 30],
  ];
  for (const [known, want] of rows) assert.equal(estimateOf(known), want, String(known));
});

/** The ids by priority, highest first (ties by id), as the ready list would start them. */
function order(spec: Record<string, string>, durations: Record<string, number>, boosted: string[]): string[] {
  const p = prios(spec, durations, 10, boosted);
  return Object.keys(p).sort((a, b) => p[b]! - p[a]! || (a < b ? -1 : 1));
}

// A long chain (llvm-like work elsewhere) and a quick leaf with its dependency.
const TREE = { big: '', big2: 'big', big3: 'big2', dep: '', leaf: 'dep', other: '' };
const DUR = { big: 100, big2: 100, big3: 100, dep: 1, leaf: 2, other: 50 };
const boostRows: { name: string; spec: Record<string, string>; durations: Record<string, number>; boosted: string[]; want: string[] }[] = [
  { name: 'no boost: the longest path first', spec: TREE, durations: DUR, boosted: [], want: ['big', 'big2', 'big3', 'other', 'dep', 'leaf'] },
  { name: 'a boosted leaf and its dependency go before every other job', spec: TREE, durations: DUR, boosted: ['leaf'], want: ['dep', 'leaf', 'big', 'big2', 'big3', 'other'] },
  { name: 'a boosted root: only it and what it waits for move up', spec: TREE, durations: DUR, boosted: ['big2'], want: ['big', 'big2', 'big3', 'other', 'dep', 'leaf'] },
  { name: 'among boosted jobs the longest path first', spec: TREE, durations: DUR, boosted: ['leaf', 'other'], want: ['other', 'dep', 'leaf', 'big', 'big2', 'big3'] },
  { name: 'the boost of a chain does not add up: the longer boosted path still wins', spec: { a: '', b: 'a', c: 'b', solo: '' }, durations: { a: 1, b: 1, c: 1, solo: 10 }, boosted: ['a', 'b', 'c', 'solo'], want: ['solo', 'a', 'b', 'c'] },
  { name: 'a dependency shared with a boosted job ranks by its path through it', spec: { shared: '', slowTail: 'shared', boosted: 'shared', quick: '' }, durations: { shared: 1, slowTail: 500, boosted: 5, quick: 400 }, boosted: ['boosted'], want: ['shared', 'boosted', 'slowTail', 'quick'] },
  { name: 'ids outside the schedule are ignored', spec: TREE, durations: DUR, boosted: ['up-to-date-dep'], want: ['big', 'big2', 'big3', 'other', 'dep', 'leaf'] },
];
for (const row of boostRows) {
  test(`boost: ${row.name}`, () => {
    assert.deepEqual(order(row.spec, row.durations, row.boosted), row.want);
  });
}

test('boost: the values: a bonus of the longest path + 1, inherited as durations are; none without a boosted job', () => {
  const plain = prios(TREE, DUR);
  assert.deepEqual(prios(TREE, DUR, 10, []), plain);
  const bonus = 301;
  // leaf: its own 2 + the bonus; dep: its 1 + leaf's; the rest unchanged.
  assert.deepEqual(prios(TREE, DUR, 10, ['leaf']), { ...plain, leaf: 2 + bonus, dep: 3 + bonus });
  // shared gets its path through the boosted job (1 + 5 + bonus), more than the plain 501.
  const p = prios({ shared: '', slowTail: 'shared', boosted: 'shared' }, { shared: 1, slowTail: 500, boosted: 5 }, 10, ['boosted']);
  assert.deepEqual(p, { shared: 6 + 502, slowTail: 500, boosted: 5 + 502 });
});

test('boostedIds: globs match names as targets do, for every arch of a name', () => {
  const jobs = [
    { id: 'llvm@amd64', name: 'llvm' },
    { id: 'llvm@arm64', name: 'llvm' },
    { id: 'llvm-libs@amd64', name: 'llvm-libs' },
    { id: 'rust@amd64', name: 'rust', spec: { category: 'lang' } },
    { id: 'rustc-demo@amd64', name: 'rustc-demo', spec: { category: 'lang' } },
    { id: 'zlib@amd64', name: 'zlib' },
  ];
  const rows: [string[], string[]][] = [
    [[], []],
    [['lang/*'], ['rust@amd64', 'rustc-demo@amd64']],
    [['*/rust', 'lang/zlib', 'l*'], ['llvm@amd64', 'llvm@arm64', 'llvm-libs@amd64', 'rust@amd64']],
    [['llvm*'], ['llvm@amd64', 'llvm@arm64', 'llvm-libs@amd64']],
    [['rust'], ['rust@amd64']],
    [['llvm*', 'rust', 'rust'], ['llvm@amd64', 'llvm@arm64', 'llvm-libs@amd64', 'rust@amd64']],
    [['[lz]*'], ['llvm@amd64', 'llvm@arm64', 'llvm-libs@amd64', 'zlib@amd64']],
    [['gcc'], []],
  ];
  for (const [globs, want] of rows) assert.deepEqual([...boostedIds(jobs, globs)], want, globs.join(','));
});

test('checkBoostFlag: a --boost glob matching no package of the run is refused, naming it', () => {
  const jobs = [{ id: 'llvm@amd64', name: 'llvm' }];
  checkBoostFlag(undefined, jobs);
  checkBoostFlag(['llvm', 'l*'], jobs);
  assert.throws(() => checkBoostFlag(['llvm', 'rsut'], jobs), (e: unknown) => e instanceof KilnError && e.code === 'target-not-found' && /--boost "rsut" matches no package/.test(e.message));
});
