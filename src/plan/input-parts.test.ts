import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeChanges, diffParts, inputPartsOf, withChanges, type PartChange } from './input-parts.ts';
import { describeReason } from './reason.ts';
import type { PackageSpec } from './spec.ts';

const diffs: [string, Record<string, string>, Record<string, string>, PartChange[]][] = [
  ['same parts: nothing', { 'file:recipe.toml': 'a' }, { 'file:recipe.toml': 'a' }, []],
  ['a file changed: no values shown', { 'file:build.sh': 'a' }, { 'file:build.sh': 'b' }, [{ part: 'file:build.sh', change: 'changed' }]],
  ['a file added and one removed, in label order', { 'file:b.patch': 'x' }, { 'file:a.patch': 'y' }, [{ part: 'file:a.patch', change: 'added' }, { part: 'file:b.patch', change: 'removed' }]],
  ['a source added', {}, { 'source:https://h/x.tar.gz': 'c' }, [{ part: 'source:https://h/x.tar.gz', change: 'added' }]],
  ['an option: values shown', { 'option:docs': 'off' }, { 'option:docs': 'on' }, [{ part: 'option:docs', change: 'changed', was: 'off', now: 'on' }]],
  ['a build dependency added: its value', {}, { 'dep:libc6-dev': '2.36-9#aa' }, [{ part: 'dep:libc6-dev', change: 'added', now: '2.36-9#aa' }]],
  ['a valueless part removed', { 'conflicts:foo': '' }, {}, [{ part: 'conflicts:foo', change: 'removed' }]],
];
for (const [name, before, now, want] of diffs) test(`diffParts: ${name}`, () => assert.deepEqual(diffParts(before, now), want));

const words: [PartChange[], string][] = [
  [[{ part: 'file:build.sh', change: 'changed' }], 'build.sh changed'],
  [[{ part: 'file:patches/a.patch', change: 'added' }, { part: 'file:recipe.toml', change: 'changed' }], 'patches/a.patch added, recipe.toml changed'],
  [[{ part: 'source:https://h/x-1.2.tar.gz', change: 'changed' }], 'source https://h/x-1.2.tar.gz has another checksum'],
  [[{ part: 'source:https://h/x-1.3.tar.gz', change: 'added' }, { part: 'source:https://h/x-1.2.tar.gz', change: 'removed' }], 'source https://h/x-1.3.tar.gz added, source https://h/x-1.2.tar.gz removed'],
  [[{ part: 'option:docs', change: 'changed', was: 'on', now: 'off' }], 'option docs on → off'],
  [[{ part: 'option:gui', change: 'added', now: 'on' }], 'option gui added'],
  [[{ part: 'mode', change: 'changed', was: 'any', now: 'full' }], 'build mode any → full'],
  [[{ part: 'options', change: 'changed', was: '{"profiles":[],"nocheck":false}', now: '{"profiles":["nodoc"],"nocheck":true}' }], 'build option nocheck false → true, build option profiles [] → ["nodoc"]'],
  [[{ part: 'options', change: 'changed', was: '{"a":1}', now: '{"a":1,"binnmu":2}' }], 'build option binnmu unset → 2'],
  [[{ part: 'options', change: 'changed', was: 'x', now: 'y' }], 'build options x → y'],
  [[{ part: 'dep:libc6-dev', change: 'changed', was: '2.36-9#aaaa', now: '2.36-10#bbbb' }], 'build dependency libc6-dev 2.36-9 → 2.36-10'],
  [[{ part: 'dep:libc6-dev', change: 'changed', was: '2.36-9#aaaa', now: '2.36-9#bbbb' }], 'build dependency libc6-dev 2.36-9: what it installs with it changed'],
  [[{ part: 'dep:zlib1g-dev', change: 'added', now: '1:1.2.13#cc' }], 'build dependency zlib1g-dev 1:1.2.13 added'],
  [[{ part: 'dep:zlib1g-dev', change: 'removed', was: '1:1.2.13#cc' }], 'build dependency zlib1g-dev 1:1.2.13 removed'],
  [[{ part: 'conflicts:foo (<< 2)', change: 'added' }], 'build conflict foo (<< 2) added'],
  [[{ part: '!libnothere-dev', change: 'removed' }], 'uninstallable build dependency libnothere-dev removed'],
  [[{ part: 'extra-package:libfoo-dev', change: 'added', now: '1.9-1kiln1#aa' }], 'extra package libfoo-dev 1.9-1kiln1 added (--extra-package)'],
  [[{ part: 'extra-package:libfoo-dev', change: 'removed', was: '1.9-1kiln1#aa' }], 'extra package libfoo-dev 1.9-1kiln1 removed (--extra-package)'],
  [[{ part: 'extra-package:libfoo-dev', change: 'changed', was: '1.9-1kiln1#aa', now: '1.9-1kiln2#bb' }], 'extra package libfoo-dev 1.9-1kiln1 → 1.9-1kiln2 (--extra-package)'],
  [[{ part: 'extra-package:libfoo-dev', change: 'changed', was: '1.9#aa', now: '1.9#bb' }], 'extra package libfoo-dev 1.9: the .deb\'s contents changed (--extra-package)'],
  [[1, 2, 3, 4, 5].map((i) => ({ part: `file:f${i}`, change: 'changed' as const })), 'f1 changed, f2 changed, f3 changed, and 2 more'],
];
for (const [changes, want] of words) test(`describeChanges: ${want}`, () => assert.equal(describeChanges(changes), want));

