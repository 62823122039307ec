import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  archMatches,
  formatGroup,
  formatRelation,
  formatRelations,
  parseProvides,
  parseRelation,
  parseRelations,
  reduceGroups,
  relationApplies,
} from './relation.ts';
import { isArchOrWildcard, relationArchProblems } from './relation-arch-check.ts';
import type { Relation } from './relation-types.ts';

test('parseRelation reads every part of a relation', () => {
  const cases: readonly (readonly [string, Relation])[] = [
    ['libfoo', { name: 'libfoo' }],
    ['a', { name: 'a' }], // kiln recipes allow one-character names
    ['g++-12', { name: 'g++-12' }],
    ['libstdc++6.0', { name: 'libstdc++6.0' }],
    ['python3:any', { name: 'python3', archQualifier: 'any' }],
    ['libc6:amd64 (>= 2.36)', { name: 'libc6', archQualifier: 'amd64', constraint: { op: '>=', version: '2.36' } }],
    ['foo (<< 1:2.0-1~)', { name: 'foo', constraint: { op: '<<', version: '1:2.0-1~' } }],
    ['foo(=1.0)', { name: 'foo', constraint: { op: '=', version: '1.0' } }],
    ['foo (>> 1)', { name: 'foo', constraint: { op: '>>', version: '1' } }],
    ['foo (<= 1)', { name: 'foo', constraint: { op: '<=', version: '1' } }],
    // Obsolete operators mean <= and >= (as dpkg reads them).
    ['foo (< 1)', { name: 'foo', constraint: { op: '<=', version: '1' } }],
    ['foo (> 1)', { name: 'foo', constraint: { op: '>=', version: '1' } }],
    ['foo [amd64 arm64]', { name: 'foo', archRestriction: { negated: false, arches: ['amd64', 'arm64'] } }],
    ['foo [!hurd-any !kfreebsd-any]', { name: 'foo', archRestriction: { negated: true, arches: ['hurd-any', 'kfreebsd-any'] } }],
    ['foo <!nocheck>', { name: 'foo', profiles: [[{ negated: true, name: 'nocheck' }]] }],
    [
      'foo <!nocheck> <stage1 cross>',
      { name: 'foo', profiles: [[{ negated: true, name: 'nocheck' }], [{ negated: false, name: 'stage1' }, { negated: false, name: 'cross' }]] },
    ],
    [
      'libfoo-dev:native (>= 1.2~) [linux-any] <!stage1>',
      {
        name: 'libfoo-dev',
        archQualifier: 'native',
        constraint: { op: '>=', version: '1.2~' },
        archRestriction: { negated: false, arches: ['linux-any'] },
        profiles: [[{ negated: true, name: 'stage1' }]],
      },
    ],
    // Whitespace and folded-field newlines anywhere between tokens.
    ['\n  foo \t(\n>=\n 1.0 \n)\n [ amd64\n i386 ]\n < !nocheck >\n', {
      name: 'foo',
      constraint: { op: '>=', version: '1.0' },
      archRestriction: { negated: false, arches: ['amd64', 'i386'] },
      profiles: [[{ negated: true, name: 'nocheck' }]],
    }],
    ['foo[amd64]<cross>', { name: 'foo', archRestriction: { negated: false, arches: ['amd64'] }, profiles: [[{ negated: false, name: 'cross' }]] }],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(parseRelation(text), { relation: want }, JSON.stringify(text));
  }
});

