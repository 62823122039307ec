import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCycles, findCyclesIndexed, stronglyConnected } from './cycles.ts';

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
  // One component, several cycles through it: a shortest one from the smallest node, then
  // one through each member it missed, so that every member is shown on a cycle.
  { name: 'a chord makes a shorter cycle', g: { a: 'b', b: 'c a', c: 'a' }, want: [['a', 'b', 'a'], ['c', 'a', 'b', 'c']] },
  { name: 'two cycles sharing a node', g: { a: 'b', b: 'a c', c: 'b' }, want: [['a', 'b', 'a'], ['c', 'b', 'c']] },
];

for (const row of rows) {
  test(`findCycles: ${row.name}`, () => {
    const { nodes, edges } = graph(row.g);
    const got = findCycles(nodes, edges).sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
    assert.deepEqual(got, row.want);
  });
  test(`findCyclesIndexed: ${row.name}`, () => {
    const { names, adj } = numbered(row.g);
    const got = findCyclesIndexed(names.length, adj).map((c) => c.map((i) => names[i]!)).sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
    assert.deepEqual(got, row.want);
  });
}

/** The graph numbered in name order, successor lists ascending (as the planner numbers it). */
function numbered(spec: Record<string, string>): { names: string[]; adj: number[][] } {
  const { edges } = graph(spec);
  const names = [...edges.keys()].sort();
  const at = new Map(names.map((n, i) => [n, i]));
  return { names, adj: names.map((n) => edges.get(n)!.map((w) => at.get(w)!).sort((a, b) => a - b)) };
}

test('random graphs: one cycle per cyclic component (reachability both ways), each a closed walk along edges inside it from its smallest node', () => {
  let seed = 7;
  const rand = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % k);
  for (let round = 0; round < 200; round++) {
    const n = 1 + rand(30);
    const adj = Array.from({ length: n }, () => [...new Set(Array.from({ length: rand(4) }, () => rand(n)))].sort((a, b) => a - b));
    // The oracle: transitive closure, then components as mutual reachability.
    const reach = adj.map((succ, i) => {
      const r = new Set<number>(succ);
      for (const w of r) for (const x of adj[w]!) r.add(x);
      return r.add(i) && r;
    });
    const compOf = (i: number): number[] => [...reach[i]!].filter((j) => reach[j]!.has(i)).sort((a, b) => a - b);
    const cyclic = new Set<string>();
    for (let i = 0; i < n; i++) if (compOf(i).length > 1 || adj[i]!.includes(i)) cyclic.add(compOf(i).join(','));
    const got = findCyclesIndexed(n, adj);
    assert.equal(got.length, cyclic.size, `round ${round}: one cycle per cyclic component`);
    for (const c of got) {
      const comp = compOf(c[0]!);
      assert.ok(cyclic.has(comp.join(',')), `round ${round}: ${c} is not in a cyclic component`);
      assert.equal(c[0], comp[0], `round ${round}: starts at the component's smallest node`);
      assert.equal(c.at(-1), c[0], `round ${round}: closed`);
      for (let k = 0; k + 1 < c.length; k++) {
        assert.ok(adj[c[k]!]!.includes(c[k + 1]!), `round ${round}: ${c[k]} -> ${c[k + 1]} is not an edge`);
        assert.ok(comp.includes(c[k]!), `round ${round}: ${c[k]} leaves the component`);
      }
    }
    // The string form numbers names and gives the same cycles.
    const names = Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const edges = new Map(names.map((id, i) => [id, adj[i]!.map((w) => names[w]!)]));
    assert.deepEqual(findCycles(names, edges), got.map((c) => c.map((i) => names[i]!)), `round ${round}: findCycles`);
  }
});

test('stronglyConnected: every node in exactly one component, singles included', () => {
  const comps = stronglyConnected(['a', 'b', 'c', 'd'], new Map([['a', ['b']], ['b', ['a', 'c']], ['c', []], ['d', ['d']]]));
  assert.deepEqual(comps.map((c) => [...c].sort()).sort(), [['a', 'b'], ['c'], ['d']]);
});

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
