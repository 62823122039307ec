import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanRecipeTree } from './scan-tree.ts';
import { RACY_MS, scanCacheFileFor } from './scan-cache.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

const recipe = (name: string, summary: string, build: string): string =>
  `name = "${name}"\nversion = "1.0"\nsummary = "${summary}"\nlicense = "MIT"\n[[sources]]\nurl = "file:fix.patch"\n[build]\n${build}\n`;

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'zlib'), { recursive: true });
  await mkdir(join(root, 'libpng'), { recursive: true });
  await writeFile(join(root, 'zlib/recipe.toml'), recipe('zlib', 'aaaa', 'script-file = "build.sh"'));
  await writeFile(join(root, 'zlib/build.sh'), 'make install\n');
  await writeFile(join(root, 'zlib/fix.patch'), 'patch 1\n');
  await writeFile(join(root, 'libpng/recipe.toml'), recipe('libpng', 'pppp', 'script = "make"'));
  await writeFile(join(root, 'libpng/fix.patch'), 'patch 2\n');
  // Old mtimes: an edit below then moves the mtime even within the same clock tick.
  const past = new Date(Date.now() - 3_600_000);
  for (const f of ['zlib/recipe.toml', 'zlib/build.sh', 'zlib/fix.patch', 'libpng/recipe.toml', 'libpng/fix.patch']) await utimes(join(root, f), past, past);
}

interface CacheJson { entries: Record<string, { spec: { summary: string } }> }

test('scan cache: unchanged recipes come from the cache; edits to a recipe or a referenced file are seen', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await makeTree(tree);
  const cacheFile = scanCacheFileFor(join(dir.path, 'state'), tree);
  // Pretend the scan runs well after the files were written, so they are cacheable.
  const later = (): number => Date.now() + 10 * RACY_MS;
  const first = await scanRecipeTree(tree, { cacheFile, now: later() });
  assert.deepEqual(first.specs.map((s) => s.name), ['libpng', 'zlib']);
  const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheJson;
  assert.deepEqual(Object.keys(cached.entries).sort(), ['libpng', 'zlib']);

  // Proof that a hit does not read the recipe: a spec changed inside the cache file comes back.
  cached.entries['libpng']!.spec.summary = 'from the cache';
  writeFileSync(cacheFile, JSON.stringify(cached));
  const second = await scanRecipeTree(tree, { cacheFile, now: later() });
  assert.equal(second.specs.find((s) => s.name === 'libpng')?.summary, 'from the cache');
  // Same specs otherwise (JSON drops undefined fields, so compare as JSON).
  assert.equal(JSON.stringify(second.specs.find((s) => s.name === 'zlib')), JSON.stringify(first.specs.find((s) => s.name === 'zlib')));

  // An edit of the same size, and an edit of a referenced file, are both seen.
  await writeFile(join(tree, 'libpng/recipe.toml'), recipe('libpng', 'qqqq', 'script = "make"'));
  await writeFile(join(tree, 'zlib/build.sh'), 'make check\n');
  const third = await scanRecipeTree(tree, { cacheFile, now: later() });
  assert.equal(third.specs.find((s) => s.name === 'libpng')?.summary, 'qqqq');
  assert.equal(third.specs.find((s) => s.name === 'zlib')?.build.script, 'make check\n');
  assert.notEqual(third.specs.find((s) => s.name === 'zlib')?.recipeHash, first.specs.find((s) => s.name === 'zlib')?.recipeHash);

  // A file: source that changed changes the recipe hash too.
  await writeFile(join(tree, 'libpng/fix.patch'), 'patch 3\n');
  const fourth = await scanRecipeTree(tree, { cacheFile, now: later() });
  assert.notEqual(fourth.specs.find((s) => s.name === 'libpng')?.recipeHash, third.specs.find((s) => s.name === 'libpng')?.recipeHash);
  assert.equal(JSON.stringify(fourth.specs), JSON.stringify((await scanRecipeTree(tree)).specs), 'cached scan = uncached scan');
});

test('scan cache: files changed just before the scan are not cached; a removed package drops out', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await makeTree(tree);
  const cacheFile = scanCacheFileFor(join(dir.path, 'state'), tree);
  await scanRecipeTree(tree, { cacheFile });
  // Written less than RACY_MS ago: an edit in the same clock tick could go unseen.
  const racy = existsSync(cacheFile) ? (JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheJson) : { entries: {} };
  assert.deepEqual(Object.keys(racy.entries), []);

  await scanRecipeTree(tree, { cacheFile, now: Date.now() + 10 * RACY_MS });
  await writeFile(join(tree, 'zlib/recipe.toml'), 'not a recipe any more = [');
  const scan = await scanRecipeTree(tree, { cacheFile, now: Date.now() + 10 * RACY_MS });
  assert.deepEqual(scan.specs.map((s) => s.name), ['libpng']);
  assert.deepEqual(scan.invalid.map((p) => p.name), ['zlib']);
  const after = JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheJson;
  assert.deepEqual(Object.keys(after.entries), ['libpng'], 'an invalid recipe is never cached');
});