test('parseRelation explains what is wrong and quotes the text', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['libfoo (>= )', '"libfoo (>= )": missing version after ">="'],
    ['libfoo (>=\n )', '"libfoo (>= )": missing version after ">="'],
    ['libfoo (1.0)', '"libfoo (1.0)": missing relation operator (one of << <= = >= >>) after "("'],
    ['libfoo (=> 1.0)', '"libfoo (=> 1.0)": unknown relation operator "=>" (use one of << <= = >= >>)'],
    ['libfoo (== 1.0)', '"libfoo (== 1.0)": unknown relation operator "==" (use one of << <= = >= >>)'],
    ['libfoo (>= 1.0', '"libfoo (>= 1.0": missing ")" after version "1.0"'],
    ['libfoo (>= 1.0 2)', '"libfoo (>= 1.0 2)": expected ")" after version "1.0", found "2)"'],
    ['libfoo (>= 1.0_beta)', '"libfoo (>= 1.0_beta)": invalid version "1.0_beta": invalid character "_" in version'],
    ['libfoo (>= a:1)', '"libfoo (>= a:1)": invalid version "a:1": epoch in version is not a number'],
    ['(>= 1.0)', '"(>= 1.0)": expected a package name, found "("'],
    ['LibFoo', '"LibFoo": package name "LibFoo" must be lowercase'],
    ['-foo', '"-foo": package name "-foo" must start with a lowercase letter or digit'],
    ['foo:', '"foo:": missing architecture qualifier after ":"'],
    ['foo:AMD64', '"foo:AMD64": invalid architecture qualifier ":AMD64"'],
    ['foo [amd64', '"foo [amd64": missing "]" after architecture list'],
    ['foo []', '"foo []": empty architecture list "[]"'],
    ['foo [amd64 !i386]', '"foo [amd64 !i386]": architecture list [amd64 !i386] mixes negated and plain names'],
    ['foo [AMD64]', '"foo [AMD64]": invalid architecture name "AMD64" in [AMD64] (did you mean "amd64"?)'],
    ['foo [x86_64]', '"foo [x86_64]": invalid architecture name "x86_64" in [x86_64] (did you mean "amd64"?)'],
    ['foo <nocheck', '"foo <nocheck": missing ">" after build profile list'],
    ['foo <>', '"foo <>": empty build profile list "<>"'],
    ['foo <!No_Check>', '"foo <!No_Check>": invalid build profile "!No_Check" in <!No_Check>'],
    ['foo <cross> [amd64]', '"foo <cross> [amd64]": the architecture list must come before build profiles'],
    ['foo [amd64] (>= 1)', '"foo [amd64] (>= 1)": unexpected "(>= 1)": the version constraint comes once, right after the name'],
    ['foo bar', '"foo bar": unexpected "bar"'],
    ['foo_bar', '"foo_bar": unexpected "_bar"'],
    ['${misc:Depends}', '"${misc:Depends}": expected a package name, found "$"'],
    ['', '"": missing package name'],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(parseRelation(text), { error: want }, JSON.stringify(text));
  }
});

test('parseRelations splits items and alternatives, skipping empty items', () => {
  const field = 'debhelper-compat (= 13),\n libbar (>= 2) | libbaz,\n , pkg-config,\n';
  const { groups, errors } = parseRelations(field);
  assert.deepEqual(errors, []);
  assert.deepEqual(groups, [
    [{ name: 'debhelper-compat', constraint: { op: '=', version: '13' } }],
    [{ name: 'libbar', constraint: { op: '>=', version: '2' } }, { name: 'libbaz' }],
    [{ name: 'pkg-config' }],
  ]);
  assert.deepEqual(parseRelations(''), { groups: [], errors: [] });
  assert.deepEqual(parseRelations(' ,\n, '), { groups: [], errors: [] });
});

test('parseRelations keeps the good relations and reports each bad one', () => {
  const { groups, errors } = parseRelations('good1, libfoo (>= ), a | B | c, x | , (>= 1), good2');
  assert.deepEqual(groups, [[{ name: 'good1' }], [{ name: 'a' }, { name: 'c' }], [{ name: 'x' }], [{ name: 'good2' }]]);
  assert.deepEqual(errors, [
    '"libfoo (>= )": missing version after ">="',
    '"B": package name "B" must be lowercase',
    '"x |": empty alternative (nothing between "|" and its neighbour)',
    '"(>= 1)": expected a package name, found "("',
  ]);
});

