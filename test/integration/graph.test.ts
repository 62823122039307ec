// Dependency graphs end to end through the real CLI: the order builds run in, what each
// build finds in $SYSROOT (the fixture scripts check it and fail otherwise), provides and
// alternatives, version constraints, cycles, missing and invalid packages.

import assert from 'node:assert/strict';
import { cp, mkdir, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { eventsOf, explain, fixtureTree, pkgOf, readReport, runKiln, statesOf } from '../helpers/run-kiln.ts';

interface PlanJson {
  archs: string[];
  counts: Record<string, number>;
  packages: { id: string; name: string; version: string; arch: string; state: string; why: { kind: string } | null; reason: string | null; waitsFor: string[] }[];
}

async function build(trait: string, state: string, ...extra: string[]) {
  return runKiln(['build', '--tree', fixtureTree(trait), '--state', state, '--jobs', '2', '--json', ...extra]);
}

async function planJson(trait: string, state: string): Promise<{ code: number | null; plan: PlanJson }> {
  const r = await runKiln(['plan', '--tree', fixtureTree(trait), '--state', state, '--json']);
  assert.ok(r.stdout.trim().startsWith('{'), explain(r));
  return { code: r.code, plan: JSON.parse(r.stdout) as PlanJson };
}

/** Writes NAME/recipe.toml under `tree`. */
function recipeWriter(tree: string): (name: string, text: string) => Promise<void> {
  return async (name, text) => {
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, 'recipe.toml'), text);
  };
}

test('diamond: builds in dependency order, each build sees its dependencies (and their runtime deps) in $SYSROOT', async () => {
  await using dir = await tmpDir();
  const r = await build('diamond', dir.path);
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.summary?.state, 'done');
  assert.deepEqual(r.summary?.counts, { built: 4, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 });

  // Order on the event stream: a before b and c, both before d.
  const idx = (type: 'job-started' | 'job-finished', name: string): number => {
    const i = r.events.findIndex((e) => e.type === type && 'name' in e && e.name === name);
    assert.notEqual(i, -1, `no ${type} event for ${name}`);
    return i;
  };
  for (const side of ['b', 'c']) {
    assert.ok(idx('job-finished', 'a') < idx('job-started', side), `${side} started before a finished`);
    assert.ok(idx('job-finished', side) < idx('job-started', 'd'), `d started before ${side} finished`);
  }
  const started = eventsOf(r.events, 'run-started')[0];
  assert.equal(started?.total, 4);

  const report = await readReport(r);
  assert.equal(report.runId, r.summary?.runId);
  for (const name of ['a', 'b', 'c', 'd']) {
    const p = pkgOf(report, name);
    assert.equal(p.state, 'built', `${name}: ${p.cause}`);
    assert.equal(p.why, 'new');
    assert.ok(p.artifact !== null, `${name} has no artifact`);
    assert.ok((await stat(p.artifact)).size > 0, `${name}'s artifact ${p.artifact} is empty`);
    assert.ok(p.log !== null && (await stat(p.log)).isFile(), `${name} has no log`);
  }
  assert.ok((await stat(join(dir.path, 'runs', report.runId, 'report.html'))).size > 0);
});

test('provides and alternatives: provided names, versioned provides, first alternative wins, a broken one is passed over, first provider by name', async () => {
  await using dir = await tmpDir();
  const { code, plan } = await planJson('provides-and-alternatives', dir.path);
  assert.equal(code, 1, 'a broken package makes plan exit 1');
  const waits = (name: string): string[] => {
    const n = plan.packages.find((p) => p.name === name);
    assert.ok(n !== undefined, `plan has no ${name}`);
    return n.waitsFor.map((id) => id.replace(/@.*$/, '')).sort();
  };
  assert.deepEqual(waits('app-virtual'), ['libfoo']);
  assert.deepEqual(waits('app-fallback'), ['libfoo']);
  assert.deepEqual(waits('app-first'), ['libfoo'], 'the second alternative must not be pulled in');
  assert.deepEqual(waits('app-two-providers'), ['bar-a']);
  assert.deepEqual(waits('app-past-broken'), ['libfoo'], 'a broken first alternative must be passed over');

  // The scripts check $SYSROOT themselves: present what was chosen, absent what was not.
  const r = await build('provides-and-alternatives', dir.path);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  const states = statesOf(report);
  for (const name of ['libfoo', 'bar-a', 'bar-b', 'app-virtual', 'app-fallback', 'app-first', 'app-two-providers', 'app-past-broken']) {
    assert.equal(states[name], 'built', `${name}: ${pkgOf(report, name).cause}`);
  }
  const bad = pkgOf(report, 'app-versioned-virtual');
  assert.equal(bad.state, 'broken', 'an unversioned provide must not satisfy a versioned relation');
  assert.match(bad.cause ?? '', /foo-virtual \(>= 1\)/);
  assert.equal(report.counts.broken, 1);
});

