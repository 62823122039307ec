import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lutimes, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactDirs, cacheUsage, walkStat } from './du.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createArtifactStore } from './artifacts.ts';
import { sha256 } from '../lib/hash.ts';

test('cacheUsage counts entries and bytes per part of the cache', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-du-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cacheDir = join(root, 'cache');
  await mkdir(join(cacheDir, 'downloads'), { recursive: true });
  await writeFile(join(cacheDir, 'downloads', sha256('a')), 'a'.repeat(100));
  await writeFile(join(cacheDir, 'downloads', sha256('b')), 'b'.repeat(50));
  await mkdir(join(cacheDir, 'tmp/art-x'), { recursive: true });
  await writeFile(join(cacheDir, 'tmp/art-x/pkg.tar.zst'), 'partial');
  await mkdir(join(cacheDir, 'deps-layers/k1/root/var/lib/dpkg'), { recursive: true });
  await writeFile(join(cacheDir, 'deps-layers/k1/root/var/lib/dpkg/status'), 'dpkg status');
  await mkdir(join(cacheDir, 'indexes'));
  await writeFile(join(cacheDir, 'indexes', sha256('Packages')), 'Package: a\n');
  await writeFile(join(cacheDir, 'indexes', sha256('InRelease')), 'signed');
  await mkdir(join(cacheDir, 'git', `${sha256('git+file:///r')}.git`, 'objects'), { recursive: true });
  await writeFile(join(cacheDir, 'git', `${sha256('git+file:///r')}.git`, 'objects', 'pack'), 'pack');
  await mkdir(join(cacheDir, 'ccache/host-amd64/a/b'), { recursive: true });
  await writeFile(join(cacheDir, 'ccache/host-amd64/a/b/xR'), 'object');
  await mkdir(join(cacheDir, 'ccache/bookworm-amd64-amd64'), { recursive: true });

  const store = createArtifactStore({ cacheDir });
  await mkdir(join(root, 'dest/bin'), { recursive: true });
  await writeFile(join(root, 'dest/bin/tool'), 'x'.repeat(1000));
  await symlink('tool', join(root, 'dest/bin/alias'));
  const meta = { name: 'p', version: '1', arch: 'amd64' };
  await store.put('11'.repeat(32), { destDir: join(root, 'dest'), meta, sourceDateEpoch: 0 });
  await store.put('12'.repeat(32), { destDir: join(root, 'dest'), meta, sourceDateEpoch: 0 });
  const one = (await walkStat(store.dir('11'.repeat(32)))).bytes;
  assert(one > 0);

  assert.deepEqual(await cacheUsage(cacheDir), {
    downloads: { count: 2, bytes: 150 },
    artifacts: { count: 2, bytes: 2 * one },
    tmp: { count: 1, bytes: 'partial'.length },
    depsLayers: { count: 1, bytes: 'dpkg status'.length },
    git: { count: 1, bytes: 'pack'.length },
    indexes: { count: 2, bytes: 'Package: a\n'.length + 'signed'.length },
    ccache: { count: 2, bytes: 'object'.length },
  });
});

test('a missing cache dir is empty', async () => {
  assert.deepEqual(await cacheUsage(join(tmpdir(), 'kiln-du-does-not-exist')), {
    downloads: { count: 0, bytes: 0 }, artifacts: { count: 0, bytes: 0 }, tmp: { count: 0, bytes: 0 }, depsLayers: { count: 0, bytes: 0 }, git: { count: 0, bytes: 0 }, indexes: { count: 0, bytes: 0 }, ccache: { count: 0, bytes: 0 },
  });
});

test('walkStat sums file sizes and finds the newest mtime, without following symlinks', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-du-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'd/e'), { recursive: true });
  await writeFile(join(root, 'd/e/f'), '12345');
  await writeFile(join(root, 'big'), 'x'.repeat(10_000));
  await symlink(join(root, 'big'), join(root, 'd/link'));
  await lutimes(join(root, 'd/link'), 1000, 1000);
  for (const p of ['d/e/f', 'd/e', 'd']) await utimes(join(root, p), 1000, 1000);
  await utimes(join(root, 'd/e/f'), 5000, 5000);
  assert.deepEqual(await walkStat(join(root, 'd')), { bytes: 5, newestMtimeMs: 5_000_000 });
  assert.deepEqual(await walkStat(join(root, 'gone')), { bytes: 0, newestMtimeMs: 0 });
});

test('artifactDirs: a key\'s folders only; a stray file or a folder that is not a key\'s is passed over, not an error', async () => {
  await using dir = await tmpDir();
  const { mkdir: mk, writeFile: wf } = await import('node:fs/promises');
  const key = 'ab' + 'c'.repeat(62);
  await mk(join(dir.path, 'artifacts', 'ab', key), { recursive: true });
  await mk(join(dir.path, 'artifacts', 'zz', 'notakey'), { recursive: true });
  await wf(join(dir.path, 'artifacts', '.DS_Store'), '');
  await wf(join(dir.path, 'artifacts', 'ab', 'junk'), '');
  assert.deepEqual(await artifactDirs(dir.path), [join(dir.path, 'artifacts', 'ab', key)]);
});
