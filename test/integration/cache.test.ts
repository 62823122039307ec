// Input keys through the real CLI: a second run finds everything up to date, early cutoff
// keeps dependents of an identically rebuilt dependency up to date, and each why-rebuild
// reason shows up in the plan and in the build when its cause happens.

import { fullKeyOf, ownKeyOf } from '../../src/plan/keys.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { Reason } from '../../src/plan/reason.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, instantiateTree, pkgOf, readReport, runKiln, spawnKiln, statesOf, type KilnResult } from '../helpers/run-kiln.ts';

interface PlanJson {
  packages: { name: string; state: string; why: Reason | null }[];
}

async function build(tree: string, state: string, ...extra: string[]): Promise<KilnResult> {
  const r = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json', ...extra]);
  assert.ok(r.code === 0, explain(r));
  return r;
}

/** name → "state" or "state why[: dependency name]" from `kiln plan --json`. */
async function plan(tree: string, state: string, ...extra: string[]): Promise<Record<string, string>> {
  const r = await runKiln(['plan', '--tree', tree, '--state', state, '--json', ...extra]);
  assert.equal(r.code, 0, explain(r));
  const p = JSON.parse(r.stdout) as PlanJson;
  return Object.fromEntries(p.packages.map((n) => [n.name, n.why === null ? n.state : `${n.state} ${describe(n.why)}`]));
}

/** What `kiln plan --json` says changed in `name`'s recipe or sources since its last good build. */
async function changesOf(tree: string, state: string, name: string): Promise<unknown> {
  const r = await runKiln(['plan', '--tree', tree, '--state', state, '--json']);
  assert.equal(r.code, 0, explain(r));
  const why = (JSON.parse(r.stdout) as PlanJson).packages.find((p) => p.name === name)?.why;
  return why?.kind === 'recipe-changed' || why?.kind === 'source-changed' ? why.changes : undefined;
}

/** name → why of every build that really ran (job-started), e.g. "dependency-changed: base". */
function ran(r: KilnResult): Record<string, string> {
  return Object.fromEntries(eventsOf(r.events, 'job-started').map((e) => [e.name, describe(e.why)]));
}

function describe(why: Reason): string {
  return why.kind === 'dependency-changed' ? `${why.kind}: ${why.dependency.replace(/@.*$/, '')}` : why.kind;
}

