// kiln plan --forecast end to end: a diamond of sleep-based recipes is built once so that
// its durations are learned in the state dir, then planned again as forced rebuilds: the
// forecast with 1 job is the sum of the learned durations, with 2 the longer side of the
// diamond only; the critical path, the estimate for a package never built, the JSON shape.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openRecords } from '../../src/records/records.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recipeText } from '../helpers/recipe-text.ts';
import { explain, runKiln } from '../helpers/run-kiln.ts';

interface ForecastJson {
  toBuild: number;
  estimated: number;
  estimateMs: number;
  estimateFrom: 'median' | 'default';
  runs: { jobs: number; makespanMs: number; atOnce: number; limitedBy?: string }[];
  criticalPath: { ms: number; packages: { id: string; durationMs: number; estimated: boolean }[] };
  lowerBoundMs: number;
  lowerBoundBy: string;
}

const SLEEPS: Record<string, number> = { a: 0.2, b: 0.8, c: 0.5, d: 0.2 };
const DEPS: Record<string, string[]> = { a: [], b: ['a'], c: ['a'], d: ['b', 'c'] };

async function writeRecipe(tree: string, name: string, sleep: number, deps: string[]): Promise<void> {
  await mkdir(join(tree, name), { recursive: true });
  const script = `sleep ${sleep}\nmkdir -p "$DESTDIR/usr/share/${name}"\necho ${name} > "$DESTDIR/usr/share/${name}/${name}.txt"`;
  await writeFile(join(tree, name, 'recipe.toml'), recipeText({ name, script, deps }));
}

