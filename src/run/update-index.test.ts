import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { Plan } from '../plan/plan.ts';
import { pruneIndex, updatePackageIndex } from './update-index.ts';

test('an index written when release was a string is rewritten with integers, even when no package changed', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'index.json');
  const artifact = join(tmp.path, 'meta-only');
  writeFileSync(artifact, '');
  const old = { name: 'zlib', version: '1.3', release: '2', arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'a'.repeat(64), path: artifact };
  writeFileSync(file, JSON.stringify({ packages: [old] }));
  const nothing = { nodes: [] } as unknown as Plan;
  await updatePackageIndex(file, nothing, {} as ArtifactStore, new Map(), () => undefined);
  const written = JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ release: unknown }> };
  assert.equal(written.packages[0]!.release, 2);
  // Already integers and nothing new: the file is left alone.
  writeFileSync(file, `${JSON.stringify({ packages: [{ ...old, release: 2 }] })}`);
  const before = readFileSync(file, 'utf8');
  await updatePackageIndex(file, nothing, {} as ArtifactStore, new Map(), () => undefined);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('two runs updating one index at once both land (the merge holds the index lock); pruneIndex drops entries whose artifact is gone', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'packages', 'index.json');
  const artifact = (name: string): string => {
    const path = join(tmp.path, `${name}.tar.zst`);
    writeFileSync(path, name);
    return path;
  };
  const run = (name: string): Promise<void> => {
    const node = { id: `${name}@amd64` };
    const meta = { name, version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), archive: `${name}.tar.zst` };
    const store = { get: async () => meta, remembered: () => undefined, dir: () => tmp.path } as unknown as ArtifactStore;
    artifact(name);
    return updatePackageIndex(file, { nodes: [node] } as unknown as Plan, store, new Map([[node.id, 'built']]), () => `key-${name}`);
  };
  await Promise.all(['a', 'b', 'c', 'd'].map(run));
  const names = (): string[] => (JSON.parse(readFileSync(file, 'utf8')) as { packages: Array<{ name: string }> }).packages.map((p) => p.name).sort();
  assert.deepEqual(names(), ['a', 'b', 'c', 'd']);
  rmSync(join(tmp.path, 'b.tar.zst'));
  assert.equal(await pruneIndex(file), 1);
  assert.deepEqual(names(), ['a', 'c', 'd']);
  assert.equal(await pruneIndex(file), 0);
});

test('an entry whose artifact is gone from the cache (gc from another state dir) is dropped when the index is next written', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'index.json');
  const gone = { name: 'gone', version: '1', release: 1, arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'b'.repeat(64), path: join(tmp.path, 'gone.tar.zst') };
  writeFileSync(file, JSON.stringify({ packages: [gone] }));
  await updatePackageIndex(file, { nodes: [] } as unknown as Plan, {} as ArtifactStore, new Map(), () => undefined);
  assert.deepEqual((JSON.parse(readFileSync(file, 'utf8')) as { packages: unknown[] }).packages, []);
});
