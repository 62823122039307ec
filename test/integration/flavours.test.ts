// Recipe flavours end to end through the real CLI (test/fixtures/trees/flavours): each
// flavour of a recipe is a package of its own, named, with the options it pins over the
// run's settings, its own key and log, $KILN_PACKAGE and $KILN_FLAVOUR; another package
// needs it by name; a flavour whose name another package has makes its recipe invalid.

import assert from 'node:assert/strict';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, fixtureTree, jobLogOf, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

interface PlanPackage {
  name: string;
  state: string;
  waitsFor: string[];
  flavour?: { id: string; of: string };
  options?: { name: string; on: boolean }[];
}

const valuesOf = (p: PlanPackage | undefined): Record<string, boolean> => Object.fromEntries((p?.options ?? []).map((o) => [o.name, o.on]));

test('flavours: each is a package of its own, with the options it pins, its own key and environment; another package needs one by name', async () => {
  await using dir = await tmpDir();
  const tree = fixtureTree('flavours');
  const state = join(dir.path, 'state');
  const plan = await runKiln(['plan', '--tree', tree, '--state', state, '--json']);
  assert.equal(plan.code, 0, explain(plan));
  const packages = (JSON.parse(plan.stdout) as { packages: PlanPackage[] }).packages;
  const byName = new Map(packages.map((p) => [p.name, p]));
  assert.deepEqual([...byName.keys()].sort(), ['app', 'app-full', 'app-nossl', 'tls', 'user']);
  assert.deepEqual(byName.get('app-nossl')?.flavour, { id: 'nossl', of: 'app' });
  assert.equal(byName.get('app')?.flavour, undefined);
  assert.deepEqual(valuesOf(byName.get('app-nossl')), { docs: false, ssl: false });
  assert.deepEqual(valuesOf(byName.get('app-full')), { docs: true, ssl: true });
  // Without ssl, no tls to wait for.
  assert.deepEqual(byName.get('app-nossl')?.waitsFor, []);

  // A target that is a flavour: it and what it needs.
  const one = await runKiln(['build', '--tree', tree, '--state', state, '--json', 'user']);
  assert.equal(one.code, 0, explain(one));
  assert.deepEqual(statesOf(await readReport(one)), { 'app-nossl': 'built', user: 'built' });
  assert.match(jobLogOf(one, 'app-nossl'), /o package app-nossl flavour \[nossl\] options \[\]/);
  assert.match(jobLogOf(one, 'app-nossl'), /why: new: never built before, flavour nossl of app, options: docs=0 ssl=0/);

  const all = await runKiln(['build', '--tree', tree, '--state', state, '--json']);
  assert.equal(all.code, 0, explain(all));
  assert.deepEqual(statesOf(await readReport(all)), { app: 'built', 'app-full': 'built', 'app-nossl': 'up-to-date', tls: 'built', user: 'up-to-date' });
  assert.match(jobLogOf(all, 'app-full'), /o package app-full flavour \[full\] options \[docs ssl\]/);
  assert.match(jobLogOf(all, 'app'), /o package app flavour \[\] options \[ssl\]/);
  // Three packages, three artifacts.
  const report = await readReport(all);
  assert.equal(new Set(['app', 'app-full', 'app-nossl'].map((n) => pkgOf(report, n).artifact)).size, 3);

  // The run's settings reach a flavour where it pins nothing: ssl off rebuilds app and
  // app-full; app-nossl already has it off, and a flavour's pin wins over the run's.
  const off = await runKiln(['build', '--tree', tree, '--state', state, '--json', '--option', 'ssl=off', '--option', 'app-full:docs=off']);
  assert.equal(off.code, 0, explain(off));
  assert.deepEqual(statesOf(await readReport(off)), { app: 'built', 'app-full': 'built', 'app-nossl': 'up-to-date', tls: 'up-to-date', user: 'up-to-date' });
  assert.match(off.stdout, /--option app-full:docs=off: app-full is flavour full of app, which has docs on whatever the run says/);
  assert.match(jobLogOf(off, 'app-full'), /options \[docs\]/);
});

test('flavours: a flavour named like another package makes its recipe invalid, naming the key; the rest builds', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await cp(fixtureTree('flavours'), tree, { recursive: true });
  await mkdir(join(tree, 'app-full'));
  await writeFile(join(tree, 'app-full', 'recipe.toml'), 'name = "app-full"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = "true"\n');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { app: 'broken', 'app-full': 'built', tls: 'built', user: 'broken' });
  // What needs its other flavour hears that its recipe is broken, not that the name is unknown.
  assert.match(pkgOf(report, 'user').cause ?? '', /^needs app-nossl, provided by app, which is broken: invalid recipe: /);
  assert.match(pkgOf(report, 'app').cause ?? '', /recipe\.toml: flavours\.full: its package name "app-full" is taken by the package in \S+app-full: give the flavour another name/);
});

test('flavours: a recipe that is invalid for another reason still names its flavours: what needs one hears it is broken', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  await cp(fixtureTree('flavours'), tree, { recursive: true });
  const recipe = join(tree, 'app', 'recipe.toml');
  await writeFile(recipe, `bogus = 1\n${await readFile(recipe, 'utf8')}`);
  const r = await runKiln(['plan', '--tree', tree, '--state', join(dir.path, 'state'), '--json']);
  assert.equal(r.code, 1, explain(r));
  const user = (JSON.parse(r.stdout) as { packages: { name: string; reason: string | null }[] }).packages.find((p) => p.name === 'user');
  assert.match(user?.reason ?? '', /^needs app-nossl, provided by app, which is broken: invalid recipe: \S+recipe\.toml: unknown key "bogus"/);
});
