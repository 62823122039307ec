import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDownloads } from '../cache/downloads.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { scanRecipeTree } from '../recipes/scan-tree.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { fetchSources } from './fetch-sources.ts';

const RECIPE = 'name = "p"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[[sources]]\nurl = "file:fix.patch"\n[build]\nscript = "make"\n';

/** A one-package tree whose fix.patch is a symlink into the folder, scanned valid. */
async function plannedTree(root: string): Promise<PackageSpec> {
  await mkdir(join(root, 'tree/p/real'), { recursive: true });
  await mkdir(join(root, 'outside'));
  await writeFile(join(root, 'tree/p/recipe.toml'), RECIPE);
  await writeFile(join(root, 'tree/p/real/fix.patch'), 'the patch\n');
  await writeFile(join(root, 'outside/secret'), 'the patch\n'); // the same bytes, so only the path can tell
  await symlink('real/fix.patch', join(root, 'tree/p/fix.patch'));
  const scan = await scanRecipeTree(join(root, 'tree'));
  assert.deepEqual(scan.invalid, []);
  return scan.specs[0]!;
}

function fetchInto(spec: PackageSpec, root: string, srcDir: string): Promise<void> {
  const downloads = createDownloads({ cacheDir: join(root, 'downloads'), mirrors: {}, fetchImpl: () => Promise.reject(new Error('no network in this test')) });
  return fetchSources(spec, { srcDir, downloads, note: () => {}, signal: new AbortController().signal });
}

test('fetchSources copies a file: source reached through a symlink inside the package folder', async () => {
  await using dir = await tmpDir();
  const spec = await plannedTree(dir.path);
  const srcDir = join(dir.path, 'src');
  await fetchInto(spec, dir.path, srcDir);
  assert.equal(await readFile(join(srcDir, 'fix.patch'), 'utf8'), 'the patch\n');
});

test('fetchSources refuses a file: source that the tree changed, since the plan, into a link out of the folder, a directory or nothing', async () => {
  await using dir = await tmpDir();
  const spec = await plannedTree(dir.path);
  const link = join(dir.path, 'tree/p/fix.patch');
  const cases: Array<[string, () => Promise<void>, string, RegExp]> = [
    ['a link out of the folder', () => symlink(join(dir.path, 'outside/secret'), link), 'unsafe-path', /"file:fix\.patch": fix\.patch resolves outside the package folder \(to \S*outside\/secret\)/],
    ['a link to a folder outside', () => symlink('../../outside', link), 'unsafe-path', /resolves outside the package folder/],
    ['a directory', () => mkdir(link), 'source-not-found', /"file:fix\.patch": fix\.patch is a directory, not a file$/],
    ['nothing', async () => {}, 'source-not-found', /fix\.patch not found in \S*tree\/p$/],
  ];
  for (const [what, change, code, message] of cases) {
    await rm(link, { recursive: true, force: true });
    await change();
    const srcDir = join(dir.path, `src-${code}-${cases.findIndex((c) => c[0] === what)}`);
    await assert.rejects(fetchInto(spec, dir.path, srcDir), (e: unknown) => {
      assert.equal((e as { code?: string }).code, code, what);
      assert.match((e as Error).message, message, what);
      assert.ok((e as Error).message.startsWith(spec.file), 'names the recipe');
      return true;
    });
    const copied = await readdir(srcDir).catch(() => []);
    assert.deepEqual(copied, [], `${what}: nothing copied`);
  }
});
