// A restricted package (recipe key `restricted = "why"`, pkgsrc's RESTRICTED / pbulk's
// "uploads all (unrestricted) packages"): a real `kiln build` builds it and stages it for
// its dependents, keeps its artifact in the cache, and leaves it out of what it publishes
// (packages/index.json, its signature, packages/All); the report marks it. A package made
// restricted after it was published leaves the index at its next build, and comes back
// when the mark goes. Every index entry says its recipe's summary and license.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, pkgOf, readReport, runKiln } from '../helpers/run-kiln.ts';
import { tmpDir } from '../helpers/tmp.ts';

test('kiln build: a restricted package is built and staged, but not in packages/index.json, its signature or packages/All; the report says "restricted: why"', { timeout: 300_000 }, async () => {
  await using dir = await tmpDir('kiln-restricted-');
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const put = async (name: string, script: string, o: { restricted?: string; deps?: string[] } = {}): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    const mark = o.restricted === undefined ? '' : `restricted = ${JSON.stringify(o.restricted)}\n`;
    await writeFile(join(tree, name, 'recipe.toml'), `${mark}${recipeText({ name, script, summary: `the ${name} package`, ...(o.deps === undefined ? {} : { deps: o.deps }) })}`);
  };
  const fwScript = 'mkdir -p "$DESTDIR/usr/share/fw"; echo blob > "$DESTDIR/usr/share/fw/blob"';
  await put('fw', fwScript, { restricted: 'no redistribution' });
  await put('app', 'test -f "$SYSROOT/usr/share/fw/blob"; mkdir -p "$DESTDIR/usr/share/app"; echo app > "$DESTDIR/usr/share/app/f"', { deps: ['fw'] });
  assert.equal((await runKiln(['key', 'create', '--state', state, '--email', 'builds@kiln.example'])).code, 0);
  const build = () => runKiln(['build', '--tree', tree, '--state', state, '--sandbox', 'host', '--json'], { timeoutMs: 180_000 });
  const index = join(state, 'packages', 'index.json');
  type Entry = { name: string; summary?: string; license?: string; file?: string };
  const indexed = (): Entry[] => (JSON.parse(readFileSync(index, 'utf8')) as { packages: Entry[] }).packages;
  const all = (): string[] => readdirSync(join(state, 'packages', 'All')).sort();

  const first = await build();
  assert.equal(first.code, 0, explain(first));
  assert.equal(first.summary?.counts.built, 2, 'both built: app found fw staged in its sysroot');
  const report = await readReport(first);
  assert.equal(pkgOf(report, 'fw').restricted, 'no redistribution');
  assert.ok(pkgOf(report, 'fw').artifact !== null && existsSync(pkgOf(report, 'fw').artifact!), 'its artifact is in the cache');
  assert.equal(pkgOf(report, 'app').restricted, undefined);
  assert.match(readFileSync(join(state, 'runs', first.summary!.runId, 'report.html'), 'utf8'), /restricted: no redistribution/);
  assert.deepEqual(indexed().map((p) => [p.name, p.summary, p.license]), [['app', 'the app package', 'MIT']]);
  assert.deepEqual(all().map((f) => f.split('_')[0]), ['app']);
  assert.doesNotMatch(readFileSync(`${index}.asc`, 'utf8'), /"name": "fw"/, 'the signed index leaves it out too');

  // The mark taken away: fw is built again (the recipe's bytes are in its key) and published.
  await put('fw', fwScript);
  const free = await build();
  assert.equal(free.code, 0, explain(free));
  assert.deepEqual(indexed().map((p) => p.name), ['app', 'fw']);
  assert.deepEqual(all().map((f) => f.split('_')[0]), ['app', 'fw']);
  assert.equal(pkgOf(await readReport(free), 'app').state, 'up-to-date', 'the same fw output: app is not built again');

  // Marked again: its published entry and file go at once.
  await put('fw', fwScript, { restricted: 'license changed' });
  const again = await build();
  assert.equal(again.code, 0, explain(again));
  assert.deepEqual(indexed().map((p) => p.name), ['app']);
  assert.deepEqual(all().map((f) => f.split('_')[0]), ['app']);
  assert.match(readFileSync(`${index}.asc`, 'utf8'), /"name": "app"/);
  assert.doesNotMatch(readFileSync(`${index}.asc`, 'utf8'), /"name": "fw"/);
});