test('cache hit: a second run builds nothing; a fresh state dir sharing the cache finds everything too; cache du and gc', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('cache-hit', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');
  const first = await build(tree, state);
  assert.equal(first.summary?.counts.built, 3);
  const firstReport = await readReport(first);
  // packages/All: each archive under its package's name, linked from the index.
  const index = JSON.parse(await readFile(join(state, 'packages', 'index.json'), 'utf8')) as { packages: { name: string; version: string; arch: string; file?: string; path: string }[] };
  const files = index.packages.filter((p) => p.path.endsWith('.tar.zst')).map((p) => p.file);
  assert.ok(files.length > 0);
  assert.deepEqual(files, index.packages.filter((p) => p.path.endsWith('.tar.zst')).map((p) => `All/${p.name}_${p.version}-1_${p.arch}.tar.zst`));
  assert.deepEqual((await readdir(join(state, 'packages', 'All'))).sort(), files.map((f) => f!.slice(4)).sort());
  // Provenance: each artifact's meta.json says what its key was made of, enough to make the key again.
  for (const p of firstReport.packages) {
    const meta = JSON.parse(await readFile(join(dirname(p.artifact!), 'meta.json'), 'utf8')) as { key: string; arch: string; inputs: { recipeHash: string; sourcesHash: string; envId: string; depOutputs: Record<string, string>; sources: { url: string; sha256: string | null }[] } };
    const i = meta.inputs;
    assert.equal(fullKeyOf(ownKeyOf({ recipeHash: i.recipeHash, sourcesHash: i.sourcesHash, envId: i.envId, arch: meta.arch }), i.depOutputs), meta.key, `${p.name}: the key from its meta's inputs`);
    assert.deepEqual(Object.keys(i.depOutputs).map((id) => id.split('@')[0]).sort(), p.name === 'app' ? ['lib', 'tool'] : [], p.name);
  }

  const second = await build(tree, state);
  assert.deepEqual(second.summary?.counts, { built: 0, 'up-to-date': 3, failed: 0, skipped: 0, broken: 0, cancelled: 0 });
  assert.equal(eventsOf(second.events, 'job-started').length, 0, 'nothing may run');
  const secondReport = await readReport(second);
  assert.deepEqual(statesOf(secondReport), { app: 'up-to-date', lib: 'up-to-date', tool: 'up-to-date' });
  for (const p of secondReport.packages) {
    const before = firstReport.packages.find((q) => q.name === p.name);
    assert.equal(p.artifact, before?.artifact, `${p.name}: the same artifact is used`);
  }

  // The artifacts live in the cache, keyed by inputs: another state dir with the same cache needs nothing.
  const other = await build(tree, join(dir.path, 'other-state'), '--cache', join(state, 'cache'));
  assert.equal(other.summary?.counts['up-to-date'], 3, explain(other));
  assert.equal(eventsOf(other.events, 'job-started').length, 0);

  // kiln cache verify: all whole (exit 0); a damaged archive is named (exit 1) and --fix removes it.
  const whole = await runKiln(['cache', 'verify', '--state', state]);
  assert.equal(whole.code, 0, explain(whole));
  assert.match(whole.stdout, /\d+ downloads and 3 artifacts checked, 0 damaged/);
  const libArtifact = firstReport.packages.find((p) => p.name === 'lib')!.artifact!;
  assert.ok(libArtifact.endsWith('.tar.zst'), libArtifact);
  let lastRun = '';
  {
    const { truncate } = await import('node:fs/promises');
    await truncate(libArtifact, 5);
    const damaged = await runKiln(['cache', 'verify', '--state', state]);
    assert.equal(damaged.code, 1, explain(damaged));
    assert.match(damaged.stdout, /1 damaged\n  artifact .* has 5 bytes where meta\.json says/);
    const fixed = await runKiln(['cache', 'verify', '--state', state, '--fix']);
    assert.equal(fixed.code, 0, explain(fixed));
    assert.match(fixed.stdout, /: removed/);
    assert.match(fixed.stdout, /dropped 1 package whose artifact was removed/, 'the package index still listed it');
    const rebuilt = await build(tree, state);
    assert.equal(pkgOf(await readReport(rebuilt), 'lib').state, 'built', explain(rebuilt));
    lastRun = (await readReport(rebuilt)).runId;
  }

  // kiln cache du / gc: three artifacts; once collected, everything is to be built again.
  const du = await runKiln(['cache', 'du', '--state', state, '--json']);
  assert.equal(du.code, 0, explain(du));
  const usage = JSON.parse(du.stdout) as { artifacts: { count: number; bytes: number } };
  assert.equal(usage.artifacts.count, 3);
  assert.ok(usage.artifacts.bytes > 0);
  // --keep-last-runs 1 keeps the newest run's logs and report; the older runs' go, but
  // for each package's last log: tool and app were built only by the first run.
  const firstLog = pkgOf(firstReport, 'lib').log!;
  const toolLog = pkgOf(firstReport, 'tool').log!;
  // Through another path to the same state dir (a symlink): the last logs are known all the same.
  const { symlink } = await import('node:fs/promises');
  const link = join(dir.path, 'state-link');
  await symlink(state, link);
  const gc = await runKiln(['cache', 'gc', '--state', link, '--cache', join(state, 'cache'), '--older-than', '1ms', '--keep-last-runs', '1']);
  assert.equal(gc.code, 0, explain(gc));
  assert.doesNotMatch(gc.stdout, /removed artifact/, 'the last run used all three');
  assert.match(gc.stdout, new RegExp(`removed log ${firstLog.replace(state, link)} `));
  assert.match(gc.stdout, new RegExp(`removed run ${link}/runs/${firstReport.runId} `));
  assert.equal(existsSync(firstLog), false, 'the old run\'s log stayed');
  assert.equal(existsSync(toolLog), true, 'the last log of a package went');
  const toolLogs = await runKiln(['logs', 'tool', '--state', state]);
  assert.equal(toolLogs.code, 0, explain(toolLogs));
  assert.ok(existsSync(join(state, 'runs', lastRun, 'report.json')), 'the newest run\'s report went');
  const gone = await runKiln(['logs', 'lib', '--run', firstReport.runId, '--state', state]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /cache gc|removed|no log/, gone.stderr);
  const gc2 = await runKiln(['cache', 'gc', '--state', state, '--older-than', '1ms']);
  assert.equal(gc2.code, 0, explain(gc2));
  assert.match(gc2.stdout, /removed artifact/);
  assert.deepEqual(await readdir(join(state, 'packages', 'All')), [], 'the files of removed artifacts went with their index entries');
  assert.match(gc2.stdout, new RegExp(`removed run ${state}/runs/${lastRun} `));
  const after = await plan(tree, state);
  assert.equal(after['lib'], 'to-build new');
  assert.equal(after['tool'], 'to-build new');
  // app's dependencies are rebuilt too, so the code says dependency-changed (docs/recipes.md's precedence table would say new).
  assert.match(after['app'] ?? '', /^to-build /);
});

