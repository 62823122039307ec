import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePriorities, DEFAULT_ESTIMATE_MS, estimateOf, type PriorityNode } from './priority.ts';

/** "b>a" lines: b waits for a. Nodes in the order given (must be dependency order). */
function nodes(spec: Record<string, string>): PriorityNode[] {
  return Object.entries(spec).map(([id, w]) => ({ id, waitsFor: w === '' ? [] : w.split(' ') }));
}

function prios(spec: Record<string, string>, durations: Record<string, number> = {}, fallback = 10): Record<string, number> {
  return Object.fromEntries(computePriorities(nodes(spec), (id) => durations[id] ?? fallback));
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