test('parseProvides accepts names with an optional (= version) only', () => {
  assert.deepEqual(parseProvides('foo, bar (= 1.0-1),\n baz(=2:3),'), {
    provides: [{ name: 'foo' }, { name: 'bar', version: '1.0-1' }, { name: 'baz', version: '2:3' }],
    errors: [],
  });
  const { provides, errors } = parseProvides('ok, a (>= 1), b | c, d:any, e [amd64], f <cross>, G, h (= )');
  assert.deepEqual(provides, [{ name: 'ok' }]);
  assert.deepEqual(errors, [
    '"a (>= 1)": only "=" is allowed in Provides, not ">="',
    '"b | c": alternatives ("|") are not allowed in Provides',
    '"d:any": architecture qualifier ":any" is not allowed in Provides',
    '"e [amd64]": architecture restrictions are not allowed in Provides',
    '"f <cross>": build profiles are not allowed in Provides',
    '"G": package name "G" must be lowercase',
    '"h (= )": missing version after "="',
  ]);
});

test('formatRelation and formatGroup give canonical text that parses back to the same value', () => {
  const texts: readonly (readonly [string, string])[] = [
    ['libbar(>=2)|libbaz', 'libbar (>= 2) | libbaz'],
    ['foo (> 1)', 'foo (>= 1)'],
    ['foo:any  (  <<  3 )', 'foo:any (<< 3)'],
    ['foo [ !i386\n !armel ] <!nocheck>   <stage1  cross>', 'foo [!i386 !armel] <!nocheck> <stage1 cross>'],
    ['a:native (= 1:2-3) [linux-any] <!cross>', 'a:native (= 1:2-3) [linux-any] <!cross>'],
  ];
  for (const [input, canonical] of texts) {
    const { groups, errors } = parseRelations(input);
    assert.deepEqual(errors, []);
    assert.equal(groups.length, 1);
    assert.equal(formatGroup(groups[0]!), canonical);
    assert.deepEqual(parseRelations(canonical).groups, groups, canonical);
  }
  assert.equal(formatRelation({ name: 'x', constraint: { op: '>>', version: '0' } }), 'x (>> 0)');
  assert.equal(formatRelations(parseRelations('a, b|c ,d (= 1)').groups), 'a, b | c, d (= 1)');
});

test('archMatches implements dpkg wildcards', () => {
  const cases: readonly (readonly [string, string, boolean])[] = [
    ['amd64', 'amd64', true], ['amd64', 'i386', false], ['amd64', 'any', true], ['foo', 'any', true], ['foo', 'foo', true],
    ['amd64', 'linux-any', true], ['riscv64', 'linux-any', true], ['kfreebsd-amd64', 'linux-any', false], ['hurd-i386', 'linux-any', false],
    ['amd64', 'any-amd64', true], ['x32', 'any-amd64', true], ['kfreebsd-amd64', 'any-amd64', true], ['i386', 'any-amd64', false],
    ['armhf', 'any-arm', true], ['armel', 'any-arm', true], ['arm64', 'any-arm', false],
    ['hurd-i386', 'hurd-any', true], ['hurd-amd64', 'hurd-any', true], ['amd64', 'hurd-any', false],
    ['kfreebsd-i386', 'kfreebsd-any', true], ['musl-linux-amd64', 'musl-any-any', true], ['amd64', 'musl-any-any', false],
    ['musl-linux-amd64', 'linux-any', true], ['musl-linux-armhf', 'any-arm', true], ['amd64', 'gnu-any-any', true],
    ['freebsd-amd64', 'bsd-any-any', true], ['armhf', 'eabihf-any-any-any', true], ['armel', 'eabihf-any-any-any', false],
    ['amd64', 'linux-amd64', true], ['unknownarch', 'linux-any', false], ['amd64', 'any-any-any-any', true],
  ];
  for (const [real, alias, want] of cases) assert.equal(archMatches(real, alias), want, `${real} is ${alias}`);
});

