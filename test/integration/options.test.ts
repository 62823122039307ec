// Recipe options end to end through the real CLI (test/fixtures/trees/options): a recipe's
// [options] with their defaults, kiln.toml's [options] and --option over them, the
// relations of an option that is on, the build's $KILN_OPTIONS / $KILN_OPTION_NAME, the
// values in the key (each set of values is its own build, and stays in the cache), and
// the errors of a setting that names nothing.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { eventsOf, explain, instantiateTree, jobLogOf, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

interface PlanPackage {
  name: string;
  state: string;
  waitsFor: string[];
  options?: { name: string; on: boolean; default: boolean; summary: string | null }[];
}

async function planOf(tree: string, state: string, ...extra: string[]): Promise<PlanPackage[]> {
  const r = await runKiln(['plan', '--tree', tree, '--state', state, '--json', ...extra]);
  assert.equal(r.code, 0, explain(r));
  return (JSON.parse(r.stdout) as { packages: PlanPackage[] }).packages;
}

const valuesOf = (p: PlanPackage | undefined): Record<string, boolean> => Object.fromEntries((p?.options ?? []).map((o) => [o.name, o.on]));

test('options: defaults, --option and kiln.toml [options] set them; an option\'s relations, environment and key follow its value', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('options', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');
  const build = (...extra: string[]) => runKiln(['build', '--tree', tree, '--state', state, '--json', 'app', ...extra]);

  // The plan says each option, its value and default; ssl (on) makes app wait for tls.
  const plan = await planOf(tree, join(dir.path, 'plan-state'));
  const app = plan.find((p) => p.name === 'app');
  assert.deepEqual(app?.options, [
    { name: 'docs', on: false, default: false, summary: null },
    { name: 'ssl', on: true, default: true, summary: 'TLS through the tls library' },
  ]);
  assert.deepEqual(app?.waitsFor, ['tls@' + app!.waitsFor[0]!.split('@')[1]]);

  // Defaults: tls is built for app (its script checks that tls.h is staged).
  const first = await build();
  assert.equal(first.code, 0, explain(first));
  assert.deepEqual(statesOf(await readReport(first)), { app: 'built', tls: 'built' });
  const log = jobLogOf(first, 'app');
  assert.match(log, /options: \[ssl\] ssl=1 docs=0/);
  assert.match(log, /why: new: never built before, options: docs=0 ssl=1/);
  // The artifact keeps them, with what else its key was made of.
  const meta = JSON.parse(await readFile(join(dirname(pkgOf(await readReport(first), 'app').artifact!), 'meta.json'), 'utf8')) as { inputs: { options?: unknown } };
  assert.deepEqual(meta.inputs.options, { docs: false, ssl: true });

  // ssl off: app no longer needs tls (its script checks tls.h is not staged), and is another build.
  const off = await build('--option', 'ssl=off');
  assert.equal(off.code, 0, explain(off));
  assert.deepEqual(statesOf(await readReport(off)), { app: 'built' });
  assert.equal(eventsOf(off.events, 'job-started')[0]?.why.kind, 'recipe-changed');
  assert.match(jobLogOf(off, 'app'), /options: \[\] ssl=0 docs=0/);
  // Each set of values keeps its artifact: back to the defaults, and to ssl off, nothing is built.
  const back = await build();
  assert.equal(back.code, 0, explain(back));
  assert.deepEqual(statesOf(await readReport(back)), { app: 'up-to-date', tls: 'up-to-date' });
  const offAgain = await build('--option', 'app:ssl=off');
  assert.deepEqual(statesOf(await readReport(offAgain)), { app: 'up-to-date' });

  // kiln.toml: for every package, and for one (which wins over every package's); --option over both.
  await writeFile(join(tree, 'kiln.toml'), '[options]\nssl = false\ndocs = false\n\n[options.app]\ndocs = true\n');
  assert.deepEqual(valuesOf((await planOf(tree, state)).find((p) => p.name === 'app')), { docs: true, ssl: false });
  assert.deepEqual(valuesOf((await planOf(tree, state, '--option', 'docs=off', '--option', 'ssl=on')).find((p) => p.name === 'app')), { docs: false, ssl: true });
  const docs = await build();
  assert.equal(docs.code, 0, explain(docs));
  assert.equal(pkgOf(await readReport(docs), 'app').state, 'built');
  assert.match(jobLogOf(docs, 'app'), /options: \[docs\] ssl=0 docs=1/);
});

test('options: a setting that names no package or option is refused (exit 2) with what there is; one no package has is said', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('options', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');
  const typo = await runKiln(['build', '--tree', tree, '--state', state, '--option', 'app:sssl=on']);
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /--option app:sssl=on: app has no option "sssl" \(did you mean "ssl"\?\): its options are docs, ssl/);
  const none = await runKiln(['build', '--tree', tree, '--state', state, '--option', 'tls:ssl=on']);
  assert.equal(none.code, 2, explain(none));
  assert.match(none.stderr, /tls has no option "ssl": its recipe declares none/);
  const pkg = await runKiln(['plan', '--tree', tree, '--state', state, '--option', 'ap:ssl=on']);
  assert.equal(pkg.code, 2, explain(pkg));
  assert.match(pkg.stderr, /the tree has no package "ap" \(did you mean "app"\?\)/);
  const value = await runKiln(['plan', '--tree', tree, '--state', state, '--option', 'ssl=maybe']);
  assert.equal(value.code, 2, explain(value));
  assert.match(value.stderr, /"maybe" is neither on nor off/);
  // For every package: said, and the run goes on.
  const global = await runKiln(['plan', '--tree', tree, '--state', state, '--option', 'gui=on']);
  assert.equal(global.code, 0, explain(global));
  assert.match(global.stderr, /--option gui=on: no package of the tree has an option "gui"; the tree's options: docs, ssl/);
  // A relation of an option names a build profile as much as the package's own do (no "names nothing" note).
  const recipe = join(tree, 'app', 'recipe.toml');
  await writeFile(recipe, (await readFile(recipe, 'utf8')).replace('build-depends = ["tls"]', 'build-depends = ["tls <!nocheck>"]'));
  const profiled = await runKiln(['plan', '--tree', tree, '--state', state, '--profiles', 'nocheck', '--json']);
  assert.equal(profiled.code, 0, explain(profiled));
  assert.doesNotMatch(profiled.stderr, /no relation of the tree names it/);
  assert.deepEqual((JSON.parse(profiled.stdout) as { packages: PlanPackage[] }).packages.find((p) => p.name === 'app')?.waitsFor, []);
  // kiln fetch takes the settings as a build does: a kiln.toml setting that names nothing stops it too.
  await writeFile(join(tree, 'kiln.toml'), '[options.app]\nsssl = true\n');
  const fetch = await runKiln(['fetch', '--tree', tree, '--state', state]);
  assert.equal(fetch.code, 2, explain(fetch));
  assert.match(fetch.stderr, /error \[config-invalid\]: \S+kiln\.toml: options\.app\.sssl: app has no option "sssl" \(did you mean "ssl"\?\)/);
  // kiln.toml: the file and key named.
  await writeFile(join(tree, 'kiln.toml'), '[options]\nSSL = false\n[options.app]\ndocs = "yes"\n');
  const bad = await runKiln(['plan', '--tree', tree, '--state', state]);
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /kiln\.toml: options\.SSL: "SSL" is not an option name/);
  assert.match(bad.stderr, /kiln\.toml: options\.app\.docs: expected true or false \(the option on or off for app\), got "yes"/);
});
