import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGraph, type Graph, type GraphNode } from './graph.ts';
import { makePlan, planCounts, type Plan, type PlanFacts } from './plan.ts';
import { fullKeyOf, fullKeyOfSorted, KEY_VERSION, ownKeyOf } from './keys.ts';
import { sha256Parts } from '../lib/hash.ts';
import type { PreviousInputs } from './decide.ts';
import type { Reason } from './reason.ts';
import { recipeHashOf, type PackageSpec } from './spec.ts';
import { spec, syntheticTree } from '../../test/helpers/specs.ts';

/** What a previous run left behind: artifacts by full key, last successes, last attempts. */
interface World {
  readonly artifacts: Map<string, { outputHash: string; path: string }>;
  readonly lastSuccess: Map<string, PreviousInputs>;
  readonly lastAttempt: Map<string, { state: string; key: string }>;
  envId: string;
  forced: readonly string[];
}

function newWorld(): World {
  return { artifacts: new Map(), lastSuccess: new Map(), lastAttempt: new Map(), envId: 'env-1', forced: [] };
}

function factsOf(w: World): PlanFacts {
  return {
    envIdOf: () => w.envId,
    artifact: (key) => w.artifacts.get(key),
    lastSuccess: (id) => w.lastSuccess.get(id),
    lastAttempt: (id) => w.lastAttempt.get(id),
    forced: (n: GraphNode) => w.forced.includes(n.name),
  };
}

function tree(o: { libpngRecipe?: string; zlibSources?: string } = {}): Graph {
  const specs: PackageSpec[] = [
    spec('zlib', { sourcesHash: o.zlibSources ?? 'zlib-src-1' }),
    spec('libpng', { bdeps: ['zlib (>= 1.0)'], deps: ['zlib'], recipeHash: o.libpngRecipe ?? 'libpng-recipe-1' }),
    spec('pngcrush', { bdeps: ['libpng'] }),
    spec('broken', { bdeps: ['nosuch'] }),
  ];
  return buildGraph({ specs, invalid: [], archs: ['amd64'], hostArch: 'amd64', targets: [] });
}

/**
 * Play the executor: build every to-build node in order, computing its full key from its
 * staged packages' outputs as execute does, and record the result in the world.
 * `outputs` overrides a package's output hash (default: out-NAME); `fail` makes one fail;
 * `only` builds just these (a run stopped early).
 */
function build(plan: Plan, w: World, o: { outputs?: Record<string, string>; fail?: string; only?: readonly string[] } = {}): void {
  const outputOf = new Map<string, string>();
  for (const n of plan.nodes) {
    if (n.state === 'broken') continue;
    if (n.state === 'up-to-date') {
      outputOf.set(n.id, n.outputHash!);
      continue;
    }
    if (o.only !== undefined && !o.only.includes(n.name)) continue;
    const deps = new Map(n.waitsFor.map((d) => [d, outputOf.get(d)!]));
    const key = fullKeyOf(n.ownKey, deps);
    if (n.key !== undefined) assert.equal(n.key, key, `plan-time key of ${n.id} is the key execute computes`);
    if (o.fail === n.name) {
      w.lastAttempt.set(n.id, { state: 'failed', key });
      continue;
    }
    const existing = w.artifacts.get(key);
    const outputHash = existing?.outputHash ?? o.outputs?.[n.name] ?? `out-${n.name}`;
    w.artifacts.set(key, { outputHash, path: `/cache/${key}` });
    w.lastAttempt.set(n.id, { state: 'built', key });
    w.lastSuccess.set(n.id, {
      key,
      recipeHash: recipeHashOf(n.spec!, n.arch),
      sourcesHash: n.spec!.sourcesHash,
      envId: n.envId,
      arch: n.arch,
      depOutputs: Object.fromEntries(deps),
    });
    outputOf.set(n.id, outputHash);
  }
}

function summary(plan: Plan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of plan.nodes) {
    out[n.name] = n.state === 'to-build' ? `to-build ${reasonText(n.why!)}${n.key === undefined ? ' (key later)' : ''}` : n.state;
  }
  return out;
}

function reasonText(r: Reason): string {
  return r.kind === 'dependency-changed' ? `${r.kind} ${r.dependency}` : r.kind;
}