const REAL = ['amd64', 'i386', 'arm64', 'armhf', 'armel', 'x32', 'riscv64', 'ppc64el', 's390x', 'mips64el', 'loong64', 'kfreebsd-amd64',
  'hurd-i386', 'hurd-amd64', 'musl-linux-amd64', 'musl-linux-armhf', 'uclibc-linux-armel', 'arm64ilp32', 'powerpcspe', 'freebsd-amd64',
  'darwin-arm64', 'mipsn32el', 'all', 'foo'];
const ALIAS = ['any', 'linux-any', 'any-amd64', 'any-arm', 'any-i386', 'any-mips64el', 'kfreebsd-any', 'hurd-any', 'musl-any-any',
  'gnu-any-any', 'any-any', 'any-any-any-any', 'eabihf-any-any-any', 'abin32-any-any-any', 'armhf', 'amd64', 'arm', 'x32',
  'bsd-any-any', 'any-linux-any', 'musl-linux-any', 'all', 'foo', 'linux-amd64', 'gnu-linux-any', 'darwin-any', 'any-any-any-any-any'];
const hasDpkgPerl = spawnSync('perl', ['-MDpkg::Arch', '-e', '1'], { stdio: 'ignore' }).status === 0;

test('archMatches agrees with dpkg (Dpkg::Arch::debarch_is)', { skip: hasDpkgPerl ? false : 'dpkg-dev perl modules are not installed' }, () => {
  const script = 'use Dpkg::Arch qw(debarch_is); my @a = split / /, $ARGV[1]; ' +
    'for my $r (split / /, $ARGV[0]) { print join(" ", map { debarch_is($r, $_) ? 1 : 0 } @a), "\\n" }';
  const out = execFileSync('perl', ['-e', script, REAL.join(' '), ALIAS.join(' ')], { encoding: 'utf8' }).trim().split('\n');
  REAL.forEach((real, i) => {
    const row = out[i]!.split(' ');
    ALIAS.forEach((alias, k) => assert.equal(archMatches(real, alias), row[k] === '1', `${real} is ${alias}`));
  });
});

test('relationApplies checks arch lists and build-profile formulas', () => {
  const rel = (text: string): Relation => {
    const r = parseRelation(text);
    assert.ok(r.relation, r.error);
    return r.relation;
  };
  const cases: readonly (readonly [string, string, readonly string[], boolean])[] = [
    ['foo', 'amd64', [], true],
    ['foo [amd64 i386]', 'i386', [], true],
    ['foo [amd64 i386]', 'arm64', [], false],
    ['foo [!amd64 !i386]', 'arm64', [], true],
    ['foo [!amd64 !i386]', 'amd64', [], false],
    ['foo [linux-any]', 'riscv64', [], true],
    ['foo [linux-any]', 'hurd-i386', [], false],
    ['foo [!linux-any]', 'hurd-i386', [], true],
    ['foo [any-amd64]', 'x32', [], true],
    ['foo <!nocheck>', 'amd64', [], true],
    ['foo <!nocheck>', 'amd64', ['nocheck'], false],
    ['foo <nocheck>', 'amd64', [], false],
    ['foo <stage1 cross>', 'amd64', ['stage1'], false],
    ['foo <stage1 cross>', 'amd64', ['cross', 'stage1'], true],
    ['foo <!nocheck> <stage1 cross>', 'amd64', ['nocheck'], false],
    ['foo <!nocheck> <stage1 cross>', 'amd64', ['nocheck', 'stage1', 'cross'], true],
    ['foo <stage1 !cross>', 'amd64', ['stage1'], true],
    ['foo <stage1 !cross>', 'amd64', ['stage1', 'cross'], false],
    ['foo [amd64] <!nocheck>', 'amd64', ['nocheck'], false],
    ['foo [amd64] <!nocheck>', 'i386', [], false],
    ['foo [amd64] <!nocheck>', 'amd64', [], true],
  ];
  for (const [text, hostArch, profiles, want] of cases) {
    assert.equal(relationApplies(rel(text), { hostArch, profiles }), want, `${text} on ${hostArch} with <${profiles.join(' ')}>`);
  }
});