test('early cutoff: a dependency rebuilt to identical output leaves its dependents up to date', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('early-cutoff', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');
  assert.equal((await build(tree, state)).summary?.counts.built, 3);

  const recipe = join(tree, 'dep', 'recipe.toml');
  const text = await readFile(recipe, 'utf8');
  assert.match(text, /# revision: 1/);
  await writeFile(recipe, text.replace('# revision: 1', '# revision: 2'));

  // The plan cannot know dep's output yet: it lists dependents as dependency-changed.
  assert.deepEqual(await plan(tree, state), {
    dep: 'to-build recipe-changed',
    user: 'to-build dependency-changed: dep',
    user2: 'to-build dependency-changed: user',
  });
  const second = await build(tree, state);
  assert.deepEqual(ran(second), { dep: 'recipe-changed' }, 'only dep may run');
  const secondReport = await readReport(second);
  assert.deepEqual(statesOf(secondReport), { dep: 'built', user: 'up-to-date', user2: 'up-to-date' });
  // status, history and the report say why a package that was to be built was not.
  assert.match(pkgOf(secondReport, 'user').cause ?? '', /^early cutoff: its dependencies' outputs are unchanged/);
  // So does its job-finished event (docs/cli.md: `up-to-date` through early cutoff, with `cause`).
  const finished = eventsOf(second.events, 'job-finished').find((e) => e.name === 'user');
  assert.equal(finished?.state, 'up-to-date');
  assert.match(finished?.cause ?? '', /^early cutoff: /);

  const third = await build(tree, state);
  assert.deepEqual(ran(third), {});
  assert.deepEqual(statesOf(await readReport(third)), { dep: 'up-to-date', user: 'up-to-date', user2: 'up-to-date' });
});


test('why reasons: new, recipe-changed, source-changed, dependency-changed, forced', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('why-reasons', join(dir.path, 'tree'));
  const state = join(dir.path, 'state');

  assert.deepEqual(await plan(tree, state), { base: 'to-build new', mid: 'to-build new', top: 'to-build new' });
  assert.deepEqual(ran(await build(tree, state)), { base: 'new', mid: 'new', top: 'new' });

  // Edit top's script: only top rebuilds.
  const topRecipe = join(tree, 'top', 'recipe.toml');
  await writeFile(topRecipe, (await readFile(topRecipe, 'utf8')).replace('top v1', 'top v2'));
  assert.deepEqual(await plan(tree, state), { base: 'up-to-date', mid: 'up-to-date', top: 'to-build recipe-changed' });
  // The reason names the file that changed, in the JSON and in words.
  assert.deepEqual(await changesOf(tree, state, 'top'), [{ part: 'file:recipe.toml', change: 'changed' }]);
  assert.match((await runKiln(['plan', '--tree', tree, '--state', state])).stdout, /top@\S+ +1\.0 +recipe-changed: recipe\.toml changed\n/);
  const edited = await build(tree, state);
  assert.deepEqual(ran(edited), { top: 'recipe-changed' });
  assert.deepEqual(pkgOf(await readReport(edited), 'top').whyChanges, [{ part: 'file:recipe.toml', change: 'changed' }]);
  assert.match(await readFile(join(dirname(edited.summary!.report), 'report.html'), 'utf8'), /<td>recipe-changed: recipe\.toml changed<\/td>/);

  // Change base's file: source: base's sources hash changes; mid installs a copy of it,
  // so its output changes too and top rebuilds after it.
  await writeFile(join(tree, 'base', 'data.txt'), 'data 2\n');
  const expected = { base: 'source-changed', mid: 'dependency-changed: base', top: 'dependency-changed: mid' };
  assert.deepEqual(await plan(tree, state), {
    base: `to-build ${expected.base}`,
    mid: `to-build ${expected.mid}`,
    top: `to-build ${expected.top}`,
  });
  assert.deepEqual(await changesOf(tree, state, 'base'), [{ part: 'source:file:data.txt', change: 'changed' }]);
  assert.match((await runKiln(['plan', '--tree', tree, '--state', state])).stdout, /base@\S+ +1\.0 +source-changed: source file:data\.txt has another checksum\n/);
  const changed = await build(tree, state);
  assert.deepEqual(ran(changed), expected);
  assert.deepEqual(statesOf(await readReport(changed)), { base: 'built', mid: 'built', top: 'built' });

  // --force: rebuilt whatever the key; mid's output is identical, so top stays up to date.
  assert.equal((await plan(tree, state, '--force', 'mid')).mid, 'to-build forced');
  const forced = await build(tree, state, '--force', 'mid');
  assert.deepEqual(ran(forced), { mid: 'forced' });
  const report = await readReport(forced);
  assert.deepEqual(statesOf(report), { base: 'up-to-date', mid: 'built', top: 'up-to-date' });
  assert.equal(report.packages.find((p) => p.name === 'mid')?.why, 'forced');

  // A --force pattern that matches nothing is refused like an unknown target; classes work.
  const typo = await runKiln(['plan', '--tree', tree, '--state', state, '--force', 'mdi']);
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /target-not-found.*--force "mdi" matches no package/);
  assert.equal((await plan(tree, state, '--force', 'm[i]d')).mid, 'to-build forced');
  // One glob per --force: a word after it is a target (a limited build), and --force repeats.
  assert.deepEqual(await plan(tree, state, '--force', 'mid', 'mid'), { base: 'up-to-date', mid: 'to-build forced' });
  assert.deepEqual(await plan(tree, state, '--force', 'mid', '--force', 'top'), { base: 'up-to-date', mid: 'to-build forced', top: 'to-build forced' });
});