test('kiln plan --forecast: learned durations replayed with 1 and 2 jobs, the critical path, estimates, --json', async () => {
  await using dir = await tmpDir();
  const tree = join(dir.path, 'tree');
  const state = join(dir.path, 'state');
  for (const [name, s] of Object.entries(SLEEPS)) await writeRecipe(tree, name, s, DEPS[name]!);
  // --overcommit-cpus 1: two 1-cpu jobs run at once even on a one-core machine.
  const plan = (...extra: string[]) => runKiln(['plan', '--tree', tree, '--state', state, '--overcommit-cpus', '1', ...extra]);

  // Never built: every duration is the default estimate, and the text says so.
  const before = await plan('--forecast', '1,2');
  assert.equal(before.code, 0, explain(before));
  assert.match(before.stdout, /--jobs 1 {2}4m00s/);
  assert.match(before.stdout, /only as good as that estimate/);

  const built = await runKiln(['build', '--tree', tree, '--state', state, '--jobs', '2', '--json']);
  assert.equal(built.code, 0, explain(built));

  // Up to date: nothing to forecast.
  const idle = await plan('--forecast');
  assert.equal(idle.code, 0, explain(idle));
  assert.match(idle.stdout, /kiln plan --forecast: nothing to build/);

  const learned = (() => {
    using records = openRecords(state);
    return records.learnedDurations();
  })();
  const byName = new Map([...learned].map(([id, v]) => [id.replace(/@.*$/, ''), v]));
  for (const [name, s] of Object.entries(SLEEPS)) assert.ok(byName.get(name)! >= s * 1000, `${name}: learned ${byName.get(name)} ms, slept ${s} s`);
  const sum = [...byName.values()].reduce((t, v) => t + v, 0);

  const r = await plan('--force', '*', '--forecast', '1,2', '--json');
  assert.equal(r.code, 0, explain(r));
  const f = (JSON.parse(r.stdout) as { forecast: ForecastJson }).forecast;
  assert.equal(f.toBuild, 4);
  assert.equal(f.estimated, 0);
  assert.equal(f.estimateFrom, 'median');
  assert.deepEqual(f.runs.map((x) => x.jobs), [1, 2]);
  const [one, two] = f.runs;
  // One job: one after the other (1 ms of slack for rounding).
  assert.ok(Math.abs(one!.makespanMs - sum) <= 1, `--jobs 1: ${one!.makespanMs} ms, learned durations sum to ${sum} ms`);
  // Two: b and c side by side, so a + the longer of b and c + d.
  const side = byName.get('a')! + Math.max(byName.get('b')!, byName.get('c')!) + byName.get('d')!;
  assert.ok(two!.makespanMs < one!.makespanMs, `--jobs 2 (${two!.makespanMs} ms) is not less than --jobs 1 (${one!.makespanMs} ms)`);
  assert.ok(Math.abs(two!.makespanMs - side) <= 1, `--jobs 2: ${two!.makespanMs} ms, expected ${side}`);
  assert.deepEqual(f.criticalPath.packages.map((p) => p.id.replace(/@.*$/, '')), byName.get('b')! >= byName.get('c')! ? ['a', 'b', 'd'] : ['a', 'c', 'd']);
  assert.equal(f.criticalPath.ms, side);
  assert.equal(f.lowerBoundMs, side);
  assert.equal(f.lowerBoundBy, 'critical path');

  // The text: a line per --jobs value, the path, the bound.
  const text = await plan('--force', '*', '--forecast', '1,2');
  assert.equal(text.code, 0, explain(text));
  assert.match(text.stdout, /kiln plan --forecast: 4 to build, with the durations learned in /);
  assert.match(text.stdout, /--jobs 1 {2}\S+\n {2}--jobs 2 {2}\S+/);
  assert.match(text.stdout, /critical path \S+: a \S+ → [bc] \S+ → d \S+/);
  assert.match(text.stdout, /no number of builders does it in less than \S+ \(the critical path\)/);

  // A package never built here is estimated at the median of the learned ones.
  await writeRecipe(tree, 'e', 0.1, ['d']);
  // estimateOf's median: the upper one of an even count.
  const median = [...byName.values()].sort((x, y) => x - y)[2]!;
  const withNew = await plan('--forecast', '1', '--json');
  assert.equal(withNew.code, 0, explain(withNew));
  const g = (JSON.parse(withNew.stdout) as { forecast: ForecastJson }).forecast;
  assert.equal(g.toBuild, 1);
  assert.equal(g.estimated, 1);
  assert.equal(g.estimateMs, median);
  assert.equal(g.runs[0]!.makespanMs, median);
  const newText = await plan('--forecast', '1');
  assert.match(newText.stdout, /1 of 1 never built here: estimated at \S+ each \(the median of the learned ones\)/);

  // Another arch never built: each package's duration on amd64, times the arch's factor. On
  // the host backend a foreign arch is cross-compiled, not emulated: 1, until learned.
  const other = await plan('--arch', 'amd64,riscv64', '--forecast', '1', '--json');
  assert.equal(other.code, 0, explain(other));
  const o = (JSON.parse(other.stdout) as { forecast: ForecastJson & { fromOtherArch: number; archFactors: unknown[] } }).forecast;
  assert.equal(o.fromOtherArch, 4);
  assert.deepEqual(o.archFactors, [{ from: 'amd64', to: 'riscv64', factor: 1, pairs: 0 }]);
  const told = o.criticalPath.packages.filter((x) => x.id.endsWith('@riscv64') && byName.has(x.id.replace(/@.*$/, '')));
  assert.ok(told.length >= 3, JSON.stringify(o.criticalPath));
  for (const p of told) {
    assert.equal(p.durationMs, byName.get(p.id.replace(/@.*$/, '')), p.id);
    assert.equal((p as { from?: string }).from, 'amd64');
  }
  const otherText = await plan('--arch', 'amd64,riscv64', '--forecast', '1');
  assert.match(otherText.stdout, /4 of 6 never built on their arch: estimated from their build on another: riscv64 = amd64 × 1 \(no package was built on both yet: neither is emulated here\)/);

  // A value that is not a list of --jobs values is refused, naming the flag.
  const bad = await plan('--forecast', 'zlib');
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /--forecast: expected --jobs values such as 4,8,16, got "zlib"/);
});