test('first run: everything new; keys only where every dependency output is known', () => {
  const w = newWorld();
  const plan = makePlan(tree(), factsOf(w));
  assert.deepEqual(summary(plan), {
    zlib: 'to-build new',
    libpng: 'to-build new (key later)',
    pngcrush: 'to-build new (key later)',
    broken: 'broken',
  });
  const zlib = plan.byId.get('zlib@amd64')!;
  assert.equal(zlib.ownKey, ownKeyOf({ recipeHash: 'recipe-of-zlib', sourcesHash: 'zlib-src-1', envId: 'env-1', arch: 'amd64' }));
  assert.equal(zlib.key, fullKeyOf(zlib.ownKey, {}));
  assert.equal(zlib.envId, 'env-1');
  const broken = plan.byId.get('broken@amd64')!;
  assert.equal(broken.broken, 'needs nosuch, which is not in the tree');
  assert.equal(broken.key, undefined);
  assert.equal(broken.why, undefined);
  assert.deepEqual(planCounts(plan), { 'to-build': 3, 'up-to-date': 0, broken: 1 });
});

test('second run with nothing changed: all up to date, with keys and artifacts', () => {
  const w = newWorld();
  build(makePlan(tree(), factsOf(w)), w);
  const plan = makePlan(tree(), factsOf(w));
  assert.deepEqual(summary(plan), { zlib: 'up-to-date', libpng: 'up-to-date', pngcrush: 'up-to-date', broken: 'broken' });
  for (const n of plan.nodes.filter((x) => x.state === 'up-to-date')) {
    assert.equal(n.outputHash, `out-${n.name}`);
    assert.equal(n.artifact, `/cache/${n.key}`);
  }
  assert.deepEqual(planCounts(plan), { 'to-build': 0, 'up-to-date': 3, broken: 1 });
});

test('early cutoff: a dependency rebuilt to the same output leaves its dependents up to date', () => {
  const w = newWorld();
  build(makePlan(tree(), factsOf(w)), w);
  const keyBefore = makePlan(tree(), factsOf(w)).byId.get('pngcrush@amd64')!.key;
  // Edit a comment in libpng's recipe.
  const plan = makePlan(tree({ libpngRecipe: 'libpng-recipe-2' }), factsOf(w));
  assert.deepEqual(summary(plan), {
    zlib: 'up-to-date',
    // Its dependency is up to date, so its key is computed now.
    libpng: 'to-build recipe-changed',
    // Its dependency is pending: no key yet.
    pngcrush: 'to-build dependency-changed libpng@amd64 (key later)',
    broken: 'broken',
  });
  build(plan, w); // libpng comes out byte-identical: out-libpng again
  const after = makePlan(tree({ libpngRecipe: 'libpng-recipe-2' }), factsOf(w));
  assert.equal(after.byId.get('pngcrush@amd64')!.key, keyBefore, 'full key is over dependency outputs, not inputs');
  assert.deepEqual(summary(after), { zlib: 'up-to-date', libpng: 'up-to-date', pngcrush: 'up-to-date', broken: 'broken' });
});

test('a dependency with a different output rebuilds its dependents, with the key known once it is built', () => {
  const w = newWorld();
  build(makePlan(tree(), factsOf(w)), w);
  // libpng is rebuilt with a new output, and the run stops before pngcrush.
  build(makePlan(tree({ libpngRecipe: 'libpng-recipe-2' }), factsOf(w)), w, { outputs: { libpng: 'out-libpng-2' }, only: ['libpng'] });
  const plan = makePlan(tree({ libpngRecipe: 'libpng-recipe-2' }), factsOf(w));
  assert.deepEqual(summary(plan), {
    zlib: 'up-to-date',
    libpng: 'up-to-date',
    pngcrush: 'to-build dependency-changed libpng@amd64',
    broken: 'broken',
  });
  const crush = plan.byId.get('pngcrush@amd64')!;
  assert.equal(crush.key, fullKeyOf(crush.ownKey, { 'libpng@amd64': 'out-libpng-2', 'zlib@amd64': 'out-zlib' }));
});