test('cache gc while a build runs: what the build relies on stays, whatever --older-than says', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const recipe = (name: string, deps: string[], script: string): string =>
    `name = "${name}"\nversion = "1.0"\nsummary = "s"\nlicense = "MIT"\nbuild-depends = ${JSON.stringify(deps)}\n[build]\nscript = """\n${script}\n"""\n`;
  const put = async (name: string, deps: string[], script: string): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipe(name, deps, script));
  };
  await put('lib', [], 'mkdir -p "$DESTDIR/usr/lib" && echo lib > "$DESTDIR/usr/lib/lib.txt"');
  await put('gate', [], 'echo gate v1');
  await put('app', ['lib', 'gate'], 'test -f "$SYSROOT/usr/lib/lib.txt"; echo app v1');
  await build(tree, state);
  // gate now takes a few seconds and app changes: lib is up to date, and staged by app later.
  await put('gate', [], `echo gate v2; touch "${join(dir.path, 'gate-started')}"; sleep 3`);
  await put('app', ['lib', 'gate'], 'test -f "$SYSROOT/usr/lib/lib.txt"; echo app v2');
  const k = spawnKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json'], { timeoutMs: 30_000 });
  await k.waitForEvent((e) => e.type === 'job-started' && e.name === 'gate', 15_000);
  const gc = await runKiln(['cache', 'gc', '--older-than', '0s', '--state', state]);
  assert.equal(gc.code, 0, explain(gc));
  const r = await k.done;
  assert.equal(r.code, 0, `${explain(r)}\ngc said:\n${gc.stdout}`);
  assert.deepEqual(statesOf(await readReport(r)), { lib: 'up-to-date', gate: 'built', app: 'built' });
  // Once the run has ended, nothing holds lib any more.
  assert.deepEqual(await readdir(join(state, 'cache', 'in-use')), []);
  const after = await runKiln(['cache', 'gc', '--older-than', '0s', '--state', state]);
  assert.match(after.stdout, /removed artifact .*\n.*\n.*/);
  // The package index lists nothing gc removed.
  assert.match(after.stdout, /^dropped 3 packages whose artifact was removed from /m);
  const index = JSON.parse(await readFile(join(state, 'packages', 'index.json'), 'utf8')) as { packages: unknown[] };
  assert.deepEqual(index.packages, []);
});

test('an artifact a run finds up to date counts as used: a fresh state dir sharing the cache (CI) keeps it from cache gc', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('cache-hit', join(dir.path, 'tree'));
  const cache = join(dir.path, 'cache');
  const first = await build(tree, join(dir.path, 'job1'), '--cache', cache);
  assert.equal(first.summary?.counts.built, 3);
  // Built two days ago, as far as the cache can tell.
  const { utimes } = await import('node:fs/promises');
  const old = new Date(Date.now() - 2 * 86_400_000);
  const metas: string[] = [];
  for (const fan of await readdir(join(cache, 'artifacts'))) {
    for (const key of await readdir(join(cache, 'artifacts', fan))) metas.push(join(cache, 'artifacts', fan, key, 'meta.json'));
  }
  assert.equal(metas.length, 3);
  for (const m of metas) await utimes(m, old, old);
  const second = await build(tree, join(dir.path, 'job2'), '--cache', cache);
  assert.equal(second.summary?.counts['up-to-date'], 3, explain(second));
  const gc = await runKiln(['cache', 'gc', '--state', join(dir.path, 'job3'), '--cache', cache, '--older-than', '1d', '--dry-run']);
  assert.equal(gc.code, 0, explain(gc));
  assert.doesNotMatch(gc.stdout, /artifact/, 'the artifacts job2 used would be collected');
  // --max-size: the least recently used go until the cache fits, but nothing used in the
  // last hour (job2 just found these up to date).
  const recent = await runKiln(['cache', 'gc', '--state', join(dir.path, 'job3'), '--cache', cache, '--max-size', '1', '--dry-run']);
  assert.equal(recent.code, 0, explain(recent));
  assert.doesNotMatch(recent.stdout, /^would remove artifact /m, recent.stdout);
  assert.match(recent.stdout, /^the cache would still hold \S+ \S+, over --max-size 1 B: what is left: \d+ entries \([^)]*\) used in the last hour /m);
  for (const m of metas) await utimes(m, old, old);
  const sized = await runKiln(['cache', 'gc', '--state', join(dir.path, 'job3'), '--cache', cache, '--max-size', '1', '--dry-run']);
  assert.equal(sized.code, 0, explain(sized));
  assert.equal((sized.stdout.match(/^would remove artifact /gm) ?? []).length, 3, sized.stdout);
  assert.match(sized.stdout, /^the cache would hold 0 B \(--max-size 1 B\)$/m);
});

