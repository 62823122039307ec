import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedDependency, decide, whyWhenStarted, type DecideInput, type Decision, type PreviousInputs } from './decide.ts';
import type { Reason } from './reason.ts';
import { describeReason } from './reason.ts';

const last: PreviousInputs = {
  key: 'k0',
  recipeHash: 'r1',
  sourcesHash: 's1',
  envId: 'e1',
  arch: 'amd64',
  depOutputs: { 'zlib@amd64': 'oz', 'libpng@amd64': 'op' },
};

const base: DecideInput = {
  broken: undefined,
  recipeHash: 'r1',
  sourcesHash: 's1',
  envId: 'e1',
  arch: 'amd64',
  depOutputs: new Map([
    ['zlib@amd64', 'oz'],
    ['libpng@amd64', 'op'],
  ]),
  key: 'k1',
  artifact: undefined,
  lastSuccess: last,
  failedBefore: false,
  forced: false,
};

const artifact = { outputHash: 'out', path: '/cache/artifacts/k1.tar' };

const rows: { name: string; input: Partial<DecideInput>; want: Decision }[] = [
  { name: 'broken', input: { broken: 'needs zlib, which is not in the tree' }, want: { state: 'broken', reason: 'needs zlib, which is not in the tree' } },
  { name: 'broken beats forced', input: { broken: 'x', forced: true, artifact }, want: { state: 'broken', reason: 'x' } },
  { name: 'forced beats an existing artifact', input: { forced: true, artifact }, want: { state: 'to-build', key: 'k1', why: { kind: 'forced' } } },
  { name: 'forced by --twice says so', input: { forced: true, forcedBy: 'twice', artifact }, want: { state: 'to-build', key: 'k1', why: { kind: 'forced', by: 'twice' } } },
  { name: 'forcedBy alone forces nothing', input: { forcedBy: 'twice', artifact }, want: { state: 'up-to-date', key: 'k1', outputHash: artifact.outputHash, artifact: artifact.path } },
  { name: 'artifact under the key: up to date', input: { artifact }, want: { state: 'up-to-date', key: 'k1', outputHash: 'out', artifact: artifact.path } },
  { name: 'stored with warnings: up to date without --fail-on-warnings', input: { artifact: { ...artifact, warnings: ['hierarchy: x'] } }, want: { state: 'up-to-date', key: 'k1', outputHash: 'out', artifact: artifact.path } },
  {
    name: 'stored with warnings, --fail-on-warnings: built again, saying which',
    input: { artifact: { ...artifact, warnings: ['hierarchy: x'] }, failOnWarnings: true },
    want: { state: 'to-build', key: 'k1', why: { kind: 'forced', by: 'fail-on-warnings', warnings: ['hierarchy: x'] } },
  },
  { name: 'stored without warnings, --fail-on-warnings: up to date', input: { artifact: { ...artifact, warnings: [] }, failOnWarnings: true }, want: { state: 'up-to-date', key: 'k1', outputHash: 'out', artifact: artifact.path } },
  {
    name: 'artifact beats a previous failure (a later success stored it)',
    input: { artifact, failedBefore: true },
    want: { state: 'up-to-date', key: 'k1', outputHash: 'out', artifact: artifact.path },
  },
  { name: 'previous failure with this key', input: { failedBefore: true, sourcesHash: 's2' }, want: { state: 'to-build', key: 'k1', why: { kind: 'previous-failure' } } },
  { name: 'never built', input: { lastSuccess: undefined }, want: { state: 'to-build', key: 'k1', why: { kind: 'new' } } },
  { name: 'never built, and its last attempt (other inputs) failed', input: { lastSuccess: undefined, lastAttemptFailed: true }, want: { state: 'to-build', key: 'k1', why: { kind: 'new', failedBefore: true } } },
  { name: 'failed with these very inputs: previous-failure wins', input: { lastSuccess: undefined, lastAttemptFailed: true, failedBefore: true }, want: { state: 'to-build', key: 'k1', why: { kind: 'previous-failure' } } },
  {
    name: 'sources changed (with the recipe: a version bump)',
    input: { sourcesHash: 's2', recipeHash: 'r2' },
    want: { state: 'to-build', key: 'k1', why: { kind: 'source-changed' } },
  },
  { name: 'recipe changed', input: { recipeHash: 'r2', envId: 'e2' }, want: { state: 'to-build', key: 'k1', why: { kind: 'recipe-changed' } } },
  { name: 'a Debian source package\'s recipe changed (its .dsc or build options): said so', input: { recipeHash: 'r2', debian: true }, want: { state: 'to-build', key: 'k1', why: { kind: 'recipe-changed', debian: true } } },
  { name: 'environment changed', input: { envId: 'e2' }, want: { state: 'to-build', key: 'k1', why: { kind: 'environment-changed', was: 'e1', now: 'e2' } } },
  { name: 'arch changed', input: { arch: 'arm64' }, want: { state: 'to-build', key: 'k1', why: { kind: 'environment-changed' } } },
  {
    name: 'a dependency output changed',
    input: { depOutputs: new Map([['zlib@amd64', 'oz'], ['libpng@amd64', 'op2']]) },
    want: { state: 'to-build', key: 'k1', why: { kind: 'dependency-changed', dependency: 'libpng@amd64' } },
  },
  {
    name: 'two dependencies changed: the first by id',
    input: { depOutputs: new Map([['zlib@amd64', 'oz2'], ['libpng@amd64', 'op2']]) },
    want: { state: 'to-build', key: 'k1', why: { kind: 'dependency-changed', dependency: 'libpng@amd64' } },
  },
  {
    name: 'a dependency is to be built (early cutoff: no key yet)',
    input: { key: undefined, depOutputs: new Map([['zlib@amd64', undefined], ['libpng@amd64', 'op']]) },
    want: { state: 'to-build', key: undefined, why: { kind: 'dependency-changed', dependency: 'zlib@amd64' } },
  },
  {
    name: 'a staged package was added',
    input: { depOutputs: new Map([['zlib@amd64', 'oz'], ['libpng@amd64', 'op'], ['libjpeg@amd64', 'oj']]) },
    want: { state: 'to-build', key: 'k1', why: { kind: 'dependency-changed', dependency: 'libjpeg@amd64', staged: 'added' } },
  },
  {
    name: 'a staged package was removed',
    input: { depOutputs: new Map([['libpng@amd64', 'op']]) },
    want: { state: 'to-build', key: 'k1', why: { kind: 'dependency-changed', dependency: 'zlib@amd64', staged: 'removed' } },
  },
  { name: 'same inputs, artifact gone from the cache', input: {}, want: { state: 'to-build', key: 'k1', why: { kind: 'new', artifactGone: true } } },
];