test('new zlib sources: zlib source-changed, both dependents dependency-changed naming it', () => {
  const w = newWorld();
  build(makePlan(tree(), factsOf(w)), w);
  const plan = makePlan(tree({ zlibSources: 'zlib-src-2' }), factsOf(w));
  assert.deepEqual(summary(plan), {
    zlib: 'to-build source-changed',
    libpng: 'to-build dependency-changed zlib@amd64 (key later)',
    // pngcrush stages libpng and zlib; the first changed one in id order is named.
    pngcrush: 'to-build dependency-changed libpng@amd64 (key later)',
    broken: 'broken',
  });
});

test('environment change; forced; previous failure', () => {
  const w = newWorld();
  build(makePlan(tree(), factsOf(w)), w);

  w.envId = 'env-2';
  assert.deepEqual(summary(makePlan(tree(), factsOf(w))), {
    zlib: 'to-build environment-changed',
    libpng: 'to-build environment-changed (key later)',
    pngcrush: 'to-build environment-changed (key later)',
    broken: 'broken',
  });
  w.envId = 'env-1';

  w.forced = ['libpng', 'broken'];
  const forced = makePlan(tree(), factsOf(w));
  assert.deepEqual(summary(forced), {
    zlib: 'up-to-date',
    libpng: 'to-build forced',
    pngcrush: 'to-build dependency-changed libpng@amd64 (key later)',
    broken: 'broken',
  });
  w.forced = [];

  // libpng's script fails with a new recipe; the next plan with the same inputs says so.
  build(makePlan(tree({ libpngRecipe: 'libpng-recipe-3' }), factsOf(w)), w, { fail: 'libpng' });
  assert.deepEqual(summary(makePlan(tree({ libpngRecipe: 'libpng-recipe-3' }), factsOf(w))), {
    zlib: 'up-to-date',
    libpng: 'to-build previous-failure',
    pngcrush: 'to-build dependency-changed libpng@amd64 (key later)',
    broken: 'broken',
  });
  // With other inputs it is not a previous failure any more.
  assert.equal(summary(makePlan(tree({ libpngRecipe: 'libpng-recipe-4' }), factsOf(w)))['libpng'], 'to-build recipe-changed');
  // And the old inputs are still up to date: their artifact is there.
  assert.equal(summary(makePlan(tree(), factsOf(w)))['libpng'], 'up-to-date');
});

test('keys: own key covers recipe, sources, env and arch; full key is order-free over outputs', () => {
  const parts = { recipeHash: 'r', sourcesHash: 's', envId: 'e', arch: 'amd64' };
  const own = ownKeyOf(parts);
  assert.match(own, /^[0-9a-f]{64}$/);
  for (const k of ['recipeHash', 'sourcesHash', 'envId', 'arch'] as const) {
    assert.notEqual(ownKeyOf({ ...parts, [k]: 'other' }), own, k);
  }
  // Length-prefixed parts: moving a boundary changes the key.
  assert.notEqual(ownKeyOf({ ...parts, recipeHash: 'rs', sourcesHash: '' }), own);
  const a = fullKeyOf(own, new Map([['b@amd64', '2'], ['a@amd64', '1']]));
  assert.equal(a, fullKeyOf(own, { 'a@amd64': '1', 'b@amd64': '2' }));
  assert.notEqual(a, fullKeyOf(own, { 'a@amd64': '1', 'b@amd64': '3' }));
  assert.notEqual(a, fullKeyOf(own, { 'a@amd64': '1' }));
  assert.notEqual(fullKeyOf(own, {}), own);
  // The key encodings written out by hand are sha256Parts' (multi-byte text: lengths are in bytes).
  assert.equal(ownKeyOf({ ...parts, envId: 'é-env' }), sha256Parts([KEY_VERSION, parts.recipeHash, parts.sourcesHash, 'é-env', parts.arch]));
  assert.equal(fullKeyOf(own, { 'a@amd64': '1' }), sha256Parts([own, 'a@amd64=1']));
  assert.equal(fullKeyOfSorted(own, ['a@amd64', 'b@amd64'], ['1', '2']), a);
  assert.equal(fullKeyOfSorted(own, [], []), fullKeyOf(own, {}));
  assert.equal(fullKeyOfSorted(own, ['cœur@amd64', 'zé@amd64'], ['é1', '2']), fullKeyOf(own, { 'zé@amd64': '2', 'cœur@amd64': 'é1' }));
  assert.notEqual(fullKeyOfSorted(own, ['a@amd64', 'b@amd64'], ['1', '3']), a);
});