test('two kiln processes sharing a cache build a package once: the second waits for the first and uses its artifact', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const cache = join(dir.path, 'cache');
  const count = join(dir.path, 'builds');
  const gate = join(dir.path, 'gate');
  await mkdir(join(tree, 'slow'), { recursive: true });
  // Each build appends a line to `count`, and holds on until the gate opens.
  await writeFile(join(tree, 'slow', 'recipe.toml'), `name = "slow"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = """\necho built >> '${count}'\nfor i in $(seq 1 400); do test -f '${gate}' && break; sleep 0.05; done\nmkdir -p "$DESTDIR/usr/share"\necho slow > "$DESTDIR/usr/share/slow"\n"""\n`);
  const a = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'a'), '--cache', cache, '--sandbox', 'host', '--json']);
  // The first is building (its script has run) before the second starts.
  for (let i = 0; i < 200 && !existsSync(count); i++) await new Promise((r) => setTimeout(r, 50));
  const b = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'b'), '--cache', cache, '--sandbox', 'host', '--json']);
  for (let i = 0; i < 200 && !b.events.some((e) => e.type === 'note' && /waiting for kiln pid \d+/.test((e as { text: string }).text)); i++) await new Promise((r) => setTimeout(r, 50));
  await writeFile(gate, '');
  const [ra, rb] = await Promise.all([a.done, b.done]);
  assert.equal(ra.code, 0, explain(ra));
  assert.equal(rb.code, 0, explain(rb));
  assert.equal((await readFile(count, 'utf8')).trim().split('\n').length, 1, 'built twice');
  assert.equal(eventsOf(rb.events, 'job-finished')[0]?.state, 'up-to-date');
  assert.ok(rb.events.some((e) => e.type === 'note' && /slow@\S+: waiting for kiln pid \d+, which is building the same inputs/.test((e as { text: string }).text)), 'the second said why it waited');
  assert.deepEqual(await readdir(join(cache, 'locks')).then((l) => l.filter((f) => f.startsWith('build-'))), [], 'a build lock left behind');
  // B says who built it, and its package index and packages/All have it.
  const reportB = await readReport(rb);
  assert.match(pkgOf(reportB, 'slow').cause ?? '', /^built meanwhile by another run sharing this cache: its artifact is used$/);
  const indexB = JSON.parse(await readFile(join(dir.path, 'b', 'packages', 'index.json'), 'utf8')) as { packages: { name: string; file?: string }[] };
  assert.deepEqual(indexB.packages.map((p) => [p.name, p.file]), [['slow', `All/slow_1-1_${eventsOf(rb.events, 'job-finished')[0]!.arch}.tar.zst`]]);

  // A forced build that had to wait builds all the same.
  await rm(gate);
  const c = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'c'), '--cache', cache, '--sandbox', 'host', '--force', 'slow', '--json']);
  for (let i = 0; i < 200 && (await readFile(count, 'utf8')).trim().split('\n').length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const d = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'd'), '--cache', cache, '--sandbox', 'host', '--force', 'slow', '--json']);
  for (let i = 0; i < 200 && !d.events.some((e) => e.type === 'note' && /waiting for kiln pid/.test((e as { text: string }).text)); i++) await new Promise((r) => setTimeout(r, 50));
  await writeFile(gate, '');
  const [rc, rd] = await Promise.all([c.done, d.done]);
  assert.equal(rc.code, 0, explain(rc));
  assert.equal(rd.code, 0, explain(rd));
  assert.equal((await readFile(count, 'utf8')).trim().split('\n').length, 3, 'the forced build that waited did not build');
  assert.equal(eventsOf(rd.events, 'job-finished')[0]?.state, 'built');
});

test('two kiln processes sharing a cache: one that stores the package while the other settles (after its look in the store, before its lock) is not built again', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const cache = join(dir.path, 'cache');
  const count = join(dir.path, 'builds');
  const logsB = join(dir.path, 'b', 'logs');
  await mkdir(join(tree, 'shared'), { recursive: true });
  // The first's build ends once the second's executor has made its log folder: the second
  // looks in the store right then (the early cutoff, nothing there yet), and then waits
  // out the settle delay (build-locks.ts, a second), during which the first stores the
  // package and lets its lock go. The second then takes the lock without waiting.
  await writeFile(join(tree, 'shared', 'recipe.toml'), `name = "shared"\nversion = "1"\nsummary = "s"\nlicense = "MIT"\n[build]\nscript = """\necho built >> '${count}'\nfor i in $(seq 1 400); do ls -d '${logsB}'/*/ >/dev/null 2>&1 && break; sleep 0.02; done\nmkdir -p "$DESTDIR/usr/share"\necho shared > "$DESTDIR/usr/share/shared"\n"""\n`);
  const a = spawnKiln(['build', '--tree', tree, '--state', join(dir.path, 'a'), '--cache', cache, '--sandbox', 'host', '--json']);
  // The first is building (and in the cache's in-use/) before the second starts.
  for (let i = 0; i < 200 && !existsSync(count); i++) await new Promise((r) => setTimeout(r, 50));
  const rb = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'b'), '--cache', cache, '--sandbox', 'host', '--json']);
  const ra = await a.done;
  assert.equal(ra.code, 0, explain(ra));
  assert.equal(rb.code, 0, explain(rb));
  // The race this test is about: the second never saw the lock held.
  assert.deepEqual(eventsOf(rb.events, 'job-waiting'), [], 'the second waited for the lock: the first stored later than meant');
  assert.equal((await readFile(count, 'utf8')).trim().split('\n').length, 1, 'built twice');
  assert.equal(eventsOf(rb.events, 'job-finished')[0]?.state, 'up-to-date');
  assert.match(pkgOf(await readReport(rb), 'shared').cause ?? '', /^built meanwhile by another run sharing this cache: its artifact is used$/);
  assert.deepEqual(await readdir(join(cache, 'locks')).then((l) => l.filter((f) => f.startsWith('build-'))), [], 'a build lock left behind');
});

