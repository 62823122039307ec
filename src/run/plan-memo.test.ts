import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore } from '../cache/artifacts.ts';
import type { ArtifactStore } from '../cache/artifact-types.ts';
import type { Plan, PlanNode } from '../plan/plan.ts';
import type { PackageSpec } from '../plan/spec.ts';
import { emptyTreeConfig } from '../config/load-tree-config.ts';
import { openRecords, type Records } from '../records/records.ts';
import { leaveMemo, memoSlot, readPlanMemo, usePlanMemo, type FinalOutput, type MemoInputs } from './plan-memo.ts';

const counts = { built: 0, 'up-to-date': 0, failed: 0, skipped: 0, broken: 0, cancelled: 0 };
const inputs = { recipeHash: 'r', sourcesHash: 's', envId: 'host:1', depOutputs: {} };
const key = (c: string): string => c.repeat(64);

const base: MemoInputs = {
  treeDir: '/trees/t',
  cacheDir: '/c',
  hostArch: 'amd64',
  archs: ['amd64'],
  targets: [],
  profiles: [],
  options: [],
  onDaemon: false,
  scan: { cacheGeneration: 'g1', invalid: [], config: emptyTreeConfig('/trees/t/kiln.toml') },
};

test('memoSlot: every input of a plan is in the fingerprint; no scan generation, no slot', () => {
  const fp = (i: MemoInputs): string | undefined => memoSlot('/state', i)?.fingerprint;
  const first = fp(base);
  assert.ok(first !== undefined);
  assert.equal(fp({ ...base }), first);
  const others: [string, MemoInputs][] = [
    ['tree', { ...base, treeDir: '/trees/u' }],
    ['cache', { ...base, cacheDir: '/d' }],
    ['host arch', { ...base, hostArch: 'arm64' }],
    ['archs', { ...base, archs: ['amd64', 'arm64'] }],
    ['targets', { ...base, targets: ['zlib'] }],
    ['profiles', { ...base, profiles: ['nocheck'] }],
    ['--option', { ...base, options: [['', 'ssl', false]] }],
    ['daemon', { ...base, onDaemon: true }],
    ['scan generation', { ...base, scan: { ...base.scan, cacheGeneration: 'g2' } }],
    ['invalid recipes', { ...base, scan: { ...base.scan, invalid: [{ name: 'bad', dir: '/trees/t/bad', diagnostics: [{ file: 'x', message: 'y' }] }] } }],
    ['kiln.toml', { ...base, scan: { ...base.scan, config: { ...base.scan.config, archs: ['arm64'] } } }],
  ];
  for (const [what, inputs] of others) assert.notEqual(fp(inputs), first, what);
  assert.equal(memoSlot('/state', { ...base, scan: { ...base.scan, cacheGeneration: undefined } }), undefined);
});

interface World {
  readonly store: ArtifactStore;
  readonly records: Records;
  readonly plan: Plan;
  readonly final: Map<string, FinalOutput>;
  readonly specs: PackageSpec[];
  /** The memo's files, in the records' state directory (as in a real one). */
  readonly slot: NonNullable<ReturnType<typeof memoSlot>>;
}

/** a (stored), b on a (stored), x broken; a and b built by run r1, which ended. */
async function world(t: TestContext): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-plan-memo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createArtifactStore({ cacheDir: join(dir, 'cache') });
  const records = openRecords(join(dir, 'state'));
  t.after(() => records.close());
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const final = new Map<string, FinalOutput>();
  for (const [name, k] of [['a', key('a')], ['b', key('b')]] as const) {
    const meta = await store.put(k, { destDir: empty, meta: { name, version: '1', release: '1', arch: 'amd64', depends: [], provides: [], recipe: `${name}/recipe.toml` }, sourceDateEpoch: 0 });
    final.set(`${name}@amd64`, { key: k, outputHash: meta.outputHash, artifact: store.dir(k) });
  }
  records.createRun({ id: 'r1', tree: '/trees/t', targets: [], archs: ['amd64'], maxJobs: 2, startedAt: 1000 });
  for (const [id, out] of final) records.recordPackageState(id, { state: 'built', key: out.key, inputs, outputHash: out.outputHash, artifact: out.artifact });
  records.finishRun('r1', { state: 'done', endedAt: 2000, counts });
  const node = (name: string, o: Partial<PlanNode>): PlanNode => ({
    id: `${name}@amd64`, name, version: '1', arch: 'amd64', spec: undefined, buildDeps: [], waitsFor: [], broken: undefined, ignored: false, unmetDepends: undefined,
    state: 'to-build', why: { kind: 'new' }, envId: 'host:1', ownKey: key(name === 'x' ? 'c' : name === 'a' ? 'd' : 'e'), key: undefined, outputHash: undefined, artifact: undefined, ...o,
  });
  const nodes = [node('a', {}), node('b', { buildDeps: ['a@amd64'], waitsFor: ['a@amd64'] }), node('x', { state: 'broken', why: undefined, broken: 'needs zzz: no package provides it', ignored: true })];
  const specs = ['a', 'b'].map((name) => ({ name }) as PackageSpec);
  return { store, records, plan: { nodes, byId: new Map(nodes.map((n) => [n.id, n])) }, final, specs, slot: memoSlot(join(dir, 'state'), base)! };
}

/** What usePlanMemo is given in this world, with these env ids. */
function useOptions(w: World, envIds: readonly string[] = ['host:1']): Parameters<typeof usePlanMemo>[1] {
  return { records: w.records, envIds, store: w.store, specs: w.specs, envIdOf: () => envIds[0]! };
}

