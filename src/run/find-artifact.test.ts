import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from '../cache/artifacts.ts';
import { bornAfter, findArtifactSync } from './find-artifact.ts';

test('bornAfter: only a birth time the file system gives, later than a known record time', () => {
  const rows: [birthMs: number, at: number | null | undefined, after: boolean][] = [
    [2000, 1000, true],
    [1000, 2000, false],
    [1000, 1000, false],
    [1000.7, 1000, false], // born within the record's millisecond (the record keeps whole ms)
    [1001.2, 1000, true],
    [0, 1000, false], // no birth time (some file systems): the stat is trusted as before
    [2000, null, false], // a record older than schema 14
    [2000, undefined, false],
  ];
  for (const [birthMs, at, after] of rows) assert.equal(bornAfter(birthMs, at), after, `${birthMs} after ${at}`);
});

test('findArtifactSync: a stat proves a recorded output only while meta.json is older than the record; a newer entry is read', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-find-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createArtifactStore({ cacheDir: join(root, 'cache') });
  const key = 'cd'.repeat(32);
  const dest = join(root, 'dest');
  await mkdir(join(dest, 'usr/share'), { recursive: true });
  await writeFile(join(dest, 'usr/share/x'), 'x\n');
  const meta = await store.put(key, { destDir: dest, meta: { name: 'x', version: '1', release: '1', arch: 'amd64', depends: [], provides: [] }, sourceDateEpoch: 0 });
  const path = join(store.dir(key), meta.archive!);
  const born = statSync(join(store.dir(key), 'meta.json')).birthtimeMs;
  if (born === 0) return t.skip('this file system gives no birth times');
  // What the records say: another output hash, so that the answer shows whether meta.json was read.
  const recorded = { outputHash: 'recorded', path };
  const reread: string[] = [];
  const told = (found: { outputHash: string }): void => void reread.push(found.outputHash);
  assert.equal(findArtifactSync(store, key, { ...recorded, at: born + 1 }, undefined, told)?.outputHash, 'recorded', 'recorded after: a stat is enough');
  assert.equal(findArtifactSync(store, key, { ...recorded, at: null }, undefined, told)?.outputHash, 'recorded', 'no record time: a stat is enough');
  assert.deepEqual(reread, []);
  assert.equal(findArtifactSync(store, key, { ...recorded, at: Math.floor(born) - 1 }, undefined, told)?.outputHash, meta.outputHash, 'born after the record: read');
  assert.deepEqual(reread, [meta.outputHash], 'the record is due a refresh');
  assert.equal(findArtifactSync(store, key, undefined, undefined)?.outputHash, meta.outputHash);
  assert.equal(findArtifactSync(store, 'ef'.repeat(32), { ...recorded, at: born + 1 }, undefined), undefined, 'no entry');
});