test('scan cache: other recipe defaults (kiln.toml) do not reuse the cache', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await makeTree(tree);
  const cacheFile = scanCacheFileFor(join(dir.path, 'state'), tree);
  const later = Date.now() + 10 * RACY_MS;
  assert.equal((await scanRecipeTree(tree, { cacheFile, now: later })).specs[0]?.build.cpus, 1);
  await writeFile(join(tree, 'kiln.toml'), '[defaults]\ncpus = 3\n');
  assert.equal((await scanRecipeTree(tree, { cacheFile, now: later })).specs[0]?.build.cpus, 3);
});

test('scan cache: the generation it reports holds exactly the scan\'s specs, and changes with them', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await makeTree(tree);
  const cacheFile = scanCacheFileFor(join(dir.path, 'state'), tree);
  const later = (): number => Date.now() + 10 * RACY_MS;
  // Files too new to trust are left out of the file: it does not hold this scan's specs.
  assert.equal((await scanRecipeTree(tree, { cacheFile })).cacheGeneration, undefined);
  const first = (await scanRecipeTree(tree, { cacheFile, now: later() })).cacheGeneration;
  assert.match(first ?? '', /^[0-9a-f]{16}$/);
  // Nothing changed: the same generation, the file untouched.
  const written = statSync(cacheFile);
  assert.equal((await scanRecipeTree(tree, { cacheFile, now: later() })).cacheGeneration, first);
  assert.equal(statSync(cacheFile).ino, written.ino);
  assert.equal(statSync(cacheFile).mtimeMs, written.mtimeMs);
  // An edit: a new one.
  await writeFile(join(tree, 'zlib/build.sh'), 'make check\n');
  const second = (await scanRecipeTree(tree, { cacheFile, now: later() })).cacheGeneration;
  assert.ok(second !== undefined && second !== first);
  // A removed package: a new one too (the file no longer holds it).
  await rm(join(tree, 'zlib'), { recursive: true });
  const third = (await scanRecipeTree(tree, { cacheFile, now: later() })).cacheGeneration;
  assert.ok(third !== undefined && third !== second);
  assert.equal((await scanRecipeTree(tree, { cacheFile, now: later() })).cacheGeneration, third);
  // Without a cache file, none.
  assert.equal((await scanRecipeTree(tree)).cacheGeneration, undefined);
});

test('scan cache: folders() names where the last scan found packages, category folders\' included (what a scan fetches ahead)', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await makeTree(tree);
  await mkdir(join(tree, 'graphics/pngcrush'), { recursive: true });
  await writeFile(join(tree, 'graphics/pngcrush/recipe.toml'), 'name = "pngcrush"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "make"\n');
  await writeFile(join(tree, 'graphics/pngcrush/fix.patch'), 'unused\n');
  const cacheFile = join(dir.path, 'scan-cache.json');
  const now = Date.now() + 60_000;
  assert.equal((await scanRecipeTree(tree, { cacheFile, now })).specs.length, 3);
  const { openScanCache } = await import('./scan-cache.ts');
  const { loadTreeConfig } = await import('../config/load-tree-config.ts');
  // What scanRecipeTree opens the cache with.
  const { config } = await loadTreeConfig(tree);
  const settings = { defaults: config.defaults, mirrors: Object.keys(config.mirrors).sort() };
  const cache = openScanCache(cacheFile, { root: tree, settings, now });
  assert.deepEqual(cache.folders().sort(), ['graphics/pngcrush', 'libpng', 'zlib']);
  assert.deepEqual(openScanCache(join(dir.path, 'none.json'), { root: tree, settings, now }).folders(), []);
});

test('PARSER_MODULES holds every module the recipe parser imports directly, so that a change to one of them drops the scan cache', async () => {
  const { readFileSync } = await import('node:fs');
  const { dirname, relative, resolve } = await import('node:path');
  const { PARSER_MODULES } = await import('./scan-cache.ts');
  const src = resolve(import.meta.dirname, '..');
  const missing: string[] = [];
  for (const from of ['recipes/parse-recipe.ts', 'recipes/recipe-sources.ts', 'recipes/recipe-schema.ts', 'recipes/recipe-options.ts']) {
    const text = readFileSync(resolve(src, from), 'utf8');
    // Value imports only: a type import changes no behaviour.
    for (const m of text.matchAll(/^import (?!type )[^;]*? from '(\.[^']+\.ts)';$/gm)) {
      const rel = relative(src, resolve(dirname(resolve(src, from)), m[1]!));
      if (!PARSER_MODULES.includes(rel)) missing.push(`${from} imports ${rel}`);
    }
  }
  assert.deepEqual(missing, []);
});