function leave(w: World, slot: ReturnType<typeof memoSlot> & object, final = w.final): void {
  leaveMemo(slot, { runId: 'r1', plannedFrom: 900, plan: w.plan, envIds: ['host:1'], notes: ['a note'], fromMemo: undefined, store: w.store, records: w.records, final });
}

test('plan memo: left after a run, read back as the plan; refused on another env id, a missing or torn artifact, another run', async (t) => {
  const w = await world(t);
  const { slot } = w;
  const use = (envIds: readonly string[] = ['host:1']) => {
    const candidate = readPlanMemo(slot, w.records);
    return candidate === undefined ? undefined : usePlanMemo(candidate, useOptions(w, envIds));
  };

  // A node without an output (failed, skipped): nothing is left.
  leave(w, slot, new Map([...w.final].slice(0, 1)));
  assert.equal(readPlanMemo(slot, w.records), undefined);

  leave(w, slot);
  const got = use();
  assert.ok(got !== undefined);
  assert.deepEqual(got.notes, ['a note']);
  assert.deepEqual(got.plan.nodes.map((n) => [n.id, n.state, n.key, n.outputHash, n.artifact, n.waitsFor, n.broken, n.ignored, n.ownKey]), [
    ['a@amd64', 'up-to-date', key('a'), w.final.get('a@amd64')!.outputHash, w.store.dir(key('a')), [], undefined, false, key('d')],
    ['b@amd64', 'up-to-date', key('b'), w.final.get('b@amd64')!.outputHash, w.store.dir(key('b')), ['a@amd64'], undefined, false, key('e')],
    ['x@amd64', 'broken', undefined, undefined, undefined, [], 'needs zzz: no package provides it', true, key('c')],
  ]);
  assert.equal(got.plan.byId.get('b@amd64')?.spec?.name, 'b');

  assert.equal(use(['host:2']), undefined, 'another env id');

  // Another run since: the memo says nothing about what it changed.
  w.records.createRun({ id: 'r2', tree: '/trees/t', targets: [], archs: ['amd64'], maxJobs: 2, startedAt: 3000 });
  assert.equal(use(), undefined, 'a run going');
  w.records.finishRun('r2', { state: 'failed', endedAt: 4000, counts });
  assert.equal(use(), undefined, 'a run ended since');
});

test('plan memo: an artifact gone or torn, or an output the records did not know that changed, is planned again', async (t) => {
  const w = await world(t);
  const { slot } = w;
  const use = () => usePlanMemo(readPlanMemo(slot, w.records)!, useOptions(w));

  // b's output is one the records do not know (another state dir stored it): read, not stat'ed.
  w.records.recordPackageState('b@amd64', { state: 'built', key: key('f'), inputs, outputHash: 'other', artifact: w.store.dir(key('f')) });
  leave(w, slot);
  assert.ok(use() !== undefined);
  // Its meta.json now says another output (the entry replaced under the same key, by another state dir's run).
  const meta = join(w.store.dir(key('b')), 'meta.json');
  const text = readFileSync(meta, 'utf8');
  writeFileSync(meta, text.replace(w.final.get('b@amd64')!.outputHash, '0'.repeat(64)));
  assert.equal(use(), undefined, 'a changed output the records did not know');
  writeFileSync(meta, text);
  assert.ok(use() !== undefined);

  // a's is known: a torn (empty) meta.json, or none, is planned again.
  const aMeta = join(w.store.dir(key('a')), 'meta.json');
  const aText = readFileSync(aMeta, 'utf8');
  truncateSync(aMeta, 0);
  assert.equal(use(), undefined, 'torn');
  writeFileSync(aMeta, aText);
  assert.ok(use() !== undefined);
  rmSync(w.store.dir(key('a')), { recursive: true });
  assert.equal(use(), undefined, 'gone');
});

test('plan memo: a known output whose entry was stored again since its record (the same output) is planned again, so its record is refreshed', async (t) => {
  const w = await world(t);
  const { slot } = w;
  const use = () => usePlanMemo(readPlanMemo(slot, w.records)!, useOptions(w));
  leave(w, slot);
  assert.ok(use() !== undefined);
  // Another state dir stores a's entry again, the same output: a new meta.json (a new file, born now).
  // (Past a tick of the kernel's coarse file clock, up to 10 ms behind the real one.)
  await new Promise((r) => setTimeout(r, 25));
  const meta = join(w.store.dir(key('a')), 'meta.json');
  const text = readFileSync(meta, 'utf8');
  writeFileSync(`${meta}.new`, text);
  renameSync(`${meta}.new`, meta);
  if (statSync(meta).birthtimeMs === 0) return t.skip('this file system gives no birth times');
  assert.equal(use(), undefined, 'stored again since its record');
});

test('plan memo: a run that ended after the memo was read, while the envs were leased, is seen too', async (t) => {
  const w = await world(t);
  const { slot } = w;
  leave(w, slot);
  const use = useOptions(w);
  const candidate = readPlanMemo(slot, w.records);
  assert.ok(candidate !== undefined && usePlanMemo(candidate, use) !== undefined);
  w.records.createRun({ id: 'r0', tree: '/trees/t', targets: [], archs: ['amd64'], maxJobs: 2, startedAt: 2500 });
  w.records.finishRun('r0', { state: 'done', endedAt: 2600, counts });
  assert.equal(usePlanMemo(candidate, use), undefined);
});