test('version constraints: dpkg ordering (1.2.10 > 1.2.9, ~, epochs), broken with the version the tree has', async () => {
  await using dir = await tmpDir();
  const r = await build('version-constraints', dir.path);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  for (const name of ['lib', 'epochlib', 'ok-ge', 'ok-eq', 'ok-lt', 'ok-epoch']) {
    assert.equal(pkgOf(report, name).state, 'built', `${name}: ${pkgOf(report, name).cause}`);
  }
  const badGe = pkgOf(report, 'bad-ge');
  assert.equal(badGe.state, 'broken');
  assert.match(badGe.cause ?? '', /needs lib \(>= 1\.3\), tree has 1\.2\.10/);
  const badGt = pkgOf(report, 'bad-gt');
  assert.equal(badGt.state, 'broken');
  assert.match(badGt.cause ?? '', /needs lib \(>> 1\.2\.10\), tree has 1\.2\.10/);
  const chained = pkgOf(report, 'needs-bad');
  assert.equal(chained.state, 'broken');
  assert.match(chained.cause ?? '', /needs bad-ge, which is broken: needs lib \(>= 1\.3\), tree has 1\.2\.10/);
  assert.deepEqual(report.counts, { built: 6, 'up-to-date': 0, failed: 0, skipped: 0, broken: 3, cancelled: 0 });
});

test('cycle: plan --json prints the cycle in order; its members and what needs them are broken, the rest builds', async () => {
  await using dir = await tmpDir();
  const { code, plan } = await planJson('cycle', dir.path);
  assert.equal(code, 1);
  const byName = new Map(plan.packages.map((p) => [p.name, p]));
  for (const name of ['x', 'y', 'z']) {
    const n = byName.get(name);
    assert.equal(n?.state, 'broken', `${name} should be broken`);
    // x build-depends y, y build-depends z, z build-depends x; printed from the smallest.
    assert.equal(n?.reason, 'dependency cycle: x -> y -> z -> x');
  }
  assert.equal(byName.get('behind')?.state, 'broken');
  assert.match(byName.get('behind')?.reason ?? '', /needs x, which is broken: dependency cycle: x -> y -> z -> x/);
  assert.equal(byName.get('free')?.state, 'to-build');
  assert.equal(plan.counts['broken'], 4);

  const r = await build('cycle', dir.path);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { behind: 'broken', free: 'built', x: 'broken', y: 'broken', z: 'broken' });
  assert.equal(eventsOf(r.events, 'job-started').length, 1, 'only free may run');
  // Said once at the start, with how to break it (not once per package on it).
  const notes = eventsOf(r.events, 'note').filter((e) => e.text.startsWith('dependency cycle: '));
  assert.equal(notes.length, 1, notes.map((e) => e.text).join('\n'));
  assert.match(notes[0]!.text, /^dependency cycle: x -> y -> z -> x: each arrow is a build-depends .*break the cycle by dropping one of them from its recipe/);
});

test('missing dependency: broken naming the missing name, the chain shown for what needs it, the rest builds', async () => {
  await using dir = await tmpDir();
  const r = await build('missing-dep', dir.path);
  assert.equal(r.code, 1, explain(r));
  assert.equal(r.summary?.state, 'failed');
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'fine').state, 'built');
  const app = pkgOf(report, 'app');
  assert.equal(app.state, 'broken');
  assert.match(app.cause ?? '', /needs nothere \(>= 1\.0\), which is not in the tree/);
  const user = pkgOf(report, 'app-user');
  assert.equal(user.state, 'broken');
  assert.match(user.cause ?? '', /needs app, which is broken: needs nothere/);
  // The plain output names them too.
  const plain = await runKiln(['plan', '--tree', fixtureTree('missing-dep'), '--state', dir.path]);
  assert.equal(plain.code, 1);
  assert.match(plain.stdout, /broken\s+app@\S+\s+1\.0\s+needs nothere \(>= 1\.0\), which is not in the tree/);
});

