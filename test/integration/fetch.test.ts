// kiln fetch through the real CLI, against a node:http server on 127.0.0.1: the targets'
// sources (and their build dependencies') land in the downloads cache, checked, and nothing
// is built; a wrong checksum is named and fails the command; --makesum writes a missing
// sha256 into the recipe (only where the recipe's layout makes that safe); and a build
// afterwards needs no server.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const FILES: Record<string, string> = { '/a.txt': 'alpha\n', '/b.txt': 'beta\n', '/c.txt': 'gamma\n', '/d.txt': 'delta\n' };

function recipe(name: string, source: string, deps: string[] = []): string {
  return [
    `name = "${name}"`, 'version = "1.0"', `summary = "test package ${name}"`, 'license = "MIT"',
    deps.length === 0 ? '' : `build-depends = [${deps.map((d) => `"${d}"`).join(', ')}]`,
    source,
    '[build]',
    `script = """\nmkdir -p "$DESTDIR/usr/share/${name}"\ncp ${name}.txt "$DESTDIR/usr/share/${name}/"\n"""`,
    '',
  ].join('\n');
}

test('kiln fetch: sources into the cache, checked, nothing built; a bad checksum fails it; --makesum writes a missing sha256; the build then needs no server', async () => {
  await using dir = await tmpDir();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const body = FILES[req.url ?? ''];
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const put = async (name: string, text: string): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  };
  await put('a', recipe('a', `\n[[sources]]\nurl = "${base}/a.txt"\nsha256 = "${sha256(FILES['/a.txt']!)}"\n`));
  // b: no sha256 yet, in its own [[sources]] table: --makesum can write it.
  await put('b', recipe('b', `\n[[sources]]  # upstream\nurl = "${base}/b.txt"\n`, ['a']));
  // c: a wrong sha256.
  await put('c', recipe('c', `\n[[sources]]\nurl = "${base}/c.txt"\nsha256 = "${sha256('not gamma')}"\n`));
  // d: no sha256, its source in an inline array, and a script whose text holds a
  // [[sources]] table of its own: --makesum says what to add, edits nothing.
  await put('d', recipe('d', `sources = [{ url = "${base}/d.txt" }]\n`).replace('[build]\nscript = ' + '"""\n', `[build]\nscript = ` + '"""' + `\ncat > /dev/null <<'EOF'\n[[sources]]\nurl = "${base}/d.txt"\nEOF\n`));
  const dText = await readFile(join(tree, 'd', 'recipe.toml'), 'utf8');
  try {
    // One target and its closure: a's source, fetched once, and nothing built.
    const one = await runKiln(['fetch', 'a', '--tree', tree, '--state', state]);
    assert.equal(one.code, 0, explain(one));
    assert.match(one.stdout, new RegExp(`fetched: ${base}/a\\.txt in \\S+ \\(a\\)`));
    assert.ok(existsSync(join(state, 'cache', 'downloads', sha256(FILES['/a.txt']!))), 'a.txt is in the downloads cache');
    assert.ok(!existsSync(join(state, 'kiln.db')), 'kiln fetch records no run');
    // The whole tree: a from the cache, b broken (no sha256, and the fix named), c's checksum refused.
    const all = await runKiln(['fetch', '--tree', tree, '--state', state]);
    assert.equal(all.code, 1, explain(all));
    assert.match(all.stdout, new RegExp(`in the cache: ${base}/a\\.txt \\(a\\)`));
    assert.match(all.stdout, /broken: b: .*sources\[0\]\.sha256: missing: every http:\/\/ source needs its sha256 \(`kiln fetch --makesum b` fetches the file/);
    assert.match(all.stdout, new RegExp(`FAILED: ${base}/c\\.txt \\(c\\): checksum mismatch for ${base}/c\\.txt: expected sha256 ${sha256('not gamma')}, got ${sha256(FILES['/c.txt']!)}`));
    assert.ok(!existsSync(join(state, 'cache', 'downloads', sha256(FILES['/c.txt']!))), 'a file with the wrong checksum is not kept');
    assert.match(all.stdout, /kiln fetch: 2 source\(s\): 0 fetched, 1 already in the cache, 1 failed, 2 package\(s\) broken/);
    assert.equal(hits.get('/a.txt'), 1, 'a.txt was fetched once over both runs');
    // --makesum b d: b's sha256 written after its url, d's only printed.
    const sum = await runKiln(['fetch', '--makesum', 'b', 'd', '--tree', tree, '--state', state]);
    assert.equal(sum.code, 1, explain(sum));
    assert.match(sum.stdout, new RegExp(`b/recipe\\.toml: sources\\[0\\]\\.sha256 = "${sha256(FILES['/b.txt']!)}" written`));
    assert.match(sum.stdout, new RegExp(`d/recipe\\.toml: sources\\[0\\]\\.sha256 = "${sha256(FILES['/d.txt']!)}" .*not written.*add the line by hand`));
    assert.match(await readFile(join(tree, 'b', 'recipe.toml'), 'utf8'), new RegExp(`\\[\\[sources\\]\\]  # upstream\\nurl = "${base}/b\\.txt"\\nsha256 = "${sha256(FILES['/b.txt']!)}"\\n`));
    assert.equal(await readFile(join(tree, 'd', 'recipe.toml'), 'utf8'), dText, 'd\'s recipe is untouched');
    assert.deepEqual((await readdir(join(tree, 'b'))).sort(), ['recipe.toml'], 'nothing left beside the recipe');
    // b now fetches from the cache (learned there by --makesum), and builds with the server gone.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const built = await runKiln(['build', 'b', '--tree', tree, '--state', state, '--sandbox', 'host']);
    assert.equal(built.code, 0, explain(built));
    assert.equal(hits.get('/b.txt'), 1, 'b.txt was fetched once, by --makesum');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('kiln fetch: a tree without packages and a target that names none are errors that say what to do', async () => {
  await using dir = await tmpDir();
  await mkdir(join(dir.path, 'empty'));
  const empty = await runKiln(['fetch', '--tree', join(dir.path, 'empty'), '--state', join(dir.path, 'state')]);
  assert.equal(empty.code, 2, explain(empty));
  assert.match(empty.stderr, /holds no packages/);
  await mkdir(join(dir.path, 'tree', 'x'), { recursive: true });
  await writeFile(join(dir.path, 'tree', 'x', 'recipe.toml'), recipe('x', ''));
  const none = await runKiln(['fetch', 'nosuch', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'state')]);
  assert.notEqual(none.code, 0, explain(none));
  assert.match(none.stderr, /nosuch/);
  // An invalid kiln.toml stops it, as it stops plan and build: every problem said, exit 2.
  await writeFile(join(dir.path, 'tree', 'kiln.toml'), 'archs = ["amd46"]\n[mirror]\ngnu = "https://h/"\n');
  const bad = await runKiln(['fetch', '--tree', join(dir.path, 'tree'), '--state', join(dir.path, 'state')]);
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /error \[config-invalid\]: the tree's configuration is invalid:\n.*kiln\.toml: archs\[0\]: .*\n.*kiln\.toml: unknown key "mirror" \(did you mean "mirrors"\?\)/);
});

test('kiln fetch --makesum: a recipe.toml that is a link gets the line in the file it points to and stays a link; a target naming nothing edits nothing', async () => {
  await using dir = await tmpDir();
  const server = createServer((req, res) => {
    const body = FILES[req.url ?? ''];
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tree = join(dir.path, 'tree');
    const shared = join(dir.path, 'shared-recipe.toml');
    await writeFile(shared, recipe('a', `\n[[sources]]\nurl = "${base}/a.txt"\n`), { mode: 0o640 });
    await mkdir(join(tree, 'a'), { recursive: true });
    await symlink(shared, join(tree, 'a', 'recipe.toml'));
    const original = await readFile(shared, 'utf8');
    // "b" names no package: refused before anything is fetched or written.
    const typo = await runKiln(['fetch', '--makesum', 'a', 'b', '--tree', tree, '--state', join(dir.path, 'state')]);
    assert.notEqual(typo.code, 0, explain(typo));
    assert.match(typo.stderr, /"b" names no package/);
    assert.equal(await readFile(shared, 'utf8'), original);
    const sum = await runKiln(['fetch', '--makesum', 'a', '--tree', tree, '--state', join(dir.path, 'state')]);
    assert.equal(sum.code, 0, explain(sum));
    assert.ok((await lstat(join(tree, 'a', 'recipe.toml'))).isSymbolicLink(), 'the link stays a link');
    assert.match(await readFile(shared, 'utf8'), new RegExp(`sha256 = "${sha256(FILES['/a.txt']!)}"`));
    assert.equal((await lstat(shared)).mode & 0o777, 0o640, 'the recipe keeps its mode');
    assert.deepEqual((await readdir(dir.path)).filter((n) => n.includes('kiln-makesum')), [], 'nothing left aside');
    // A category folder's packages, as build's targets name them (`libs/*`).
    await mkdir(join(tree, 'libs', 'c'), { recursive: true });
    await writeFile(join(tree, 'libs', 'c', 'recipe.toml'), recipe('c', `\n[[sources]]\nurl = "${base}/b.txt"\n`));
    const byCategory = await runKiln(['fetch', '--makesum', 'libs/*', '--tree', tree, '--state', join(dir.path, 'state')]);
    assert.equal(byCategory.code, 0, explain(byCategory));
    assert.match(await readFile(join(tree, 'libs', 'c', 'recipe.toml'), 'utf8'), new RegExp(`sha256 = "${sha256(FILES['/b.txt']!)}"`));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('kiln fetch: two urls of one file are each tried and reported for their own packages (a dead one is not hidden, a good one not blamed)', async () => {
  await using dir = await tmpDir();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    if (req.url === '/ok/a.txt') res.writeHead(200).end(FILES['/a.txt']);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const sum = sha256(FILES['/a.txt']!);
  for (const [name, path] of [['aaa-old', '/gone/a.txt'], ['app', '/ok/a.txt'], ['zzz-dead', '/gone2/a.txt']] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipe(name, `\n[[sources]]\nurl = "${base}${path}"\nsha256 = "${sum}"\n`));
  }
  try {
    const r = await runKiln(['fetch', '--tree', tree, '--state', state]);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, new RegExp(`FAILED: ${base}/gone/a\\.txt \\(aaa-old\\): .*HTTP 404`));
    assert.match(r.stdout, new RegExp(`fetched: ${base}/ok/a\\.txt in \\S+ \\(app\\)`));
    assert.doesNotMatch(r.stdout, /FAILED: .*\(aaa-old, app\)/);
    // One after a url that got the file is not asked, and is said so, not as if it had been.
    assert.match(r.stdout, new RegExp(`in the cache: ${base}/gone2/a\\.txt \\(zzz-dead\\): the same file, fetched from ${base}/ok/a\\.txt in this run; this url was not asked`));
    assert.equal(hits.get('/gone2/a.txt'), undefined);
    assert.match(r.stdout, /kiln fetch: 3 source\(s\): 1 fetched, 1 already in the cache, 1 failed/);
    // Again: the file is cached now, for both (as their builds find it); nothing fetched.
    const again = await runKiln(['fetch', '--tree', tree, '--state', state]);
    assert.equal(again.code, 0, explain(again));
    assert.match(again.stdout, new RegExp(`in the cache: ${base}/ok/a\\.txt \\(app\\)`));
    assert.equal(hits.get('/ok/a.txt'), 1);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
