import { test } from 'node:test';
import assert from 'node:assert/strict';
import { breakWaitCycles, type Wait } from './wait-cycles.ts';

const w = (binary: string, producer: string, archiveToo = true): Wait => ({ binary, producer, archiveToo });

test('breakWaitCycles: table', () => {
  const cases: { name: string; waits: Record<string, Wait[]>; kept: Record<string, string[]>; dropped: string[] }[] = [
    {
      name: 'a chain stays as it is',
      waits: { app: [w('libfoo-dev', 'foo')], foo: [] },
      kept: { app: ['libfoo-dev'], foo: [] },
      dropped: [],
    },
    {
      name: 'a two-cycle with the archive on both sides loses both waits',
      waits: { gcc: [w('libc6-dev', 'glibc')], glibc: [w('gcc', 'gcc')] },
      kept: { gcc: [], glibc: [] },
      dropped: ['gcc -> glibc (libc6-dev)', 'glibc -> gcc (gcc)'],
    },
    {
      name: 'a wait only this run can satisfy stays, so the cycle is still reported',
      waits: { a: [w('new-b', 'b', false)], b: [w('new-a', 'a', false)] },
      kept: { a: ['new-b'], b: ['new-a'] },
      dropped: [],
    },
    {
      name: 'only the edges inside the cycle go; a wait on a source outside it stays',
      waits: { a: [w('b-dev', 'b'), w('z-dev', 'z')], b: [w('a-dev', 'a')], z: [] },
      kept: { a: ['z-dev'], b: [], z: [] },
      dropped: ['a -> b (b-dev)', 'b -> a (a-dev)'],
    },
  ];
  for (const c of cases) {
    const r = breakWaitCycles(new Map(Object.entries(c.waits)));
    assert.deepEqual(Object.fromEntries([...r.kept].map(([k, v]) => [k, v.map((x) => x.binary)])), c.kept, c.name);
    assert.deepEqual(r.dropped, c.dropped, c.name);
  }
});