test('invalid recipes: each broken with every problem and its key, what needs them broken, the valid package builds', async () => {
  await using dir = await tmpDir();
  const r = await build('invalid-recipes', dir.path);
  assert.equal(r.code, 1, explain(r));
  const report = await readReport(r);
  assert.equal(pkgOf(report, 'good').state, 'built');
  assert.equal(report.counts.built, 1);
  const broken = report.packages.filter((p) => p.state === 'broken');
  const causeOf = (re: RegExp): string => {
    const hit = broken.find((p) => re.test(p.cause ?? ''));
    assert.ok(hit !== undefined, `no broken package with a cause matching ${re}: ${broken.map((p) => `${p.name}: ${p.cause}`).join('\n')}`);
    return hit.cause!;
  };
  // Every problem of a recipe is reported at once.
  const cpus = pkgOf(report, 'bad-cpus');
  assert.equal(cpus.state, 'broken');
  assert.match(cpus.cause ?? '', /invalid recipe/);
  assert.match(cpus.cause ?? '', /build\.cpus/);
  assert.match(cpus.cause ?? '', /build\.memory/);
  assert.match(pkgOf(report, 'unknown-key').cause ?? '', /unknown key "colour"/);
  assert.match(pkgOf(report, 'bad-relation').cause ?? '', /build-depends\[0\].*=>/);
  assert.match(pkgOf(report, 'bad-toml').cause ?? '', /invalid TOML/);
  assert.match(pkgOf(report, 'no-script').cause ?? '', /script/);
  const missing = pkgOf(report, 'missing-fields').cause ?? '';
  assert.match(missing, /summary/);
  assert.match(missing, /license/);
  causeOf(/does not match its folder "wrong-name"/);
  assert.match(pkgOf(report, 'needs-invalid').cause ?? '', /needs bad-cpus, which is broken: invalid recipe/);
  assert.equal(broken.length, 8, `broken: ${broken.map((p) => p.name).join(', ')}`);
  assert.ok(!report.packages.some((p) => p.name === 'not-a-package'), 'a folder without recipe.toml is not a package');
});

test('parallelism: reserved cpus never exceed the cores, unless --overcommit-cpus lets them', async () => {
  await using dir = await tmpDir();
  const cores = availableParallelism();
  const tree = join(dir.path, 'tree');
  // cores + 1 independent builds of cpus = 1, each long enough to overlap all the others.
  for (let i = 0; i <= cores; i++) {
    await mkdir(join(tree, `p${i}`), { recursive: true });
    await writeFile(join(tree, `p${i}`, 'recipe.toml'), recipeText({ name: `p${i}`, script: 'sleep 1', cpus: 1 }));
  }
  const mostAtOnce = (events: readonly { type: string }[]): number => {
    let running = 0;
    let most = 0;
    for (const e of events) {
      if (e.type === 'job-started') most = Math.max(most, ++running);
      if (e.type === 'job-finished') running--;
    }
    return most;
  };
  const plain = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 's1'), '--jobs', String(cores + 1), '--json']);
  assert.equal(plain.code, 0, explain(plain));
  assert.equal(mostAtOnce(plain.events), cores, `--jobs ${cores + 1} on ${cores} cores: the cpus reservation caps it at ${cores}`);
  // ... and says so at the start, instead of leaving "up to N job(s)" to be believed.
  const note = plain.events.find((e) => e.type === 'note' && (e as { text: string }).text.startsWith(`--jobs ${cores + 1}:`)) as { text: string } | undefined;
  assert.match(note?.text ?? '', new RegExp(`at most ${cores} build\\(s\\) at once here: .*--overcommit-cpus`));
  const started = plain.events.find((e) => e.type === 'run-started') as { atOnce?: number; maxJobs: number } | undefined;
  assert.deepEqual([started?.atOnce, started?.maxJobs], [cores, cores + 1], 'run-started says what runs at once');
  const over = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 's2'), '--jobs', String(cores + 1), '--overcommit-cpus', '1', '--json']);
  assert.equal(over.code, 0, explain(over));
  assert.equal(mostAtOnce(over.events), cores + 1, 'one cpu overcommitted: one more build at once');
  assert.ok(!over.events.some((e) => e.type === 'note' && (e as { text: string }).text.startsWith('--jobs')), 'nothing to say when --jobs can be honoured');
  const bad = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 's3'), '--overcommit-cpus', '-1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--overcommit-cpus: expected a whole number of at least 0, got "-1"/);
});

