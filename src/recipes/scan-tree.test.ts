import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recipeTreeSource, scanRecipeTree } from './scan-tree.ts';
import { sha256 } from '../lib/hash.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';

const SHA = 'b'.repeat(64);

function recipeText(name: string, extra = '', build = 'script = "make"'): string {
  return `name = "${name}"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n${extra}\n[build]\n${build}\n`;
}

async function put(root: string, rel: string, text: string): Promise<void> {
  const path = join(root, rel);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
}

/** A tree with one package of each kind the scanner must tell apart. */
async function makeTree(root: string): Promise<void> {
  await put(root, 'kiln.toml', 'env = "bookworm"\n[defaults]\ncpus = 2\n');
  await put(
    root,
    'zlib/recipe.toml',
    recipeText('zlib', `[[sources]]\nurl = "https://dl.example/zlib.tar.gz"\nsha256 = "${SHA}"\n[[sources]]\nurl = "file:fix.patch"\n`, 'script-file = "build.sh"'),
  );
  await put(root, 'zlib/fix.patch', 'the patch\n');
  await put(root, 'zlib/build.sh', 'make install\n');
  await put(root, 'zlib/unreferenced.txt', 'notes\n');
  await put(root, 'libpng/recipe.toml', recipeText('libpng', 'build-depends = ["zlib (>= 1.0)"]\ndepends = ["zlib"]', 'script = "make"\ncpus = 1'));
  await put(root, 'bad/recipe.toml', recipeText('bad', '', 'script = "make"\ncpus = "two"'));
  await put(root, 'nofile/recipe.toml', recipeText('nofile', '[[sources]]\nurl = "file:gone.patch"\n', 'script-file = "gone.sh"'));
  await put(root, 'wrongsum/recipe.toml', recipeText('wrongsum', `[[sources]]\nurl = "file:a.patch"\nsha256 = "${SHA}"\n`));
  await put(root, 'wrongsum/a.patch', 'a\n');
  await put(root, 'docs/README.md', 'not a package\n');
  await put(root, '.hidden/recipe.toml', recipeText('hidden'));
  await put(root, 'README.md', 'the tree\n');
}

test('scanning a tree: valid specs, invalid packages with every diagnostic, the rest ignored', async () => {
  await using dir = await tmpDir();
  await makeTree(dir.path);
  const scan = await scanRecipeTree(dir.path);

  assert.deepEqual(scan.diagnostics, []);
  assert.deepEqual(scan.specs.map((s) => s.name), ['libpng', 'zlib']);
  assert.deepEqual(
    scan.invalid.map((p) => ({ name: p.name, dir: p.dir, lines: p.diagnostics.map((d) => `${d.file}: ${d.key ?? ''}: ${d.message}`) })),
    [
      { name: 'bad', dir: join(dir.path, 'bad'), lines: [`${join(dir.path, 'bad/recipe.toml')}: build.cpus: expected a whole number, got "two"`] },
      {
        name: 'nofile',
        dir: join(dir.path, 'nofile'),
        lines: [
          `${join(dir.path, 'nofile/recipe.toml')}: build.script-file: "gone.sh" not found in ${join(dir.path, 'nofile')}`,
          `${join(dir.path, 'nofile/recipe.toml')}: sources[0].url: "file:gone.patch": gone.patch not found in ${join(dir.path, 'nofile')}`,
        ],
      },
      {
        name: 'wrongsum',
        dir: join(dir.path, 'wrongsum'),
        lines: [`${join(dir.path, 'wrongsum/recipe.toml')}: sources[0].sha256: a.patch has sha256 ${sha256('a\n')}, the recipe says ${SHA}`],
      },
    ],
  );

  const zlib = scan.specs.find((s) => s.name === 'zlib')!;
  assert.equal(zlib.dir, join(dir.path, 'zlib'));
  assert.equal(zlib.file, join(dir.path, 'zlib/recipe.toml'));
  assert.equal(zlib.build.script, 'make install\n', 'script-file is read into the spec');
  assert.equal(zlib.build.cpus, 2, 'kiln.toml [defaults] apply');
  assert.equal(zlib.env, 'bookworm', 'kiln.toml env applies');
  assert.deepEqual(zlib.sources, [
    { url: 'https://dl.example/zlib.tar.gz', sha256: SHA, dest: '', strip: 1 },
    { url: 'file:fix.patch', sha256: sha256('the patch\n'), dest: '', strip: 0 },
  ]);
  const recipeBytes = recipeText(
    'zlib',
    `[[sources]]\nurl = "https://dl.example/zlib.tar.gz"\nsha256 = "${SHA}"\n[[sources]]\nurl = "file:fix.patch"\n`,
    'script-file = "build.sh"',
  );
  const expectedRecipeHash = sha256(
    [
      ['build.sh', sha256('make install\n')],
      ['fix.patch', sha256('the patch\n')],
      ['recipe.toml', sha256(recipeBytes)],
    ]
      .map(([p, h]) => `${p}\0${h}\n`)
      .join(''),
  );
  assert.equal(zlib.recipeHash, expectedRecipeHash, 'recipe hash: path\\0sha256 lines sorted by path');
  assert.equal(zlib.sourcesHash, sha256(`${SHA}\n${sha256('the patch\n')}\n`));

  const libpng = scan.specs.find((s) => s.name === 'libpng')!;
  assert.equal(libpng.build.cpus, 1, "the recipe's own value wins over [defaults]");
  assert.deepEqual(libpng.buildDepends, [[{ name: 'zlib', constraint: { op: '>=', version: '1.0' } }]]);
  assert.deepEqual(libpng.depends, [[{ name: 'zlib' }]]);
});

