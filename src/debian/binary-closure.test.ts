import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archFits, candidates, chosen, chosenKeys, closure } from './binary-closure.ts';
import { lazyPackages, type BinaryUniverse } from './lazy-index.ts';
import { formatGroup, parseRelation, parseRelations } from './relation.ts';

/** A Packages index from `name version arch [Field: value]…` lines (fields separated by `;`). */
function universe(lines: readonly string[]): BinaryUniverse {
  const stanzas = lines.map((line) => {
    const [head, ...fields] = line.split(';').map((s) => s.trim());
    const [name, version, arch] = head!.split(' ');
    return [
      `Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, ...fields,
      `Filename: pool/${name}_${version}_${arch}.deb`, 'Size: 1', `SHA256: ${'c'.repeat(64)}`,
    ].join('\n');
  });
  return lazyPackages(stanzas.join('\n\n') + '\n', 'test Packages');
}

const roots = (field: string) => {
  const r = parseRelations(field);
  assert.deepEqual(r.errors, []);
  return r.groups;
};

const U = universe([
  'build-essential 12.9 amd64; Depends: gcc, make',
  'gcc 4:12.2.0-3 amd64; Depends: cpp (= 4:12.2.0-3)',
  'cpp 4:12.2.0-3 amd64',
  'make 4.3-4.1 amd64; Pre-Depends: libc6',
  'libc6 2.36-9 amd64; Depends: libgcc-s1',
  'libc6 2.36-9+deb12u4 amd64; Depends: libgcc-s1, libcrypt1',
  'libgcc-s1 12.2.0-14 amd64',
  'libcrypt1 1:4.4.33-2 amd64',
  'libfoo-dev 1.0-1 amd64; Depends: libfoo1 (= 1.0-1)',
  'libfoo-dev 2.0-1 amd64; Depends: libfoo2 (= 2.0-1)',
  'libfoo1 1.0-1 amd64',
  'libfoo2 2.0-1 amd64; Depends: libc6 (>= 2.36)',
  'libalt-dev 1 amd64; Depends: libalt1',
  'libalt1 1 amd64',
  'mawk 1.3.4-1 amd64; Provides: awk',
  'gawk 1:5.2.1-2 amd64; Provides: awk; Depends: libgawk',
  'libgawk 1:5.2.1-2 amd64',
  'widget-a 1 amd64; Provides: widget-api (= 2.0)',
  'widget-b 1 amd64; Provides: widget-api (= 3.0)',
  'widget-c 1 amd64; Provides: widget-api',
  'dh-python 5.2 all; Depends: python3',
  'python3 3.11.2-1 amd64',
  'armonly 1 arm64; Depends: armdep',
  'armdep 1 arm64',
  'docs 1 all; Depends: docdep',
  'docdep 1 all',
  'needs-arm 1 amd64; Depends: armonly',
]);

test('archFits: the build arch and all, nothing else', () => {
  const p = (arch: string) => U.versions(arch === 'arm64' ? 'armonly' : arch === 'all' ? 'docs' : 'python3')[0]!;
  assert.equal(archFits(p('amd64'), 'amd64'), true);
  assert.equal(archFits(p('all'), 'amd64'), true);
  assert.equal(archFits(p('arm64'), 'amd64'), false);
  assert.equal(archFits(p('arm64'), 'arm64'), true);
});

test('closure follows every alternative, every version, providers, Depends and Pre-Depends', () => {
  const cases: readonly (readonly [string, readonly string[], readonly string[]])[] = [
    ['libfoo-dev', [], ['libc6', 'libcrypt1', 'libfoo-dev', 'libfoo1', 'libfoo2', 'libgcc-s1']], // both versions' Depends
    ['libfoo-dev (>= 2)', [], ['libc6', 'libcrypt1', 'libfoo-dev', 'libfoo1', 'libfoo2', 'libgcc-s1']], // the constraint does not prune
    ['nope | libalt-dev', [], ['libalt-dev', 'libalt1']],
    ['libalt-dev | libfoo1', [], ['libalt-dev', 'libalt1', 'libfoo1']], // the second alternative too
    ['awk', [], ['gawk', 'libgawk', 'mawk']], // providers, and their Depends
    ['widget-api (>= 3)', [], ['widget-a', 'widget-b', 'widget-c']],
    ['make', [], ['libc6', 'libcrypt1', 'libgcc-s1', 'make']], // Pre-Depends
    ['dh-python', [], ['dh-python', 'python3']], // arch all is followed
    ['docs', [], ['docdep', 'docs']],
    ['needs-arm', [], ['armonly', 'needs-arm']], // a foreign-arch name is listed, its Depends are not followed
    ['python3', ['build-essential'], ['build-essential', 'cpp', 'gcc', 'libc6', 'libcrypt1', 'libgcc-s1', 'make', 'python3']],
    ['nope, nope2 (>= 1) | alsonope', [], []],
    ['', ['libalt-dev'], ['libalt-dev', 'libalt1']],
  ];
  for (const [field, extra, want] of cases) {
    assert.deepEqual([...closure(roots(field), extra, U, 'amd64')].sort(), want, `${field} + [${extra.join(' ')}]`);
  }
  // On arm64 the arm64 package's Depends are followed, amd64 ones' are not.
  assert.deepEqual([...closure(roots('armonly, libfoo-dev'), [], U, 'arm64')].sort(), ['armdep', 'armonly', 'libfoo-dev']);
});

test('candidates: real packages by version, then providers (versioned Provides only for versioned relations), arch filtered', () => {
  const rel = (t: string) => parseRelation(t).relation!;
  const show = (t: string, arch = 'amd64') => candidates(rel(t), U, arch).map((p) => `${p.package}=${p.version}`);
  assert.deepEqual(show('libc6'), ['libc6=2.36-9+deb12u4', 'libc6=2.36-9']);
  assert.deepEqual(show('libc6 (<< 2.36-9+deb12u1)'), ['libc6=2.36-9']);
  assert.deepEqual(show('libc6 (>> 2.36-9+deb12u4)'), []);
  assert.deepEqual(show('awk'), ['mawk=1.3.4-1', 'gawk=1:5.2.1-2']);
  assert.deepEqual(show('widget-api'), ['widget-a=1', 'widget-b=1', 'widget-c=1']);
  assert.deepEqual(show('widget-api (>= 2.5)'), ['widget-b=1']);
  assert.deepEqual(show('widget-api (= 2.0)'), ['widget-a=1'], 'an unversioned Provides never satisfies a versioned relation');
  assert.deepEqual(show('armonly'), []);
  assert.deepEqual(show('armonly', 'arm64'), ['armonly=1']);
  assert.deepEqual(show('docs', 'arm64'), ['docs=1']);
});

test('chosen: first satisfiable alternative, highest satisfying version, followed through Depends and Pre-Depends', () => {
  const cases: readonly (readonly [string, readonly string[]])[] = [
    ['libfoo-dev', ['libc6=2.36-9+deb12u4', 'libcrypt1=1:4.4.33-2', 'libfoo-dev=2.0-1', 'libfoo2=2.0-1', 'libgcc-s1=12.2.0-14']],
    ['libfoo-dev (<< 2)', ['libfoo-dev=1.0-1', 'libfoo1=1.0-1']], // the highest that satisfies, and only its Depends
    ['libc6 (<= 2.36-9)', ['libc6=2.36-9', 'libgcc-s1=12.2.0-14']],
    ['nope | libalt-dev | libfoo1', ['libalt-dev=1', 'libalt1=1']], // the first alternative with a candidate
    ['libfoo-dev (>= 3) | libalt-dev', ['libalt-dev=1', 'libalt1=1']], // a name that exists but fails the constraint is skipped
    ['make', ['libc6=2.36-9+deb12u4', 'libcrypt1=1:4.4.33-2', 'libgcc-s1=12.2.0-14', 'make=4.3-4.1']], // Pre-Depends
    ['awk', ['mawk=1.3.4-1']], // the first provider
    ['widget-api (>= 3)', ['widget-b=1']],
    ['libc6, libc6 (>= 2.36), libgcc-s1', ['libc6=2.36-9+deb12u4', 'libcrypt1=1:4.4.33-2', 'libgcc-s1=12.2.0-14']], // each once
    ['dh-python', ['dh-python=5.2', 'python3=3.11.2-1']],
    ['nope (>= 1) | alsonope, libalt1', ['!nope (>= 1) | alsonope', 'libalt1=1']],
    ['armonly', ['!armonly']],
    ['needs-arm', ['!armonly', 'needs-arm=1']], // an unsatisfiable dependency deeper down is reported too
    ['widget-api (= 9)', ['!widget-api (= 9)']],
  ];
  for (const [field, want] of cases) assert.deepEqual(chosen(roots(field), U, 'amd64', formatGroup), want, field);
  assert.deepEqual(chosen(roots('armonly'), U, 'arm64', formatGroup), ['armdep=1', 'armonly=1']);
});

test('chosen changes when a new version of a deep dependency appears (it feeds the input key)', () => {
  const before = chosen(roots('libfoo-dev'), U, 'amd64', formatGroup);
  const U2 = universe([
    'libfoo-dev 2.0-1 amd64; Depends: libfoo2 (= 2.0-1)',
    'libfoo2 2.0-1 amd64; Depends: libc6 (>= 2.36)',
    'libc6 2.36-9+deb12u4 amd64; Depends: libgcc-s1, libcrypt1',
    'libgcc-s1 12.2.0-14 amd64',
    'libgcc-s1 12.2.0-14+b1 amd64',
    'libcrypt1 1:4.4.33-2 amd64',
  ]);
  const after = chosen(roots('libfoo-dev'), U2, 'amd64', formatGroup);
  assert.notDeepEqual(after, before);
  assert.ok(after.includes('libgcc-s1=12.2.0-14+b1'));
});

test('chosenKeys: the first pick per relation, tagged with a hash of its whole closure; cycles, misses and deep changes', () => {
  const base = [
    'app-dev 1 amd64; Depends: liba',
    'liba 1 amd64; Depends: libb',
    'libb 1 amd64; Depends: liba, libc (>= 2)', // liba <-> libb: a dependency cycle
    'libc 2 amd64',
    'tool 1 all',
  ];
  const keys = (lines: readonly string[], field: string) => chosenKeys(roots(field), universe(lines), 'amd64', formatGroup);
  const k1 = keys(base, 'app-dev, tool, nothere | alsonot');
  assert.equal(k1.length, 3);
  assert.match(k1[0]!, /^!nothere \| alsonot$/);
  assert.match(k1[1]!, /^app-dev=1#[0-9a-f]{16}$/);
  assert.match(k1[2]!, /^tool=1#[0-9a-f]{16}$/);
  // Deterministic, and the same for a second universe parsed from the same text.
  assert.deepEqual(keys(base, 'app-dev, tool, nothere | alsonot'), k1);
  // A new version deep in the closure (libc 2 -> 3) changes app-dev's tag, not tool's.
  const k2 = keys(base.map((l) => l.replace('libc 2 amd64', 'libc 3 amd64')), 'app-dev, tool, nothere | alsonot');
  assert.notEqual(k2[1], k1[1]);
  assert.equal(k2[2], k1[2]);
  // A dependency that becomes unsatisfiable deep down changes the tag too.
  const k3 = keys(base.map((l) => l.replace('libc 2 amd64', 'libc 1 amd64')), 'app-dev');
  assert.notEqual(k3[0], k1[1]);
});