test('build profiles: --profiles nocheck drops <!nocheck> relations, reaches the script as $KILN_PROFILES, and is part of the key', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const write = recipeWriter(tree);
  await write('checker', recipeText({ name: 'checker', script: 'mkdir -p "$DESTDIR/usr/bin" && echo checker > "$DESTDIR/usr/bin/checker"' }));
  await write('app', recipeText({
    name: 'app',
    deps: ['checker <!nocheck>'],
    // Without nocheck it must have the checker; with it, it must not have been staged.
    script: 'echo "profiles=[$KILN_PROFILES]"\ncase " $KILN_PROFILES " in *" nocheck "*) test ! -e "$SYSROOT/usr/bin/checker" ;; *) test -e "$SYSROOT/usr/bin/checker" ;; esac',
  }));
  const run = (...extra: string[]) => runKiln(['build', '--tree', tree, '--state', state, '--json', ...extra]);
  const logOf = async (r: Awaited<ReturnType<typeof run>>): Promise<string> => (await import('node:fs/promises')).readFile(pkgOf(await readReport(r), 'app').log!, 'utf8');

  const plain = await run();
  assert.equal(plain.code, 0, explain(plain));
  assert.match(await logOf(plain), /profiles=\[\]/);

  const plan = await runKiln(['plan', '--tree', tree, '--state', state, '--json', '--profiles', 'nocheck']);
  const app = (JSON.parse(plan.stdout) as PlanJson).packages.find((p) => p.name === 'app')!;
  assert.deepEqual(app.waitsFor, [], 'under nocheck, app does not wait for checker');
  assert.equal(app.state, 'to-build', 'another profile is another build');

  const nocheck = await run('--profiles', 'nocheck');
  assert.equal(nocheck.code, 0, explain(nocheck));
  assert.ok(eventsOf(nocheck.events, 'note').some((e) => e.text === 'build profiles: nocheck (recipes see $KILN_PROFILES, Debian sources DEB_BUILD_PROFILES; part of every key)'), explain(nocheck));
  // Every script sees $KILN_PROFILES: checker is another build under nocheck too.
  assert.deepEqual(statesOf(await readReport(nocheck)), { app: 'built', checker: 'built' });
  assert.match(await logOf(nocheck), /profiles=\[nocheck\]/);

  // Both builds are kept: either profile set is up to date now.
  assert.equal(pkgOf(await readReport(await run('--profiles', 'nocheck')), 'app').state, 'up-to-date');
  assert.equal(pkgOf(await readReport(await run()), 'app').state, 'up-to-date');

  // A profile no relation names (a typo?) is said, not refused.
  const typo = await runKiln(['plan', '--tree', tree, '--state', state, '--profiles', 'noche']);
  assert.match(typo.stderr, /--profiles noche: no relation of the tree names it \(only the scripts see it, in \$KILN_PROFILES\); the tree's relations name nocheck/);
  const forceTypo = await runKiln(['plan', '--tree', tree, '--state', state, '--force', 'chekcer']);
  assert.equal(forceTypo.code, 2);
  assert.match(forceTypo.stderr, /--force "chekcer" matches no package of this run \(did you mean "checker"\?\)/);
  const bad = await runKiln(['plan', '--tree', tree, '--state', state, '--profiles', 'No Check']);
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /--profiles: "No Check" is not a build profile name/);
});

