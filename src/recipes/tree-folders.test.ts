import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { duplicateNames, duplicatePackage, treePackageFolders } from './tree-folders.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

test('duplicateNames: each name found in more than one folder, with the positions of its folders; unique names are left out', () => {
  const rows: [string[], Record<string, number[]>][] = [
    [[], {}],
    [['zlib', 'libpng', 'curl'], {}],
    [['zlib', 'zlib'], { zlib: [0, 1] }],
    [['x', 'x', 'y', 'x', 'y', 'z'], { x: [0, 1, 3], y: [2, 4] }],
  ];
  for (const [names, want] of rows) assert.deepEqual(Object.fromEntries(duplicateNames(names.map((name) => ({ name })))), want, names.join(' '));
});

test('duplicatePackage: one broken package naming every folder of the name, then each folder\'s own problems', () => {
  const own = { file: '/t/net/zlib/recipe.toml', key: 'build.cpus', message: 'expected a whole number, got "two"' };
  assert.deepEqual(
    duplicatePackage('zlib', [
      { dir: '/t/misc/zlib', rel: 'misc/zlib' },
      { dir: '/t/net/zlib', rel: 'net/zlib', diagnostics: [own] },
      { dir: '/t/zlib', rel: 'zlib' },
    ]),
    {
      name: 'zlib',
      dir: '/t/misc/zlib',
      diagnostics: [
        { file: '/t/misc/zlib', message: 'the package name "zlib" is in 3 folders: misc/zlib, net/zlib, zlib: a name must be unique in the tree, across categories; rename or remove all but one' },
        own,
      ],
      duplicate: true,
    },
  );
});

test('duplicatePackage: what the folders that parsed provide stays known, and the first version is shown', () => {
  const dev = { name: 'libfoo-dev', version: '2.1' };
  const dup = duplicatePackage('libfoo', [
    { dir: '/t/base/libfoo', rel: 'base/libfoo', version: '2.1', provides: [dev] },
    { dir: '/t/more/libfoo', rel: 'more/libfoo', version: '2.2', provides: [{ name: 'libfoo-bin' }] },
  ]);
  assert.equal(dup.version, '2.1');
  assert.deepEqual(dup.provides, [dev, { name: 'libfoo-bin' }]);
  assert.equal('provides' in duplicatePackage('x', [{ dir: '/a/x', rel: 'a/x' }, { dir: '/b/x', rel: 'b/x' }]), false);
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
