import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { duplicateNames, treePackageFolders } from './tree-folders.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

test('duplicateNames: each folder of a name found more than once names the others; unique names say nothing', () => {
  const f = (rel: string): { name: string; dir: string; rel: string } => ({ name: rel.slice(rel.lastIndexOf('/') + 1), dir: `/t/${rel}`, rel });
  const rows: [string[], Record<number, string>][] = [
    [[], {}],
    [['zlib', 'graphics/libpng', 'net/curl'], {}],
    [['zlib', 'net/zlib'], { 0: 'net/zlib', 1: 'zlib' }],
    [['a/x', 'b/x', 'c/y', 'x'], { 0: 'b/x, x', 1: 'a/x, x', 3: 'a/x, b/x' }],
  ];
  for (const [rels, want] of rows) {
    const got = duplicateNames(rels.map(f));
    assert.deepEqual(Object.fromEntries([...got].map(([i, d]) => [i, /is also the folder (.*): a name must be unique/.exec(d.message)?.[1]])), want, rels.join(' '));
    for (const [i, d] of got) assert.equal(d.file, `/t/${rels[i]}`);
  }
});

test('treePackageFolders: packages in the tree and one level down in category folders, hidden folders, deeper ones and folders without recipe.toml are not', async () => {
  await using dir = await tmpDir();
  const root = dir.path;
  const recipe = async (rel: string): Promise<void> => {
    await mkdir(join(root, rel), { recursive: true });
    await writeFile(join(root, rel, 'recipe.toml'), '');
  };
  await recipe('zlib');
  await recipe('graphics/libpng');
  await recipe('graphics/deeper/x');
  await recipe('.hidden/y');
  await recipe('net/.z');
  await mkdir(join(root, 'empty'));
  await mkdir(join(root, 'outside/curl'), { recursive: true });
  await writeFile(join(root, 'outside/curl/recipe.toml'), '');
  await symlink(join(root, 'outside/curl'), join(root, 'graphics/curl-link'));
  const got = [...treePackageFolders(root, readdirSync(root, { withFileTypes: true }))].map((f) => [f.rel, f.name, f.category]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  assert.deepEqual(got, [
    ['graphics/curl-link', 'curl-link', 'graphics'],
    ['graphics/libpng', 'libpng', 'graphics'],
    ['outside/curl', 'curl', 'outside'],
    ['zlib', 'zlib', undefined],
  ]);
});
