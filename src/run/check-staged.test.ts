import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanNode } from '../plan/plan.ts';
import { removeCorruptStaged, stagedUpToDate } from './check-staged.ts';

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

test('removeCorruptStaged: an archive found sound is not read again until it changes; a changed one is read, and removed when damaged', async (t) => {
  const { mkdtemp, mkdir, writeFile, appendFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createArtifactStore } = await import('../cache/artifacts.ts');
  const root = await mkdtemp(join(tmpdir(), 'kiln-check-staged-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dest = join(root, 'dest', 'usr', 'share', 'x');
  await mkdir(dest, { recursive: true });
  await writeFile(join(dest, 'f'), 'hello\n');
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  const key = 'cd'.repeat(32);
  const meta = await store.put(key, { destDir: join(root, 'dest'), meta: { name: 'x', version: '1', release: 1, arch: 'amd64', depends: [], provides: [] }, sourceDateEpoch: 0 });
  let reads = 0;
  const counting = { ...store, verify: (k: string, o?: Parameters<typeof store.verify>[1]) => (reads++, store.verify(k, o)) };
  const staged = [{ id: 'x@amd64', key }];
  assert.deepEqual(await removeCorruptStaged(counting, staged), []);
  assert.deepEqual(await removeCorruptStaged(counting, staged), []);
  assert.equal(reads, 1, 'read once, then known sound');
  assert.deepEqual(await removeCorruptStaged(counting, staged, { always: new Set([key]) }), []);
  assert.equal(reads, 2, 'a key in `always` is read whatever its marker says');
  await appendFile(join(store.dir(key), meta.archive!), 'x');
  const bad = await removeCorruptStaged(counting, staged);
  assert.equal(reads, 3, 'read again once it changed');
  assert.equal(bad.length, 1);
  assert.equal(await store.get(key), undefined, 'and removed');
});