for (const row of rows) {
  test(`decide: ${row.name}`, () => {
    assert.deepEqual(decide({ ...base, ...row.input }), row.want);
  });
}

test('every reason kind has its printed form', () => {
  assert.deepEqual(
    [
      describeReason({ kind: 'new' }),
      describeReason({ kind: 'recipe-changed' }),
      describeReason({ kind: 'source-changed' }),
      describeReason({ kind: 'dependency-changed', dependency: 'zlib@amd64' }),
      describeReason({ kind: 'environment-changed' }),
      describeReason({ kind: 'environment-changed', was: 'debian-12@3', now: 'debian-12@4' }),
      describeReason({ kind: 'previous-failure' }),
      describeReason({ kind: 'forced' }),
      describeReason({ kind: 'forced', by: 'twice' }),
      describeReason({ kind: 'recipe-changed', debian: true }),
      describeReason({ kind: 'forced', by: 'fail-on-warnings', warnings: ['hierarchy: 1 file outside the hierarchy'] }),
    ],
    [
      'new: never built before',
      'recipe-changed: the recipe, a file it references, or its options changed',
      'source-changed: a source checksum changed',
      'dependency-changed: zlib@amd64 changed',
      'environment-changed: the build environment or arch changed',
      'environment-changed: the build environment changed (debian-12@3 → debian-12@4)',
      'previous-failure: the last build with these inputs failed',
      'forced: asked to rebuild',
      'forced: --twice builds every package again to compare the two builds',
      'recipe-changed: the source package or its build options (--profiles, --nocheck, --cpus, --binnmu, the build mode) changed',
      'forced: --fail-on-warnings, and its stored build had warnings (hierarchy: 1 file outside the hierarchy)',
    ],
  );
});

test('changedDependency: the first staged id (sorted) whose output is not the last good build\'s', () => {
  const before = { 'a@amd64': 'h1', 'b@amd64': 'h2' };
  const rows: { now: [string, string | undefined][]; want: ReturnType<typeof changedDependency> }[] = [
    { now: [['a@amd64', 'h1'], ['b@amd64', 'h2']], want: undefined },
    { now: [['b@amd64', 'hX'], ['a@amd64', 'h1']], want: { id: 'b@amd64' } },
    { now: [['b@amd64', undefined], ['a@amd64', undefined]], want: { id: 'a@amd64' } },
    { now: [['a@amd64', 'h1']], want: { id: 'b@amd64', staged: 'removed' } },
    { now: [['a@amd64', 'h1'], ['b@amd64', 'h2'], ['c@amd64', 'h3']], want: { id: 'c@amd64', staged: 'added' } },
    { now: [['a@amd64', 'h1'], ['b@amd64', 'h2'], ['c@amd64', undefined]], want: { id: 'c@amd64', staged: 'added' } },
  ];
  for (const r of rows) assert.deepEqual(changedDependency(new Map(r.now), before), r.want, JSON.stringify(r.now));
});

test('whyWhenStarted: a dependency-changed plan names the dependency whose output really changed once all are built', () => {
  const planned: Reason = { kind: 'dependency-changed', dependency: 'app@amd64' };
  const before = { 'app@amd64': 'h1', 'lib@amd64': 'h2' };
  // app was rebuilt to the same output, lib to another: it is lib.
  assert.deepEqual(whyWhenStarted(planned, before, { 'app@amd64': 'h1', 'lib@amd64': 'hX' }), { kind: 'dependency-changed', dependency: 'lib@amd64' });
  // app did change: the plan's reason, as it was (the same object).
  assert.equal(whyWhenStarted(planned, before, { 'app@amd64': 'hY', 'lib@amd64': 'hX' }), planned);
  // Nothing to compare with, or another kind: unchanged.
  assert.equal(whyWhenStarted(planned, undefined, { 'app@amd64': 'h1' }), planned);
  const forced: Reason = { kind: 'forced' };
  assert.equal(whyWhenStarted(forced, before, { 'app@amd64': 'h1', 'lib@amd64': 'hX' }), forced);
  // Every output as before: the key is the last good build's, and its artifact is gone.
  assert.deepEqual(whyWhenStarted(planned, before, { 'app@amd64': 'h1', 'lib@amd64': 'h2' }), { kind: 'new', artifactGone: true });
});
