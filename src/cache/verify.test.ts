import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from './artifacts.ts';
import { sha256 } from '../lib/hash.ts';
import { verifyCache } from './verify.ts';

const info = { name: 'hello', version: '1.0', release: 1, arch: 'amd64', depends: [], provides: [] };

test('verifyCache: whole entries pass; a damaged download and a truncated archive are named, and --fix removes only them', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-cache-verify-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  await mkdir(join(cacheDir, 'downloads'), { recursive: true });
  const good = 'a good download\n';
  const bad = 'a download damaged on disk\n';
  await writeFile(join(cacheDir, 'downloads', sha256(good)), good);
  await writeFile(join(cacheDir, 'downloads', sha256(bad)), bad.replace('damaged', 'DAMAGED'));
  await writeFile(join(cacheDir, 'downloads', 'not-a-hash'), 'ignored');
  const store = createArtifactStore({ cacheDir });
  const keys = ['aa'.repeat(32), 'bb'.repeat(32), 'cc'.repeat(32), 'dd'.repeat(32), 'ee'.repeat(32)];
  for (const key of keys) {
    const dest = join(root, `dest-${key.slice(0, 2)}`);
    await mkdir(join(dest, 'usr/share'), { recursive: true });
    await writeFile(join(dest, 'usr/share/data'), `${key}\n`.repeat(1000));
    await store.put(key, { destDir: dest, meta: info, sourceDateEpoch: 0 });
  }
  await truncate(join(store.dir(keys[1]!), 'pkg.tar.zst'), 10);
  await writeFile(join(store.dir(keys[2]!), 'meta.json'), '{ torn');
  await rm(join(store.dir(keys[3]!), 'manifest.json'));
  await writeFile(join(store.dir(keys[4]!), 'manifest.json'), '[]\n');

  const found = await verifyCache(cacheDir);
  assert.equal(found.downloads, 2);
  assert.equal(found.artifacts, 5);
  assert.deepEqual(found.damaged.map((d) => [d.kind, d.path]), [
    ['download', join(cacheDir, 'downloads', sha256(bad))],
    ['artifact', store.dir(keys[1]!)],
    ['artifact', store.dir(keys[2]!)],
    ['artifact', store.dir(keys[3]!)],
    ['artifact', store.dir(keys[4]!)],
  ]);
  assert.equal(found.damaged[3]!.problem, 'has no manifest.json (its files are not listed)');
  assert.equal(found.damaged[4]!.problem, 'has a manifest.json that does not match its output hash');
  assert.match(found.damaged[0]!.problem, /^has sha256 [0-9a-f]{64}, not the [0-9a-f]{16}… its name says$/);
  assert.match(found.damaged[1]!.problem, /has 10 bytes where meta\.json says \d+/);
  assert.equal(found.damaged[2]!.problem, 'has an unreadable meta.json');
  assert.ok(existsSync(store.dir(keys[1]!)), 'without --fix nothing is removed');

  const fixed = await verifyCache(cacheDir, { fix: true });
  assert.equal(fixed.damaged.length, 5);
  assert.equal(existsSync(join(cacheDir, 'downloads', sha256(bad))), false);
  assert.equal(existsSync(store.dir(keys[1]!)), false);
  assert.equal(existsSync(store.dir(keys[2]!)), false);
  assert.ok(existsSync(store.dir(keys[0]!)) && existsSync(join(cacheDir, 'downloads', sha256(good))));
  const after = await verifyCache(cacheDir);
  assert.deepEqual([after.downloads, after.artifacts, after.damaged.length], [1, 1, 0]);
});

test('verifyCache: a manifest.json that cannot be read (a folder in its place) is the entry\'s damage, not a crash', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-cache-verify-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  const key = 'ab'.repeat(32);
  await mkdir(join(root, 'dest', 'usr'), { recursive: true });
  await writeFile(join(root, 'dest', 'usr', 'f'), 'f\n');
  await store.put(key, { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
  await rm(join(store.dir(key), 'manifest.json'));
  await mkdir(join(store.dir(key), 'manifest.json'));
  const found = await verifyCache(cacheDir);
  assert.deepEqual(found.damaged.map((d) => d.problem), ['has an unreadable manifest.json (EISDIR)']);
});

test('verifyCache: an artifact folder without its meta.json is damage, counted and named; --fix removes it', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-cache-verify-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  const store = createArtifactStore({ cacheDir });
  const key = 'cd'.repeat(32);
  await mkdir(join(root, 'dest', 'usr'), { recursive: true });
  await writeFile(join(root, 'dest', 'usr', 'f'), 'f\n');
  await store.put(key, { destDir: join(root, 'dest'), meta: info, sourceDateEpoch: 0 });
  await rm(join(store.dir(key), 'meta.json'));
  const found = await verifyCache(cacheDir);
  assert.equal(found.artifacts, 1);
  assert.deepEqual(found.damaged.map((d) => d.problem), ['has no meta.json']);
  const fixed = await verifyCache(cacheDir, { fix: true });
  assert.deepEqual(fixed.damaged.map((d) => d.problem), ['has no meta.json']);
  assert.equal(existsSync(store.dir(key)), false);
  assert.deepEqual((await verifyCache(cacheDir)).damaged, []);
});