test('a job whose build lock cannot be taken fails with a reason, in the records and the report, and fails the run', async () => {
  await using dir = await tmpDir();
  const tree = await instantiateTree('cache-hit', join(dir.path, 'tree'));
  const cache = join(dir.path, 'cache');
  // Another run uses the cache (a live process: this one), and locks/ cannot be made.
  await mkdir(join(cache, 'in-use'), { recursive: true });
  await writeFile(join(cache, 'in-use', 'other.json'), JSON.stringify({ pid: process.pid, start: null, startedAt: Date.now(), keys: [] }));
  await writeFile(join(cache, 'locks'), 'not a directory');
  const r = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'state'), '--cache', cache, '--json']);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  const failed = report.packages.filter((p) => p.state === 'failed');
  assert.ok(failed.length > 0, JSON.stringify(report.counts));
  for (const p of failed) assert.match(p.cause ?? '', /cannot take the build lock of its inputs in the cache/);
  assert.equal(report.counts.failed + report.counts.skipped, 3);
});

test('a package planned dependency-changed naming a dependency that comes out the same starts naming the one that changed (event, records, report)', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const put = async (name: string, text: string): Promise<void> => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  };
  const installs = (name: string, content: string): string => `mkdir -p "$DESTDIR/usr/share/${name}"; echo ${content} > "$DESTDIR/usr/share/${name}/f"`;
  await put('alpha', recipeText({ name: 'alpha', script: installs('alpha', 'same') }));
  await put('beta', recipeText({ name: 'beta', script: installs('beta', 'one') }));
  await put('user', recipeText({ name: 'user', deps: ['alpha', 'beta'], script: installs('user', 'u') }));
  await build(tree, state);
  // alpha: a comment only (rebuilt, same output); beta: another output.
  await put('alpha', `${recipeText({ name: 'alpha', script: installs('alpha', 'same') })}# a comment\n`);
  await put('beta', recipeText({ name: 'beta', script: installs('beta', 'two') }));
  // The plan cannot know yet: it names the first dependency being rebuilt.
  assert.equal((await plan(tree, state))['user'], 'to-build dependency-changed: alpha');
  const r = await build(tree, state);
  assert.deepEqual(ran(r), { alpha: 'recipe-changed', beta: 'recipe-changed', user: 'dependency-changed: beta' });
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'user').why, 'dependency-changed');
  assert.match(pkgOf(report, 'user').whyDependency ?? '', /^beta@/);
  const history = await runKiln(['history', 'user', '--state', state]);
  assert.match(history.stdout, /dependency-changed: beta@\S+/, explain(history));
});

test('an entry another state dir stored again under the same key (a corrupt one removed, a build that is not reproducible) is read, not trusted on a stat: its dependents rebuild', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const cache = join(dir.path, 'cache');
  // a's output differs at every build; b copies it.
  for (const [name, script, deps] of [
    ['a', 'mkdir -p "$DESTDIR/usr/share" && head -c 16 /dev/urandom | od -x > "$DESTDIR/usr/share/a.txt"', []],
    ['b', 'mkdir -p "$DESTDIR/usr/share" && cp "$SYSROOT/usr/share/a.txt" "$DESTDIR/usr/share/b.txt"', ['a']],
  ] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps: [...deps] }));
  }
  // Recipes older than the scan cache's racy window, so that the first build leaves a plan memo.
  await new Promise((r) => setTimeout(r, 1100));
  const one = join(dir.path, 'one');
  const first = await build(tree, one, '--cache', cache);
  assert.ok(existsSync(join(one, 'plan-memo')), 'no plan memo left');
  assert.equal(first.summary?.counts.built, 2, explain(first));
  const aDone = eventsOf(first.events, 'job-finished').find((e) => e.name === 'a')!;
  // Another state dir finds a's archive corrupt, removes it and builds a again: same key, other output.
  await writeFile(aDone.artifact!, 'not an archive');
  const verify = await runKiln(['cache', 'verify', '--fix', '--state', join(dir.path, 'two'), '--cache', cache]);
  assert.equal(verify.code, 0, explain(verify));
  assert.match(verify.stdout, /1 damaged\n.*: removed$/m);
  const again = await build(tree, join(dir.path, 'two'), '--cache', cache, 'a');
  const aAgain = eventsOf(again.events, 'job-finished').find((e) => e.name === 'a')!;
  assert.equal(aAgain.state, 'built', explain(again));
  assert.equal(aAgain.key, aDone.key);
  assert.notEqual(aAgain.outputHash, aDone.outputHash);

  // The first state dir's records still name a's first output: the plan reads the new entry.
  assert.deepEqual(await plan(tree, one, '--cache', cache), { a: 'up-to-date', b: 'to-build dependency-changed: a' });
  // So does a build, whose plan memo (left by the first build) names the first output too.
  const third = await build(tree, one, '--cache', cache);
  assert.deepEqual(ran(third), { b: 'dependency-changed: a' }, explain(third));
  const b = eventsOf(third.events, 'job-finished').find((e) => e.name === 'b')!;
  const member = (file: string, path: string): string => execFileSync('tar', ['--zstd', '-xOf', file, path], { encoding: 'utf8' });
  assert.equal(member(b.artifact!, 'usr/share/b.txt'), member(aAgain.artifact!, 'usr/share/a.txt'));
  // The records now name the new entry, recorded after it was stored: the next plans stat it again.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(one, 'kiln.db'), { readOnly: true });
  const row = db.prepare("SELECT success_output_hash AS hash, success_at AS at FROM package_state WHERE job_id = ?").get(`a@${aAgain.arch}`) as { hash: string; at: number };
  db.close();
  assert.equal(row.hash, aAgain.outputHash);
  assert.ok(Math.floor(statSync(join(dirname(aAgain.artifact!), 'meta.json')).birthtimeMs) <= row.at, 'recorded before the entry was born');
  // And the next run trusts its records again (b, a: up to date without a build).
  const fourth = await build(tree, one, '--cache', cache);
  assert.equal(fourth.summary?.counts['up-to-date'], 2, explain(fourth));
});

