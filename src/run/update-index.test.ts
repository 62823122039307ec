import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import type { ArtifactStore } from '../cache/artifacts.ts';
import type { Plan } from '../plan/plan.ts';
import { updatePackageIndex } from './update-index.ts';

test('an index written when release was a string is rewritten with integers, even when no package changed', async () => {
  await using tmp = await tmpDir();
  const file = join(tmp.path, 'index.json');
  const old = { name: 'zlib', version: '1.3', release: '2', arch: 'amd64', depends: [], provides: [], size: 1, sha256: 'a'.repeat(64), path: '/x' };
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
