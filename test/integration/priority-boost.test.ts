// Priority boost (kiln.toml priority-boost, kiln build --boost; poudriere's PRIORITY_BOOST)
// end to end: with --jobs 1 and no learned durations, the longest chain goes first; a
// boosted leaf and the package it waits for start before it, whether the boost comes from
// the command line or from kiln.toml (a glob there). The order is that of the job-started
// events of --json. A --boost that names no package of the run is refused.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, runKiln } from '../helpers/run-kiln.ts';

// chain1 ← chain2 ← chain3 ← chain4: the longest path, so it starts first unboosted;
// leaf waits for base (a path of 2), alone is a path of 1.
const DEPS: Record<string, string[]> = { chain1: [], chain2: ['chain1'], chain3: ['chain2'], chain4: ['chain3'], base: [], leaf: ['base'], alone: [] };

async function writeTree(tree: string, toml?: string): Promise<void> {
  for (const [name, deps] of Object.entries(DEPS)) {
    await mkdir(join(tree, name), { recursive: true });
    const script = `mkdir -p "$DESTDIR/usr/share/${name}"\necho ${name} > "$DESTDIR/usr/share/${name}/${name}.txt"`;
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps }));
  }
  if (toml !== undefined) await writeFile(join(tree, 'kiln.toml'), toml);
}

/** Builds `tree` with one job in a fresh state dir (no learned durations): the names in the order they started. */
async function startOrder(dir: string, tree: string, label: string, ...extra: string[]): Promise<string[]> {
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir, `state-${label}`), '--jobs', '1', '--json', ...extra]);
  assert.equal(r.code, 0, explain(r));
  return eventsOf(r.events, 'job-started').map((e) => e.name);
}

test('priority boost: a boosted leaf and its dependency start first with --jobs 1, from --boost or kiln.toml', async () => {
  await using dir = await tmpDir();
  const plain = join(dir.path, 'plain');
  await writeTree(plain);

  // Unboosted: the chain's root first, the leaf's dependency only after it.
  const before = await startOrder(dir.path, plain, 'plain');
  assert.equal(before.length, 7);
  assert.equal(before[0], 'chain1', `order: ${before.join(' ')}`);
  assert.ok(before.indexOf('base') > before.indexOf('chain1'), `order: ${before.join(' ')}`);

  // --boost leaf: leaf's dependency, then leaf, then the rest in the usual order.
  const flag = await startOrder(dir.path, plain, 'flag', '--boost', 'leaf');
  assert.deepEqual(flag.slice(0, 3), ['base', 'leaf', 'chain1'], `order: ${flag.join(' ')}`);

  // kiln.toml priority-boost, a glob: the same.
  const configured = join(dir.path, 'configured');
  await writeTree(configured, 'priority-boost = ["le*"]\n');
  const toml = await startOrder(dir.path, configured, 'toml');
  assert.deepEqual(toml.slice(0, 3), ['base', 'leaf', 'chain1'], `order: ${toml.join(' ')}`);

  // A --boost that names no package of the run is a typo: refused before anything builds.
  const typo = await runKiln(['build', '--tree', plain, '--state', join(dir.path, 'state-typo'), '--jobs', '1', '--boost', 'lefa']);
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /--boost "lefa" matches no package of this run/);
});