const recipeSpec = {
  name: 'a', recipeFiles: { 'recipe.toml': '0123456789abcdef', 'build.sh': 'fedcba9876543210' },
  optionValues: { docs: false, ssl: true },
  sources: [{ url: 'https://h/a.tar.gz', sha256: 'ab'.repeat(32), dest: '', strip: 0 }, { url: 'git+https://h/a.git', rev: 'cd'.repeat(20), dest: 'a', strip: 0 }],
} as unknown as PackageSpec;

test('inputPartsOf: a recipe: its files, its options, its sources', () => {
  assert.deepEqual(inputPartsOf(recipeSpec, 'amd64'), {
    recipe: { 'file:recipe.toml': '0123456789abcdef', 'file:build.sh': 'fedcba9876543210', 'option:docs': 'off', 'option:ssl': 'on' },
    sources: { 'source:https://h/a.tar.gz': 'ab'.repeat(8), 'source:git+https://h/a.git': 'cd'.repeat(8) },
  });
});

test('inputPartsOf: a Debian source: its files, then per arch its mode, options and chosen build dependencies', () => {
  const spec = {
    name: 'hello', sources: [],
    debian: {
      source: { files: [{ name: 'hello_2.10-3.dsc', sha256: '11'.repeat(32) }, { name: 'hello_2.10.orig.tar.gz', sha256: '22'.repeat(32) }] },
      options: { profiles: [], nocheck: false, mode: 'binary' },
      modeFor: { amd64: 'full', arm64: 'any' },
      chosen: { amd64: ['debhelper=13.11#aaaa', '!libnothere-dev', 'conflicts:foo (<< 2)'], arm64: ['debhelper=13.11#bbbb'] },
    },
  } as unknown as PackageSpec;
  const files = { 'file:hello_2.10-3.dsc': '11'.repeat(8), 'file:hello_2.10.orig.tar.gz': '22'.repeat(8) };
  assert.deepEqual(inputPartsOf(spec, 'amd64'), {
    recipe: { ...files, mode: 'full', options: '{"profiles":[],"nocheck":false}', 'dep:debhelper': '13.11#aaaa', '!libnothere-dev': '', 'conflicts:foo (<< 2)': '' },
    sources: files,
  });
  assert.equal(inputPartsOf(spec, 'arm64').recipe['mode'], 'any');
});

test('withChanges: names the parts of its own kind; unchanged without the earlier parts or when none differ', () => {
  const before = inputPartsOf(recipeSpec, 'amd64');
  const now = { ...before, recipe: { ...before.recipe, 'option:docs': 'on' } };
  assert.deepEqual(withChanges({ kind: 'recipe-changed' }, before, now), { kind: 'recipe-changed', changes: [{ part: 'option:docs', change: 'changed', was: 'off', now: 'on' }] });
  assert.equal(describeReason(withChanges({ kind: 'recipe-changed' }, before, now)), 'recipe-changed: option docs off → on');
  // A source-changed reason compares the sources, which did not change here.
  assert.deepEqual(withChanges({ kind: 'source-changed' }, before, now), { kind: 'source-changed' });
  assert.deepEqual(withChanges({ kind: 'recipe-changed', debian: true }, undefined, now), { kind: 'recipe-changed', debian: true });
  assert.equal(describeReason({ kind: 'source-changed' }), 'source-changed: a source checksum changed');
});