test('makePlan: keys of unsorted waitsFor are the keys execute computes', () => {
  const node = (id: string, waitsFor: string[]): GraphNode => ({
    id, name: id.split('@')[0]!, version: '1', arch: 'amd64', spec: spec(id.split('@')[0]!), buildDeps: waitsFor, waitsFor, broken: undefined, ignored: false, unmetDepends: undefined,
  });
  const nodes = [node('a@amd64', []), node('b@amd64', []), node('c@amd64', ['b@amd64', 'a@amd64'])];
  const w = newWorld();
  const own = (id: string): string => makePlan({ nodes, byId: new Map(nodes.map((n) => [n.id, n])) }, factsOf(w)).byId.get(id)!.ownKey;
  w.artifacts.set(fullKeyOf(own('a@amd64'), {}), { outputHash: 'oa', path: '/a' });
  w.artifacts.set(fullKeyOf(own('b@amd64'), {}), { outputHash: 'ob', path: '/b' });
  const plan = makePlan({ nodes, byId: new Map(nodes.map((n) => [n.id, n])) }, factsOf(w));
  assert.equal(plan.byId.get('c@amd64')!.key, fullKeyOf(own('c@amd64'), { 'a@amd64': 'oa', 'b@amd64': 'ob' }));
});

test('scale: buildGraph + makePlan on 10,000 packages', (t) => {
  const specs = syntheticTree(10_000);
  const facts: PlanFacts = {
    envIdOf: () => 'env',
    artifact: () => undefined,
    lastSuccess: () => undefined,
    lastAttempt: () => undefined,
    forced: () => false,
  };
  const t0 = performance.now();
  const graph = buildGraph({ specs, invalid: [], archs: ['amd64'], hostArch: 'amd64', targets: [] });
  const t1 = performance.now();
  const plan = makePlan(graph, facts);
  const t2 = performance.now();
  const edges = graph.nodes.reduce((s, n) => s + n.waitsFor.length, 0);
  t.diagnostic(`buildGraph ${(t1 - t0).toFixed(0)} ms, makePlan ${(t2 - t1).toFixed(0)} ms, ${edges} staged edges`);
  assert.deepEqual(planCounts(plan), { 'to-build': 10_000, 'up-to-date': 0, broken: 0 });
  // Its time is the bench's to judge (`npm run bench`: the plan of the 10k tree), not a test's:
  // a loaded machine took 3.8 s here once.
});

test('recipeHashByArch: each arch node is keyed by its own inputs, so another arch changing leaves it alone', () => {
  const graphOf = (riscv: string): Graph =>
    buildGraph({ specs: [{ ...spec('src'), recipeHashByArch: { amd64: 'h-amd64', riscv64: riscv } }], invalid: [], archs: ['amd64', 'riscv64'], hostArch: 'amd64', targets: [] });
  const w = newWorld();
  const a = makePlan(graphOf('h-riscv-1'), factsOf(w));
  const b = makePlan(graphOf('h-riscv-2'), factsOf(w));
  assert.equal(a.byId.get('src@amd64')!.key, b.byId.get('src@amd64')!.key);
  assert.notEqual(a.byId.get('src@riscv64')!.key, b.byId.get('src@riscv64')!.key);
});

test('recipeHashByArch: the inputs recorded are the per-arch ones, so a later plan gives the true reason (artifact gone), not recipe-changed', () => {
  const g = buildGraph({ specs: [{ ...spec('src'), recipeHashByArch: { amd64: 'h-amd64' } }], invalid: [], archs: ['amd64'], hostArch: 'amd64', targets: [] });
  const w = newWorld();
  build(makePlan(g, factsOf(w)), w);
  assert.equal(w.lastSuccess.get('src@amd64')!.recipeHash, 'h-amd64');
  w.artifacts.clear();
  assert.deepEqual(makePlan(g, factsOf(w)).byId.get('src@amd64')!.why, { kind: 'new', artifactGone: true });
});