test('a state dir whose cache gc dropped its packages, stored again by another state dir, lists them in its index again on a run that builds nothing', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const cache = join(dir.path, 'cache');
  for (const [name, deps] of [['a', []], ['b', ['a']]] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script: `mkdir -p "$DESTDIR/usr/share" && echo ${name} > "$DESTDIR/usr/share/${name}.txt"`, deps: [...deps] }));
  }
  const one = join(dir.path, 'one');
  const indexed = async (state: string): Promise<string[]> => {
    const index = JSON.parse(await readFile(join(state, 'packages', 'index.json'), 'utf8')) as { packages: { name: string }[] };
    return index.packages.map((p) => p.name).sort();
  };
  assert.equal((await build(tree, one, '--cache', cache)).summary?.counts.built, 2);
  assert.deepEqual(await indexed(one), ['a', 'b']);
  const gc = await runKiln(['cache', 'gc', '--older-than', '0s', '--state', one, '--cache', cache]);
  assert.equal(gc.code, 0, explain(gc));
  assert.deepEqual(await indexed(one), []);
  const two = join(dir.path, 'two');
  assert.equal((await build(tree, two, '--cache', cache)).summary?.counts.built, 2);
  // Another state dir's gc removes them; this one's next gc drops them from its index (and
  // from packages/All), though it removes nothing itself.
  assert.equal((await runKiln(['cache', 'gc', '--older-than', '0s', '--state', one, '--cache', cache])).code, 0);
  const gcTwo = await runKiln(['cache', 'gc', '--older-than', '0s', '--state', two, '--cache', cache]);
  assert.equal(gcTwo.code, 0, explain(gcTwo));
  assert.match(gcTwo.stdout, /dropped 2 packages whose artifact was removed/);
  assert.deepEqual(await indexed(two), []);
  assert.deepEqual(await readdir(join(two, 'packages', 'All')).catch(() => []), []);
  assert.equal((await build(tree, two, '--cache', cache)).summary?.counts.built, 2);
  const back = await build(tree, one, '--cache', cache);
  assert.equal(back.summary?.counts['up-to-date'], 2, explain(back));
  assert.deepEqual(await indexed(one), ['a', 'b']);
});

test('a package another state dir built under a key this one never had is listed in this one\'s index, as found, on a run that builds nothing', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const cache = join(dir.path, 'cache');
  const write = (version: string) => writeFile(join(tree, 'x', 'recipe.toml'), recipeText({ name: 'x', version, script: 'mkdir -p "$DESTDIR/usr/share" && echo x > "$DESTDIR/usr/share/x.txt"' }));
  await mkdir(join(tree, 'x'), { recursive: true });
  await write('1');
  const one = join(dir.path, 'one');
  const versions = async (): Promise<string[]> => (JSON.parse(await readFile(join(one, 'packages', 'index.json'), 'utf8')) as { packages: { version: string }[] }).packages.map((p) => p.version);
  assert.equal((await build(tree, one, '--cache', cache)).summary?.counts.built, 1);
  assert.deepEqual(await versions(), ['1']);
  await write('2');
  assert.equal((await build(tree, join(dir.path, 'two'), '--cache', cache)).summary?.counts.built, 1);
  const found = await build(tree, one, '--cache', cache);
  assert.equal(found.summary?.counts['up-to-date'], 1, explain(found));
  assert.deepEqual(await versions(), ['2']);
});