test('reduceGroups drops relations that do not apply and groups left empty', () => {
  const { groups } = parseRelations(
    'debhelper-compat (= 13), libfoo [amd64] | libfoo-compat [!amd64], check <!nocheck>, libhurd [hurd-any], libx | liby <cross>',
  );
  const amd64 = reduceGroups(groups, { hostArch: 'amd64', profiles: ['nocheck'] });
  assert.equal(formatRelations(amd64), 'debhelper-compat (= 13), libfoo [amd64], libx');
  const hurd = reduceGroups(groups, { hostArch: 'hurd-i386', profiles: ['cross'] });
  assert.equal(formatRelations(hurd), 'debhelper-compat (= 13), libfoo-compat [!amd64], check <!nocheck>, libhurd [hurd-any], libx | liby <cross>');
  assert.equal(hurd[0], groups[0], 'untouched groups are reused, not copied');
});

// Speed is the bench's business; this guards against pathological (exponential) backtracking,
// which would not finish within the test's timeout.
test('parseRelations handles 10,000 recipe-sized fields, and long garbage without backtracking', { timeout: 30_000 }, () => {
  const field = 'debhelper-compat (= 13), libssl-dev (>= 3.0.0~) [linux-any] <!stage1>, zlib1g-dev | libz-dev, ' +
    'python3:any (>= 3.11), pkgconf [!hurd-any], libfoo-dev (<< 2:1.0-1~) <!nocheck> <stage1 cross>';
  let n = 0;
  for (let k = 0; k < 10000; k++) n += parseRelations(field).groups.length;
  assert.equal(n, 60000);
  const junk = parseRelations(`foo ${'('.repeat(20000)}, ${'['.repeat(20000)}, bar <${'!'.repeat(20000)}`);
  assert.equal(junk.errors.length, 3);
  assert.ok(junk.errors.every((e) => e.length < 300), 'long garbage is clipped in messages');
});

// Build-Depends fields with every relation form, each read by dpkg's own parser (Dpkg::Deps).
const FIELDS = [
  'debhelper-compat (= 13), libfoo-dev (>= 1.2~) | libfoo-compat-dev (<< 2:0), pkgconf (<= 1.8.1-1), bar (>> 0)',
  'libssl-dev [amd64 arm64] | libressl-dev [!amd64 !arm64], libhurd-dev [hurd-any], libudev-dev [linux-any], libkvm-dev [kfreebsd-any]',
  'libx32-dev [any-amd64], libarm-dev [any-arm], libmusl [musl-any-any], gcc-multilib [!x32 !riscv64]',
  'check <!nocheck>, python3-pytest <!nocheck> <!nopython>, gcc-cross <stage1 cross>, doxygen <!nodoc> <stage1>, gettext <!stage1 !stage2>',
  'python3:any (>= 3.11), perl:native, libc6-dev:amd64 [amd64], dh-python:any [linux-any] <!nopython>',
  'a [amd64] <!nocheck> | b [!amd64] <nocheck> | c, d:native (= 1.0-1) [!hurd-any] <cross> <stage1>',
  // Policy separates profile groups by whitespace: dpkg reads `<x><y>` as one odd group, so it is not used here.
  'foo (< 1), bar (> 2), baz(>=3)|qux:any(<<4) [ !i386  !armel ]<!nocheck>  <a b>',
];
const CONTEXTS: readonly (readonly [string, readonly string[]])[] = [
  ['amd64', []], ['amd64', ['nocheck']], ['riscv64', ['nocheck', 'nodoc']], ['arm64', ['stage1']], ['x32', ['stage1', 'cross']],
  ['hurd-i386', ['cross']], ['armhf', ['nopython', 'stage2']], ['kfreebsd-amd64', []], ['musl-linux-amd64', ['stage1', 'stage2']], ['i386', ['a', 'b']],
];

