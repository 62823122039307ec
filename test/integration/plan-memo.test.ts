// The plan memo (src/run/plan-memo.ts) end to end through the real CLI: a no-change run
// takes its plan from the last run's memo, says and records exactly what a full plan says,
// and anything the plan is made from that changed (a recipe, an artifact, the targets, a
// run in between that replaced a stored output) makes kiln plan again.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KilnEvent } from '../../src/events/events.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { explain, fixtureTree, instantiateTree, runKiln, type KilnResult } from '../helpers/run-kiln.ts';

/** The memo the last run left (its id), undefined when there is none. */
function memoOf(state: string): string | undefined {
  const dir = join(state, 'plan-memo');
  const stamp = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.run')) : undefined;
  return stamp === undefined ? undefined : (JSON.parse(readFileSync(join(dir, stamp), 'utf8')) as { memo: string }).memo;
}

/** What a run said of each package and at its start, without times and run ids. */
function said(r: KilnResult): unknown {
  const strip = (e: KilnEvent): unknown => {
    const { at: _at, runId: _run, ...rest } = e as KilnEvent & { at: number; runId?: string };
    return rest;
  };
  return {
    settled: r.events.filter((e) => e.type === 'job-settled').map(strip).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    notes: r.events.filter((e) => e.type === 'note' && !e.text.startsWith('report:')).map(strip),
    counts: r.summary?.counts,
    state: r.summary?.state,
    code: r.code,
  };
}

const build = (tree: string, state: string, ...extra: string[]): Promise<KilnResult> =>
  runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json', ...extra]);

for (const trait of ['diamond', 'provides-and-alternatives', 'version-constraints', 'missing-dep', 'cycle', 'invalid-recipes', 'early-cutoff', 'why-reasons']) {
  test(`plan memo, ${trait}: a no-change run takes its plan from the memo, and says what a full plan says`, async () => {
    await using dir = await tmpDir();
    const tree = fixtureTree(trait);
    const first = await build(tree, dir.path);
    assert.equal(first.summary?.counts.failed, 0, explain(first));
    const memo = memoOf(dir.path);
    assert.ok(memo !== undefined, `the first run left no memo\n${explain(first)}`);

    const second = await build(tree, dir.path);
    assert.equal(second.summary?.counts.built, 0, explain(second));
    assert.equal(memoOf(dir.path), memo, 'the second run planned again instead of taking the memo');

    // The same run with the memo gone: the planner's own plan.
    await rm(join(dir.path, 'plan-memo'), { recursive: true });
    const third = await build(tree, dir.path);
    assert.ok(memoOf(dir.path) !== undefined && memoOf(dir.path) !== memo, 'the third run left no memo of its own');
    assert.deepEqual(said(second), said(third));
  });
}

test('plan memo: a run with a failed build leaves none', async () => {
  await using dir = await tmpDir();
  const first = await build(fixtureTree('failing-middle'), dir.path);
  assert.equal(first.summary?.state, 'failed', explain(first));
  assert.equal(memoOf(dir.path), undefined);
});

test('plan memo: an edited recipe, a removed artifact or other targets make kiln plan again', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('diamond', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');
  // Files changed within the last second are not trusted by the scan cache (nor then by the memo).
  await sleep(1100);
  const first = await build(tree, state);
  assert.equal(first.summary?.counts.built, 4, explain(first));
  let memo = memoOf(state);
  assert.ok(memo !== undefined);

  // An edited recipe: that package and what builds on it are built again.
  const recipe = join(tree, 'b', 'recipe.toml');
  await writeFile(recipe, readFileSync(recipe, 'utf8').replace('built on a', 'built on a, edited'));
  await sleep(1100);
  const edited = await build(tree, state);
  assert.deepEqual(edited.summary?.counts, { built: 2, 'up-to-date': 2, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, explain(edited));
  assert.notEqual(memoOf(state), memo);
  memo = memoOf(state);

  // A removed artifact: its package is built again (its output is the same: early cutoff for the rest).
  const stored = first.events.find((e) => e.type === 'job-finished' && e.name === 'a');
  assert.ok(stored?.type === 'job-finished' && stored.artifact !== undefined);
  await rm(dirname(stored.artifact), { recursive: true });
  const gone = await build(tree, state);
  assert.equal(gone.summary?.counts.built, 1, explain(gone));
  assert.notEqual(memoOf(state), memo);
  memo = memoOf(state);

  // Other targets: another plan (and its memo); the whole tree again: planned again too.
  const some = await build(tree, state, 'b');
  assert.deepEqual(some.summary?.counts, { built: 0, 'up-to-date': 2, failed: 0, skipped: 0, broken: 0, cancelled: 0 }, explain(some));
  assert.notEqual(memoOf(state), memo);
  memo = memoOf(state);
  const all = await build(tree, state);
  assert.equal(all.summary?.counts['up-to-date'], 4, explain(all));
  assert.notEqual(memoOf(state), memo);
  memo = memoOf(state);
  assert.equal((await build(tree, state)).summary?.counts['up-to-date'], 4);
  assert.equal(memoOf(state), memo, 'an unchanged run takes the memo');
});

test('plan memo: a rebuild that replaced a stored output in a run that then failed is not hidden by the memo', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const flag = join(dir.path, 'flag');
  const write = async (name: string, text: string): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  };
  // base installs outside /usr (an output check warns of it) unless the flag file exists;
  // top fails while the flag file exists.
  await write('base', `name = "base"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = """\nif test -e ${JSON.stringify(flag)}; then d="$DESTDIR/usr/share/base"; else d="$DESTDIR/x"; fi\nmkdir -p "$d"\ndate +%s%N > "$d/stamp"\n"""\n`);
  await write('top', `name = "top"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\nbuild-depends = ["base"]\n[build]\nscript = """\ntest ! -e ${JSON.stringify(flag)}\n"""\n`);
  await sleep(1100);
  const first = await build(tree, state);
  assert.equal(first.summary?.counts.built, 2, explain(first));
  assert.ok(memoOf(state) !== undefined);

  // --fail-on-warnings: base is built again, clean, and its new output replaces the stored
  // one under the same key; top is built again on it and fails.
  await writeFile(flag, '');
  const rebuilt = await build(tree, state, '--fail-on-warnings');
  assert.deepEqual([rebuilt.summary?.counts.built, rebuilt.summary?.counts.failed], [1, 1], explain(rebuilt));
  await rm(flag);

  // The first run's memo says top is up to date on base's old output: it must not be used.
  const next = await build(tree, state);
  assert.deepEqual([next.summary?.counts.built, next.summary?.counts['up-to-date']], [1, 1], explain(next));
  assert.ok(next.events.some((e) => e.type === 'job-started' && e.name === 'top'), 'top was not built again');
});
