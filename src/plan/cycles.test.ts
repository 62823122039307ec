import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCycles } from './cycles.ts';

/** "a>b c" → a waits for b and c. */
function graph(spec: Record<string, string>): { nodes: string[]; edges: Map<string, string[]> } {
  const edges = new Map<string, string[]>();
  for (const [n, to] of Object.entries(spec)) edges.set(n, to === '' ? [] : to.split(' '));
  return { nodes: [...edges.keys()], edges };
}

const rows: { name: string; g: Record<string, string>; want: string[][] }[] = [
  { name: 'no edges', g: { a: '', b: '' }, want: [] },
  { name: 'diamond is not a cycle', g: { top: 'l r', l: 'base', r: 'base', base: '' }, want: [] },
  { name: 'self-dependency', g: { a: 'a', b: '' }, want: [['a', 'a']] },
  { name: 'two packages', g: { b: 'a', a: 'b' }, want: [['a', 'b', 'a']] },
  { name: 'three, printed from the smallest name along the edges', g: { c: 'a', b: 'c', a: 'b' }, want: [['a', 'b', 'c', 'a']] },
  { name: 'three, the other direction', g: { a: 'c', c: 'b', b: 'a' }, want: [['a', 'c', 'b', 'a']] },
  { name: 'a cycle with a tail in and out', g: { top: 'x', x: 'y', y: 'z', z: 'x leaf', leaf: '' }, want: [['x', 'y', 'z', 'x']] },
  {
    name: 'two separate cycles',
    g: { a: 'b', b: 'a', m: 'n', n: 'o', o: 'm', free: 'a' },
    want: [
      ['a', 'b', 'a'],
      ['m', 'n', 'o', 'm'],
    ],
  },
  // One component, several cycles through it: one cycle is printed (a shortest one from the smallest node).
  { name: 'a chord makes a shorter cycle', g: { a: 'b', b: 'c a', c: 'a' }, want: [['a', 'b', 'a']] },
];

for (const row of rows) {
  test(`findCycles: ${row.name}`, () => {
    const { nodes, edges } = graph(row.g);
    const got = findCycles(nodes, edges).sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
    assert.deepEqual(got, row.want);
  });
}

test('findCycles: edges to unknown nodes are followed without harm', () => {
  assert.deepEqual(findCycles(['a'], new Map([['a', ['ghost']]])), []);
});

test('findCycles: a 100,000-long chain and a 100,000-long ring do not overflow the stack', () => {
  const n = 100_000;
  const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(6, '0')}`);
  const chain = new Map(ids.map((id, i) => [id, i + 1 < n ? [ids[i + 1]!] : []]));
  assert.deepEqual(findCycles(ids, chain), []);
  const ring = new Map(ids.map((id, i) => [id, [ids[(i + 1) % n]!]]));
  const cycles = findCycles(ids, ring);
  assert.equal(cycles.length, 1);
  assert.equal(cycles[0]!.length, n + 1);
  assert.equal(cycles[0]![0], 'p000000');
  assert.equal(cycles[0]![1], 'p000001');
  assert.equal(cycles[0]![n], 'p000000');
});

test('stronglyConnected: every component, single nodes included', async () => {
  const { stronglyConnected } = await import('./cycles.ts');
  const g = new Map<string, string[]>([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', []]]);
  const comps = stronglyConnected([...g.keys()], g).map((c) => [...c].sort().join(',')).sort();
  assert.deepEqual(comps, ['a,b,c', 'd', 'e']);
});