test('parseRelations, formatRelations and reduceGroups agree with dpkg (Dpkg::Deps) on every relation form', { skip: hasDpkgPerl ? false : 'dpkg-dev perl modules are not installed' }, () => {
  // One perl: per input line "arch<TAB>profiles<TAB>field", the field as dpkg prints it, then reduced for the context.
  const script = 'use Dpkg::Deps; $SIG{__WARN__} = sub {}; while (<STDIN>) { chomp; my ($a, $p, $f) = split /\t/; ' +
    'my $d = deps_parse($f, build_dep => 1); my $r = deps_parse($f, build_dep => 1, reduce_restrictions => 1, host_arch => $a, build_profiles => [split / /, $p]); ' +
    'print "$d\t", (defined $r ? "$r" : "UNDEF"), "\n" }';
  const rows = FIELDS.flatMap((f) => CONTEXTS.map(([arch, profiles]) => [arch, profiles, f] as const));
  const out = execFileSync('perl', ['-e', script], { input: rows.map(([a, p, f]) => `${a}\t${p.join(' ')}\t${f}\n`).join(''), encoding: 'utf8' }).split('\n');
  // dpkg strips the restrictions it has applied.
  const bare = (r: Relation): Relation => ({ name: r.name, ...(r.archQualifier === undefined ? {} : { archQualifier: r.archQualifier }), ...(r.constraint === undefined ? {} : { constraint: r.constraint }) });
  rows.forEach(([hostArch, profiles, field], k) => {
    const [dpkgFull, dpkgReduced] = out[k]!.split('\t');
    const { groups, errors } = parseRelations(field);
    assert.deepEqual(errors, [], field);
    assert.equal(formatRelations(groups), dpkgFull, field);
    const reduced = reduceGroups(groups, { hostArch, profiles }).map((g) => g.map(bare));
    assert.equal(formatRelations(reduced), dpkgReduced, `${field} on ${hostArch} <${profiles.join(' ')}>`);
  });
});

test('versioned Provides and :any/:native qualifiers keep their parts through parse and format', () => {
  assert.deepEqual(parseProvides('libfoo-abi-3 (= 3.0-1), foo-api (= 1:2.0~rc1), plain'), {
    provides: [{ name: 'libfoo-abi-3', version: '3.0-1' }, { name: 'foo-api', version: '1:2.0~rc1' }, { name: 'plain' }],
    errors: [],
  });
  assert.deepEqual(parseProvides('x (= 1.0_1)').errors, ['"x (= 1.0_1)": invalid version "1.0_1": invalid character "_" in version']);
  for (const q of ['any', 'native', 'amd64', 'riscv64']) {
    const { groups } = parseRelations(`a:${q} (>= 1) | b:${q}`);
    assert.deepEqual(groups[0]!.map((r) => r.archQualifier), [q, q]);
    assert.equal(formatGroup(groups[0]!), `a:${q} (>= 1) | b:${q}`);
  }
});

test('isArchOrWildcard: arch names and the wildcards dpkg matches an arch with', () => {
  for (const yes of ['amd64', 'riscv64', 'hurd-amd64', 'any', 'linux-any', 'any-arm64', 'kfreebsd-any', 'any-any', 'gnu-linux-any']) assert.equal(isArchOrWildcard(yes), true, yes);
  for (const no of ['nonsense', 'amd65', 'all', 'linux', 'foo-any', 'any-foo', '']) assert.equal(isArchOrWildcard(no), false, no);
});

test('relationArchProblems: unknown names in the arch list, qualifiers that are none', () => {
  const rel = (t: string): Relation => parseRelation(t).relation!;
  assert.deepEqual(relationArchProblems(rel('a [amd64 arm64] <!nocheck>')), []);
  assert.deepEqual(relationArchProblems(rel('a:native')), []);
  assert.deepEqual(relationArchProblems(rel('a:any')), []);
  assert.deepEqual(relationArchProblems(rel('a:arm64')), []);
  assert.equal(relationArchProblems(rel('a [!amd64 !bogus]')).length, 1);
  assert.match(relationArchProblems(rel('a [bogus]'))[0]!, /^"bogus" in the architecture list is not a Debian architecture name or wildcard/);
  assert.match(relationArchProblems(rel('a:foo'))[0]!, /^":foo" is not an architecture qualifier: use :any, :native or an arch name/);
});
