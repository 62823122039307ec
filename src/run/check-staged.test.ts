import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanNode } from '../plan/plan.ts';
import { stagedUpToDate } from './check-staged.ts';

/** A plan node with only what stagedUpToDate reads. */
const node = (id: string, state: PlanNode['state'], waitsFor: string[] = [], key: string | undefined = `k-${id}`): PlanNode =>
  ({ id, state, waitsFor, key }) as unknown as PlanNode;

const cases: { name: string; nodes: PlanNode[]; want: string[] }[] = [
  { name: 'nothing to build: nothing read', nodes: [node('a', 'up-to-date'), node('b', 'up-to-date', ['a'])], want: [] },
  { name: 'a cold build: nothing up to date to read', nodes: [node('a', 'to-build', [], undefined), node('b', 'to-build', ['a'], undefined)], want: [] },
  { name: 'the up-to-date deps of what is built, each once', nodes: [node('a', 'up-to-date'), node('c', 'up-to-date'), node('b', 'to-build', ['a', 'c']), node('d', 'to-build', ['a'])], want: ['k-a', 'k-c'] },
  { name: 'an up-to-date package nothing built stages is not read', nodes: [node('a', 'up-to-date'), node('z', 'up-to-date'), node('b', 'to-build', ['a'])], want: ['k-a'] },
  { name: 'a dep being built itself is not read', nodes: [node('a', 'to-build'), node('b', 'to-build', ['a'])], want: [] },
  { name: 'a broken dep has no artifact', nodes: [node('a', 'broken', [], undefined), node('b', 'to-build', ['a'])], want: [] },
];

for (const c of cases) {
  test(`stagedUpToDate: ${c.name}`, () => {
    assert.deepEqual(stagedUpToDate(c.nodes).map((s) => s.key).sort(), c.want);
  });
}