test('recipe hash follows referenced files only', async () => {
  await using dir = await tmpDir();
  await makeTree(dir.path);
  const hashOf = async (): Promise<string> => (await scanRecipeTree(dir.path)).specs.find((s) => s.name === 'zlib')!.recipeHash;
  const first = await hashOf();
  assert.equal(await hashOf(), first, 'stable across scans');
  await writeFile(join(dir.path, 'zlib/unreferenced.txt'), 'other notes\n');
  assert.equal(await hashOf(), first, 'a file the recipe does not reference does not count');
  await writeFile(join(dir.path, 'zlib/fix.patch'), 'the patch, v2\n');
  const second = await hashOf();
  assert.notEqual(second, first, 'a file: source counts');
  await writeFile(join(dir.path, 'zlib/build.sh'), 'make install V=1\n');
  assert.notEqual(await hashOf(), second, 'the script-file counts');
});

test('kiln.toml problems are reported as tree diagnostics', async () => {
  await using dir = await tmpDir();
  await put(dir.path, 'kiln.toml', '[defaults]\ncpus = 0\n');
  await put(dir.path, 'a/recipe.toml', recipeText('a'));
  const scan = await scanRecipeTree(dir.path);
  assert.deepEqual(scan.diagnostics, [{ file: join(dir.path, 'kiln.toml'), key: 'defaults.cpus', message: 'must be greater than 0, got 0' }]);
  assert.deepEqual(scan.specs.map((s) => s.name), ['a']);
});

test('a missing tree is a KilnError tree-not-found naming the path', async () => {
  await using dir = await tmpDir();
  const missing = join(dir.path, 'nope');
  await assert.rejects(scanRecipeTree(missing), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'tree-not-found');
    assert.ok((e as Error).message.includes(missing), (e as Error).message);
    return true;
  });
  await put(dir.path, 'afile', 'x');
  await assert.rejects(scanRecipeTree(join(dir.path, 'afile')), { code: 'tree-not-found' });
});

test('recipeTreeSource scans the same as scanRecipeTree; an aborted signal stops the scan', async () => {
  await using dir = await tmpDir();
  await put(dir.path, 'a/recipe.toml', recipeText('a'));
  const source = recipeTreeSource(dir.path);
  assert.equal(source.kind, 'recipe-tree');
  const r = await source.scan({});
  assert.deepEqual(r.specs.map((s) => s.name), ['a']);
  await assert.rejects(source.scan({ signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('unknownMirror: debian and the tree\'s mirrors resolve; any other name is told with what to configure', async () => {
  const { unknownMirror } = await import('./scan-tree.ts');
  const mirrors = { gnu: 'https://gnu.example/gnu' };
  const table: Array<[string, boolean]> = [
    ['mirror://debian/pool/main/z/zlib/zlib_1.3.orig.tar.gz', true],
    ['mirror://gnu/hello/hello-2.12.tar.gz', true],
    ['https://dl.example/x.tar.gz', true],
    ['mirror://nope/x.tar.gz', false],
    ['mirror://GNU/x.tar.gz', false],
  ];
  for (const [url, ok] of table) assert.equal(unknownMirror(url, mirrors) === undefined, ok, url);
  assert.equal(
    unknownMirror('mirror://nope/x.tar.gz', mirrors),
    'unknown mirror "nope" in "mirror://nope/x.tar.gz": add it under [mirrors] in the tree\'s kiln.toml (nope = "https://…"); known: debian, gnu',
  );
});

test('a source from a mirror kiln.toml does not name makes its package broken at plan time, also when the scan cache had it valid', async () => {
  await using tmp = await tmpDir();
  const root = tmp.path;
  const src = (url: string): string => `[[sources]]\nurl = "${url}"\nsha256 = "${SHA}"\n`;
  await put(root, 'kiln.toml', '[mirrors]\ngnu = "https://gnu.example/gnu"\n');
  await put(root, 'hello/recipe.toml', recipeText('hello', src('mirror://gnu/hello/hello-2.12.tar.gz')));
  await put(root, 'zlib/recipe.toml', recipeText('zlib', src('mirror://debian/pool/main/z/zlib/zlib_1.3.orig.tar.gz')));
  await put(root, 'odd/recipe.toml', recipeText('odd', src('mirror://nope/x.tar.gz')));
  const cacheFile = join(root, '.scan-cache.json');
  // Long ago: files this old are trusted by the scan cache.
  const now = Date.now() + 60_000;
  const first = await scanRecipeTree(root, { cacheFile, now });
  assert.deepEqual(first.specs.map((s) => s.name).sort(), ['hello', 'zlib']);
  assert.deepEqual(first.invalid.map((p) => [p.name, p.diagnostics.map((d) => d.key)]), [['odd', ['sources[0].url']]]);
  assert.match(first.invalid[0]!.diagnostics[0]!.message, /unknown mirror "nope".*\[mirrors\] in the tree's kiln\.toml/);
  // The mirror goes from kiln.toml: hello was cached valid, and must not stay so.
  await put(root, 'kiln.toml', '');
  const second = await scanRecipeTree(root, { cacheFile, now });
  assert.deepEqual(second.invalid.map((p) => p.name).sort(), ['hello', 'odd']);
});