test('--force of a package whose build gives another output: the new output is stored (packages/All too) and its dependent rebuilds against it in the same run', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  // stamp's output differs at every build (what a host that changed in a way the key cannot see gives).
  await mkdir(join(tree, 'stamp'), { recursive: true });
  await writeFile(join(tree, 'stamp', 'recipe.toml'), recipeText({ name: 'stamp', script: 'mkdir -p "$DESTDIR/usr/share/stamp"; cat /proc/sys/kernel/random/uuid > "$DESTDIR/usr/share/stamp/id"' }));
  await mkdir(join(tree, 'user'), { recursive: true });
  await writeFile(join(tree, 'user', 'recipe.toml'), recipeText({ name: 'user', deps: ['stamp'], script: 'mkdir -p "$DESTDIR/usr/share/user"; cp "$SYSROOT/usr/share/stamp/id" "$DESTDIR/usr/share/user/id"' }));
  const first = await build(tree, state);
  const idOf = async (r: KilnResult, name: string): Promise<string> => execFileSync('tar', ['--zstd', '-xOf', pkgOf(await readReport(r), name).artifact!], { encoding: 'utf8' });
  const before = await idOf(first, 'stamp');
  assert.equal(await idOf(first, 'user'), before);
  const forced = await build(tree, state, '--force', 'stamp');
  assert.deepEqual(ran(forced), { stamp: 'forced', user: 'dependency-changed: stamp' });
  const after = await idOf(forced, 'stamp');
  assert.notEqual(after, before, 'the forced build\'s output, not the stored one');
  assert.equal(await idOf(forced, 'user'), after, 'the dependent built against it');
  const all = (await readdir(join(state, 'packages', 'All'))).find((f) => f.startsWith('stamp_'))!;
  assert.equal(execFileSync('tar', ['--zstd', '-xOf', join(state, 'packages', 'All', all)], { encoding: 'utf8' }), after, 'packages/All holds the new output');
  // It is what later runs find up to date.
  const again = await build(tree, state);
  assert.deepEqual(ran(again), {});
  assert.equal(await idOf(again, 'stamp'), after);
});

test('why a package rebuilds is said against the last build of the same variant (profiles, options), not the newest of any', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  for (const [name, deps] of [['liba', []], ['libb', ['liba']]] as const) {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, deps, script: `mkdir -p "$DESTDIR/usr/share/${name}"; echo ${name} v1 > "$DESTDIR/usr/share/${name}/v"` }));
  }
  await build(tree, state);
  await build(tree, state, '--profiles', 'nocheck');
  // liba changes: libb rebuilds because liba did, in either variant; the newest build (nocheck) is another env.
  await writeFile(join(tree, 'liba', 'recipe.toml'), recipeText({ name: 'liba', script: 'mkdir -p "$DESTDIR/usr/share/liba"; echo liba v2 > "$DESTDIR/usr/share/liba/v"' }));
  assert.deepEqual(await plan(tree, state), { liba: 'to-build recipe-changed', libb: 'to-build dependency-changed: liba' });
  assert.deepEqual(await plan(tree, state, '--profiles', 'nocheck'), { liba: 'to-build recipe-changed', libb: 'to-build dependency-changed: liba' });
  // A variant never built: libb's recipe is as built before, in another env; liba's recipe changed since any build.
  assert.deepEqual(await plan(tree, state, '--profiles', 'nodoc'), { liba: 'to-build recipe-changed', libb: 'to-build environment-changed' });
});

test('cache gc removes an env version no build uses any more (one a killed build held when the env was updated)', async () => {
  await using dir = await tmpDir();
  const state = join(dir.path, 'state');
  const { createEnvStore } = await import('../../src/envs/env-store.ts');
  const { mkdir: mk } = await import('node:fs/promises');
  // Roots made in a moment, without a mirror (the env store's seam for tests).
  const makers = {
    async bootstrap(_spec: unknown, root: string) {
      await mk(join(root, 'etc'), { recursive: true });
      await mk(join(root, 'usr', 'sbin'), { recursive: true });
      await writeFile(join(root, 'etc', 'made'), 'x\n');
      return ['fake'];
    },
    async upgrade(root: string) {
      await writeFile(join(root, 'etc', 'upgraded'), 'x\n');
      return ['fake upgrade'];
    },
    async ensureArch() {},
  };
  const store = createEnvStore({ stateDir: state, makers: makers as never });
  const v1 = await store.create('e', { suite: 'bookworm', arch: 'amd64', mirror: 'http://mirror.example/debian' });
  // A build held v1 when the update came, and was killed after: its lease names a pid that is gone.
  await store.acquire('e');
  const v2 = await store.update('e');
  assert.ok(existsSync(join(state, 'envs', 'e', 'versions', v1.versionId)), 'kept for the running build');
  const leases = join(state, 'envs', 'e', 'leases');
  const dead = 2 ** 22 + 4321;
  for (const f of await readdir(leases)) {
    await rm(join(leases, f));
    await writeFile(join(leases, `${v1.versionId}.${dead}.abcdef`), `${dead} ${(await import('node:os')).hostname()} \n`);
  }
  const gc = await runKiln(['cache', 'gc', '--state', state]);
  assert.equal(gc.code, 0, explain(gc));
  assert.match(gc.stdout, new RegExp(`removed env version e ${v1.versionId} `));
  assert.equal(existsSync(join(state, 'envs', 'e', 'versions', v1.versionId)), false);
  assert.ok(existsSync(join(state, 'envs', 'e', 'versions', v2.versionId)));
});