test('a Debian source\'s options part is the key\'s: profiles in any order, --nocheck or the nocheck profile, the run-wide mode: all one', async () => {
  const { keyOptions } = await import('../debian/key-options.ts');
  const a = keyOptions({ profiles: ['nodoc', 'nocheck'], nocheck: false, mode: 'binary' });
  assert.deepEqual(a, keyOptions({ profiles: ['nocheck', 'nodoc'], nocheck: false, mode: 'binary-arch' }));
  assert.deepEqual(a, keyOptions({ profiles: ['nodoc'], nocheck: true, mode: 'binary' }));
  assert.deepEqual(a, { profiles: ['nocheck', 'nodoc'], nocheck: true });
  assert.notDeepEqual(a, keyOptions({ profiles: ['nodoc'], nocheck: false, mode: 'binary' }));
  assert.deepEqual(keyOptions({ profiles: [], nocheck: false, mode: 'binary', binnmu: 2 }), { profiles: [], nocheck: false, binnmu: 2 });
});

test('inputPartsOf: one url named twice (a git repository exported to two dests): a part each, told apart by position and dest', () => {
  const REV_A = '1a'.repeat(20);
  const REV_B = '2b'.repeat(20);
  const spec = (revB: string): PackageSpec => ({
    name: 'a', recipeFiles: {},
    sources: [
      { url: 'git+https://h/r.git', rev: REV_A, dest: 'vendor/a', strip: 0 },
      { url: 'git+https://h/r.git', rev: revB, dest: 'vendor/b', strip: 0 },
      { url: 'https://h/x.tar.gz', sha256: 'ab'.repeat(32), dest: '', strip: 1 },
      { url: 'https://h/x.tar.gz', sha256: 'ab'.repeat(32), dest: '', strip: 0 },
    ],
  }) as unknown as PackageSpec;
  const before = inputPartsOf(spec(REV_B), 'amd64');
  assert.deepEqual(before.sources, {
    'source:git+https://h/r.git (sources[0], dest vendor/a)': REV_A.slice(0, 16),
    'source:git+https://h/r.git (sources[1], dest vendor/b)': REV_B.slice(0, 16),
    'source:https://h/x.tar.gz (sources[2])': 'ab'.repeat(8),
    'source:https://h/x.tar.gz (sources[3])': 'ab'.repeat(8),
  });
  const now = inputPartsOf(spec(REV_A), 'amd64');
  const why = withChanges({ kind: 'source-changed' }, before, now);
  assert.equal(describeReason(why), 'source-changed: source git+https://h/r.git (sources[1], dest vendor/b) has another checksum');
});

test('withChanges: a record from before repeated urls had labels (one source:URL, the last one\'s value) still compares sanely', () => {
  const now = {
    recipe: {},
    sources: { 'source:git+https://h/r.git (sources[0], dest a)': 'aaaa', 'source:git+https://h/r.git (sources[1], dest b)': 'cccc', 'source:https://h/y.tar.gz': 'dddd' },
  };
  // The last source with the url changed (bbbb → cccc): said of it, nothing of the first.
  const old = { recipe: {}, sources: { 'source:git+https://h/r.git': 'bbbb', 'source:https://h/y.tar.gz': 'dddd' } };
  assert.equal(describeReason(withChanges({ kind: 'source-changed' }, old, now)), 'source-changed: source git+https://h/r.git (sources[1], dest b) has another checksum');
  // The last one is as it was: what changed is not known, so no part is named (not "removed" and "added").
  const same = { recipe: {}, sources: { 'source:git+https://h/r.git': 'cccc', 'source:https://h/y.tar.gz': 'dddd' } };
  assert.deepEqual(withChanges({ kind: 'source-changed' }, same, now), { kind: 'source-changed' });
  // A url named once keeps its plain label: old records compare as they always did.
  const moved = { recipe: {}, sources: { ...now.sources, 'source:https://h/y.tar.gz': 'eeee' } };
  assert.equal(describeReason(withChanges({ kind: 'source-changed' }, moved, now)), 'source-changed: source https://h/y.tar.gz has another checksum');
});
