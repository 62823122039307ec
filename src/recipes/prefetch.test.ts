import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { PREFETCH_MIN_FILES, prefetchFiles } from './prefetch.ts';
import { scanRecipeTree } from './scan-tree.ts';

const OLD = 1_000_000; // seconds: an access time long before any read

/** `count` recipe files whose access time is OLD and modification time now. */
function writeFiles(dir: string, count: number): string[] {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const folder = join(dir, `p${String(i).padStart(4, '0')}`);
    mkdirSync(folder);
    const file = join(folder, 'recipe.toml');
    writeFileSync(file, `name = "p${i}"\n`);
    utimesSync(file, OLD, Date.now() / 1000);
    paths.push(file);
  }
  return paths;
}

const readSince = (file: string): boolean => statSync(file).atimeMs > OLD * 1000;

/** Whether this file system records reads in the access time (relatime does for these files). */
function atimeWorks(dir: string): boolean {
  const file = join(dir, 'atime-probe');
  writeFileSync(file, 'x');
  utimesSync(file, OLD, Date.now() / 1000);
  readFileSync(file);
  return readSince(file);
}

test('below PREFETCH_MIN_FILES files nothing is started', async () => {
  await using dir = await tmpDir();
  const paths = writeFiles(dir.path, 3);
  prefetchFiles(paths, { assumeCold: true }).stop();
  await sleep(300);
  assert.equal(paths.filter(readSince).length, 0);
});

test('files not in the page cache: the workers read every one, FIFOs and folders skipped; stat mode reads none', async (t) => {
  await using dir = await tmpDir();
  if (!atimeWorks(dir.path)) return t.skip('this file system does not record access times');
  const paths = writeFiles(dir.path, PREFETCH_MIN_FILES + 45);
  // A FIFO would block a plain open forever; a directory cannot be read.
  const fifo = join(dir.path, 'fifo.toml');
  execFileSync('mkfifo', [fifo]);
  const folder = join(dir.path, 'folder.toml');
  mkdirSync(folder);
  const all = [...paths.slice(0, 20), fifo, folder, ...paths.slice(20)];

  const statOnly = prefetchFiles(all, { assumeCold: true, stat: true });
  await sleep(500);
  statOnly.stop();
  assert.equal(paths.filter(readSince).length, 0, 'stat mode read files');

  const p = prefetchFiles(all, { assumeCold: true });
  const deadline = Date.now() + 10_000;
  while (paths.some((f) => !readSince(f)) && Date.now() < deadline) await sleep(20);
  p.stop();
  assert.deepEqual(paths.filter((f) => !readSince(f)), [], 'files the workers did not read');
});

test('a scan of a large tree with a FIFO and a folder for recipe.toml reports them and ends', async () => {
  await using dir = await tmpDir();
  writeFiles(dir.path, PREFETCH_MIN_FILES + 10);
  mkdirSync(join(dir.path, 'zz-fifo'));
  execFileSync('mkfifo', [join(dir.path, 'zz-fifo', 'recipe.toml')]);
  mkdirSync(join(dir.path, 'zz-folder', 'recipe.toml'), { recursive: true });
  const scan = await scanRecipeTree(dir.path);
  assert.deepEqual(scan.invalid.map((i) => i.name).filter((n) => n.startsWith('zz')).sort(), ['zz-fifo', 'zz-folder']);
});