test('ignore: an ignored package and what needs only it are broken, said why, and fail neither plan nor build; a real breakage still does', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  const write = recipeWriter(tree);
  await write('gpu', recipeText({ name: 'gpu', script: 'exit 1' }).replace('license = "MIT"', 'license = "MIT"\nignore = "needs a GPU to build"'));
  await write('viewer', recipeText({ name: 'viewer', deps: ['gpu'], script: 'true' }));
  await write('ok', recipeText({ name: 'ok', script: 'true' }).replace('license = "MIT"', 'license = "MIT"\ndepends = ["nosuch-runtime"]'));

  const plan = await runKiln(['plan', '--tree', tree, '--state', state, '--json']);
  assert.equal(plan.code, 0, explain(plan));
  const planned = JSON.parse(plan.stdout) as { packages: { name: string; state: string; reason: string | null; ignored?: boolean }[] };
  assert.deepEqual(planned.packages.map((p) => [p.name, p.state, p.reason, p.ignored ?? false]), [
    ['gpu', 'broken', 'ignored: needs a GPU to build', true],
    ['ok', 'to-build', null, false],
    ['viewer', 'broken', 'needs gpu, which is ignored: needs a GPU to build', true],
  ]);
  const built = await runKiln(['build', '--tree', tree, '--state', state, '--json']);
  assert.equal(built.code, 0, explain(built));
  assert.equal(built.summary?.state, 'done');
  // With --json the planning's notes are events too (ok's own depends name nothing).
  assert.ok(built.events.some((e) => e.type === 'note' && /^ok: depends: needs nosuch-runtime, which is not in the tree/.test((e as { text: string }).text)), JSON.stringify(built.events.filter((e) => e.type === 'note')));
  const report = await readReport(built);
  assert.deepEqual(statesOf(report), { gpu: 'broken', ok: 'built', viewer: 'broken' });
  assert.equal((pkgOf(report, 'viewer') as { ignored?: boolean }).ignored, true);
  assert.equal((pkgOf(report, 'ok') as { ignored?: boolean }).ignored, undefined);
  const plain = await runKiln(['build', '--tree', tree, '--state', state]);
  assert.equal(plain.code, 0, explain(plain));
  assert.match(plain.stdout, /done in .*: .*2 broken; 2 of the broken ignored by their recipes/);

  // A package broken for real still fails the run, next to the ignored ones.
  await write('typo', recipeText({ name: 'typo', deps: ['nosuch'], script: 'true' }));
  const again = await runKiln(['build', '--tree', tree, '--state', state, '--json']);
  assert.equal(again.code, 1, explain(again));
  assert.equal(again.summary?.state, 'failed');
});

test('categories: packages in category folders build like the others; a target category/* selects a category, plan --json says each one\'s', async () => {
  await using dir = await tmpDir();
  const { plan } = await planJson('categories', join(dir.path, 'plan'));
  assert.deepEqual(
    plan.packages.map((p) => [p.name, (p as { category?: string }).category, p.state]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [['base', undefined, 'to-build'], ['hello', 'apps', 'to-build'], ['libfoo', 'libs', 'to-build'], ['other', 'apps', 'to-build']],
  );
  const r = await build('categories', join(dir.path, 'state'), 'apps/h*');
  assert.equal(r.code, 0, explain(r));
  const report = await readReport(r);
  assert.deepEqual(statesOf(report), { base: 'built', hello: 'built', libfoo: 'built' });
  // The report says each one's category too (from the plan: the records do not keep it).
  assert.deepEqual(report.packages.map((p) => [p.name, p.category]), [['base', undefined], ['hello', 'apps'], ['libfoo', 'libs']]);
  // The whole tree next: only what the first run left out is built.
  const all = await build('categories', join(dir.path, 'state'));
  assert.equal(all.code, 0, explain(all));
  assert.deepEqual(statesOf(await readReport(all)), { base: 'up-to-date', hello: 'up-to-date', libfoo: 'up-to-date', other: 'built' });
  // A category that has no such package is a typo, said as for any target.
  const typo = await build('categories', join(dir.path, 'state'), 'libs/hello');
  assert.equal(typo.code, 2, explain(typo));
  assert.match(typo.stderr, /target "libs\/hello" matches no package of the tree/);

  // hello in a second category: one broken package naming both folders, in the report too.
  const tree = join(dir.path, 'dup');
  await cp(fixtureTree('categories'), tree, { recursive: true });
  await cp(join(tree, 'apps/hello'), join(tree, 'libs/hello'), { recursive: true });
  // And an invalid recipe in a category: the report keeps its category though it has no spec.
  await mkdir(join(tree, 'libs/broken'));
  await writeFile(join(tree, 'libs/broken/recipe.toml'), 'name = "broken"\nversion = "1.0"\nbogus = 1\n[build]\nscript = "true"\n');
  const dup = await runKiln(['build', '--tree', tree, '--state', join(dir.path, 'dup-state'), '--json']);
  assert.equal(dup.code, 1, explain(dup));
  const hello = pkgOf(await readReport(dup), 'hello');
  assert.equal(hello.state, 'broken');
  assert.match(hello.cause ?? '', /^name in several folders: /);
  assert.deepEqual(hello.diagnostics, [`${join(tree, 'apps/hello')}: the package name "hello" is in 2 folders: apps/hello, libs/hello: a name must be unique in the tree, across categories; rename or remove all but one`]);
  assert.deepEqual(statesOf(await readReport(dup)), { base: 'built', broken: 'broken', hello: 'broken', libfoo: 'built', other: 'built' });
  assert.equal(pkgOf(await readReport(dup), 'broken').category, 'libs');
});
